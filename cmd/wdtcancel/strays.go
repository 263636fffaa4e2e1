package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// newStraysCmd handles tasks enqueued for a seller no worker serves (a
// producer's typo, a seller removed from the sellers file): they wait for
// nobody, and the worker reports them (/readyz's unknown_sellers,
// wdtcancel_unknown_seller_queues) without turning not ready. An operator
// lists them, moves them to the right seller's queue, or drops them.
func newStraysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "strays",
		Short: "List, move or drop tasks waiting for a seller no worker serves",
		Long: "Tasks enqueued for a seller no running worker serves (a typo in a producer's --seller or\n" +
			"body field \"seller\", or a seller removed from every sellers file) wait for nobody.\n" +
			"`strays ls` lists those queues; `strays move --seller TYPO --to NAME` re-enqueues their\n" +
			"never-attempted tasks for seller NAME (each number validated again, NAME must be announced\n" +
			"unless --allow-unknown-seller) and removes the originals; a task already attempted, or whose\n" +
			"number already has a task for NAME, is kept and named (exit 1). `strays drop --seller TYPO\n" +
			"--yes` deletes them and says how many were attempted (their outcome at WDT unknown; without\n" +
			"--yes it only says so). Active tasks are never moved or dropped: those whose worker is gone\n" +
			"(lease expired) wait for a worker serving the seller again, which recovers them.\n" +
			"A queue a running worker fetches from is refused: those are not strays.",
	}
	cmd.AddCommand(newStraysLsCmd(), newStraysMoveCmd(), newStraysDropCmd())
	return cmd
}

// strayQueue is one queue of a seller no running worker serves, with live
// tasks.
type strayQueue struct {
	Seller    string `json:"seller"`
	Queue     string `json:"queue"`
	Pending   int    `json:"pending"`
	Scheduled int    `json:"scheduled"`
	Retry     int    `json:"retry"`
	Active    int    `json:"active"`
	// ActiveWorkerGone of Active have an expired lease: their worker is
	// gone, and a worker serving the seller again recovers them.
	ActiveWorkerGone int        `json:"active_worker_gone"`
	LeaseExpiredAt   *time.Time `json:"lease_expired_at,omitempty"`
}

// straysConn is the Redis connection of a strays subcommand.
type straysConn struct {
	rf    config.Redis
	queue string
	conn  asynq.RedisConnOpt
	rdb   redis.UniversalClient
	insp  *asynq.Inspector
}

func (s *straysConn) addFlags(cmd *cobra.Command) {
	s.rf.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&s.queue, "queue", tasks.DefaultQueue, "base queue (the seller \"default\"'s; seller NAME's is <queue>:NAME)")
}

func (s *straysConn) open(ctx context.Context) error {
	if err := tasks.ValidateBaseQueue(s.queue); err != nil {
		return usageErr(fmt.Errorf("--queue: %w", err))
	}
	conn, err := s.rf.ConnOpt()
	if err != nil {
		return usageErr(err)
	}
	s.conn = conn
	s.rdb = conn.MakeRedisClient().(redis.UniversalClient)
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.rdb.Close()
		return usageErr(fmt.Errorf("cannot reach Redis at %s: %v: start Redis or point REDIS_URL / --redis-url at it", s.rf.String(), err))
	}
	s.insp = asynq.NewInspectorFromRedisClient(s.rdb)
	return nil
}

func (s *straysConn) close() { s.rdb.Close() }

// list finds the stray queues: a seller's queue with live tasks that no
// running worker fetches from (store.ServedNow), announced or not.
func (s *straysConn) list(ctx context.Context) ([]strayQueue, error) {
	queues, err := s.insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	served, err := store.ServedNow(s.insp)
	if err != nil {
		return nil, err
	}
	var out []strayQueue
	for _, q := range queues {
		seller, ok := tasks.SellerOfQueue(s.queue, q)
		if !ok {
			continue
		}
		st, err := s.stray(ctx, seller, served)
		if err != nil {
			return nil, err
		}
		if st != nil && st.Pending+st.Scheduled+st.Retry+st.Active > 0 {
			out = append(out, *st)
		}
	}
	return out, nil
}

// stray is seller's queue with its counts, nil when a worker serves it.
// Served now means a live worker fetches from the queue (served, from
// store.ServedNow), as for /readyz's unknown_sellers: the day-long
// announcement keeps a seller accepted by producers after its last worker
// is gone, but its tasks then wait for nobody.
func (s *straysConn) stray(ctx context.Context, seller string, served map[string]bool) (*strayQueue, error) {
	q := tasks.QueueFor(s.queue, seller)
	if served[q] {
		return nil, nil
	}
	info, err := s.insp.GetQueueInfo(q)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return &strayQueue{Seller: seller, Queue: q}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read queue %s: %w", q, err)
	}
	st := &strayQueue{Seller: seller, Queue: q, Pending: info.Pending, Scheduled: info.Scheduled + info.Aggregating, Retry: info.Retry, Active: info.Active}
	if err := s.readLeases(ctx, st); err != nil {
		return nil, err
	}
	return st, nil
}

// mustBeStray refuses (exit 2) a seller some worker serves.
func (s *straysConn) mustBeStray(ctx context.Context, seller string) (*strayQueue, error) {
	served, err := store.ServedNow(s.insp)
	if err != nil {
		return nil, err
	}
	st, err := s.stray(ctx, seller, served)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, usageErr(fmt.Errorf("seller %q is served by a running worker (it fetches from %s): its tasks are not strays; see `wdtcancel strays ls`", seller, tasks.QueueFor(s.queue, seller)))
	}
	return st, nil
}

func newStraysLsCmd() *cobra.Command {
	var (
		s      straysConn
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the queues of sellers no worker serves that hold tasks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.open(cmd.Context()); err != nil {
				return err
			}
			defer s.close()
			list, err := s.list(cmd.Context())
			if err != nil {
				return err
			}
			return printStrays(cmd.OutOrStdout(), list, asJSON)
		},
	}
	s.addFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as a JSON array")
	return cmd
}

func printStrays(w io.Writer, list []strayQueue, asJSON bool) error {
	if asJSON {
		if list == nil {
			list = []strayQueue{}
		}
		return json.NewEncoder(w).Encode(list)
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no stray tasks: every queue with tasks has a worker")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SELLER\tQUEUE\tPENDING\tSCHEDULED\tRETRY\tACTIVE")
	for _, q := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", q.Seller, q.Queue, q.Pending, q.Scheduled, q.Retry, q.Active)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i := range list {
		for _, n := range activeNotes(&list[i], "") {
			fmt.Fprintf(w, "%s: %s\n", list[i].Queue, n)
		}
	}
	fmt.Fprintln(w, "move them: wdtcancel strays move --seller NAME --to SELLER; drop them: wdtcancel strays drop --seller NAME --yes (active tasks stay)")
	return nil
}

// waitingTasks are every pending, scheduled and retry task of queue.
func waitingTasks(insp *asynq.Inspector, queue string) ([]*asynq.TaskInfo, error) {
	var all []*asynq.TaskInfo
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){insp.ListPendingTasks, insp.ListScheduledTasks, insp.ListRetryTasks} {
		for page := 1; ; page++ {
			ts, err := list(queue, asynq.PageSize(500), asynq.Page(page))
			if errors.Is(err, asynq.ErrQueueNotFound) {
				return all, nil
			}
			if err != nil {
				return nil, fmt.Errorf("list tasks of %s: %w", queue, err)
			}
			all = append(all, ts...)
			if len(ts) < 500 {
				break
			}
		}
	}
	return all, nil
}

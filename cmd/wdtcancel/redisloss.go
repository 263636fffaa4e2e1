package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// newRedisLossCmd shows and acknowledges what the workers found when Redis
// lost writes (restarted empty or from an older snapshot; see docs/operations.md,
// "When Redis loses writes"). The record keeps readiness red and every
// rejection ambiguous until an operator, having re-enqueued what was lost,
// acknowledges it.
func newRedisLossCmd() *cobra.Command {
	var (
		rf     config.Redis
		queue  string
		seller string
	)
	cmd := &cobra.Command{
		Use:   "redis-loss show | ack --yes",
		Short: "Show or acknowledge a Redis data loss the workers detected",
		Long: "When Redis restarts empty (no persistence) or from a snapshot older than writes it had\n" +
			"acknowledged, the workers notice it, record it in Redis, turn /readyz red and file every\n" +
			"rejection as ambiguous. `show` prints the record; after re-enqueueing the numbers from the\n" +
			"ERP (safe: the number is the task ID) and letting them settle, `ack --yes` acknowledges it.",
		Args: cobra.NoArgs,
	}
	open := func(cmd *cobra.Command) (redis.UniversalClient, string, error) {
		return openSellerQueue(cmd.Context(), &rf, queue, seller)
	}
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the unacknowledged Redis loss of a queue, and the last acknowledged one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rdb, q, err := open(cmd)
			if err != nil {
				return err
			}
			defer rdb.Close()
			return showLoss(cmd.Context(), cmd.OutOrStdout(), rdb, q, asJSON)
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"queue\", \"loss\", \"last_acknowledged\"}")
	var yes bool
	ack := &cobra.Command{
		Use:   "ack --yes",
		Short: "Acknowledge the Redis loss of a queue: readiness turns green, rejections are filed clean again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rdb, q, err := open(cmd)
			if err != nil {
				return err
			}
			defer rdb.Close()
			if !yes {
				if err := confirm(cmd, "acknowledge the Redis loss of queue "+q+" (re-enqueue what was lost first)"); err != nil {
					return err
				}
			}
			l, err := store.AckLoss(cmd.Context(), rdb, q, time.Now())
			if errors.Is(err, store.ErrNoLoss) {
				fmt.Fprintf(cmd.OutOrStdout(), "no unacknowledged Redis loss recorded for queue %s: nothing to acknowledge\n", q)
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "acknowledged the Redis loss of queue %s detected %s (%s, %d detection(s)); readiness turns green "+
				"within a second; orders requested before it still have rejections filed ambiguous\n",
				q, l.DetectedAt.UTC().Format(time.RFC3339), l.Kind, l.Detections)
			return nil
		},
	}
	ack.Flags().BoolVar(&yes, "yes", false, "acknowledge without asking (required when stdin is not a terminal)")
	for _, c := range []*cobra.Command{show, ack} {
		rf.AddFlags(c.Flags())
		c.Flags().StringVar(&queue, "queue", tasks.DefaultQueue, "base queue (the seller \"default\"'s; seller NAME's is <queue>:NAME)")
		addSellerFlag(c.Flags(), &seller, "seller whose queue's loss to show or acknowledge")
		cmd.AddCommand(c)
	}
	return cmd
}

func showLoss(ctx context.Context, w io.Writer, rdb redis.UniversalClient, q string, asJSON bool) error {
	loss, err := store.ReadLoss(ctx, rdb, q)
	if err != nil {
		return err
	}
	acked, err := store.ReadAckedLoss(ctx, rdb, q)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSONOut(w, struct {
			Queue            string      `json:"queue"`
			Loss             *store.Loss `json:"loss"`
			LastAcknowledged *store.Loss `json:"last_acknowledged"`
		}{q, loss, acked})
	}
	if loss == nil {
		fmt.Fprintf(w, "queue %s: no unacknowledged Redis loss recorded\n", q)
	} else {
		fmt.Fprintf(w, "queue %s: REDIS LOST WRITES\n", q)
		printLoss(w, loss)
		fmt.Fprintf(w, "  what to do:      re-enqueue the numbers from the ERP (safe: the number is the task ID; a number\n"+
			"                  still queued is refused as a duplicate), check the ambiguous dead letters in WDT,\n"+
			"                  then `wdtcancel redis-loss ack --yes`; make Redis durable (appendonly yes)\n")
	}
	if acked != nil {
		fmt.Fprintf(w, "last acknowledged loss:\n")
		printLoss(w, acked)
	}
	return nil
}

func printLoss(w io.Writer, l *store.Loss) {
	what := map[string]string{store.LossEmpty: "came back empty", store.LossOlderSnapshot: "restarted from an older snapshot"}[l.Kind]
	if what == "" {
		what = l.Kind
	}
	fmt.Fprintf(w, "  kind:            %s (%s)\n", l.Kind, what)
	fmt.Fprintf(w, "  detected:        %s", l.DetectedAt.UTC().Format(time.RFC3339))
	if l.Detections > 1 {
		fmt.Fprintf(w, " (%d detections, first %s)", l.Detections, l.FirstDetectedAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	if l.DetectedBy != "" {
		fmt.Fprintf(w, "  detected by:     %s\n", l.DetectedBy)
	}
	fmt.Fprintf(w, "  epoch:           last seen %d, found %d\n", l.LastSeenEpoch, l.FoundEpoch)
	if l.OldRunID != "" || l.NewRunID != "" {
		fmt.Fprintf(w, "  redis run_id:    %s -> %s\n", l.OldRunID, l.NewRunID)
	}
	if l.AckedAt != nil {
		fmt.Fprintf(w, "  acknowledged:    %s\n", l.AckedAt.UTC().Format(time.RFC3339))
	}
}

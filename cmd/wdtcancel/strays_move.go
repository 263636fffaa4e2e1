package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

func newStraysMoveCmd() *cobra.Command {
	var (
		s                                    straysConn
		from, to                             string
		allowUnknown, allowVolat, allowEvict bool
	)
	cmd := &cobra.Command{
		Use:   "move --seller NAME --to SELLER",
		Short: "Re-enqueue a stray seller's tasks for another seller and remove the originals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkStraysFlags(from, to); err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := s.open(ctx); err != nil {
				return err
			}
			defer s.close()
			st, err := s.mustBeStray(ctx, from)
			if err != nil {
				return err
			}
			// The target is an ordinary producer: durability, eviction and
			// the seller's announcement are checked as `enqueue` does.
			opts := append(allowOptions(allowVolat, allowUnknown), enqueue.WithWaitReplicas(enqueue.AutoReplicas, 0), enqueue.WithQueue(s.queue), enqueue.WithSeller(to))
			c, err := openProducer(ctx, &s.rf, opts...)
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := (redisChecks{allowEvict: allowEvict, allowVolatile: allowVolat}).check(ctx, c); err != nil {
				return err
			}
			return moveStrays(ctx, cmd, &s, st, c)
		},
	}
	s.addFlags(cmd)
	cmd.Flags().StringVar(&from, "seller", "", "the stray seller whose tasks to move, as strays ls names it")
	cmd.Flags().StringVar(&to, "to", "", "the seller to re-enqueue them for: announced by a worker unless --allow-unknown-seller")
	config.AddAllowUnknownSellerFlag(cmd.Flags(), &allowUnknown)
	config.AddAllowVolatileFlag(cmd.Flags(), &allowVolat)
	config.AddAllowEvictionFlag(cmd.Flags(), &allowEvict)
	return cmd
}

// checkStraysFlags refuses a missing or invalid --seller (and --to, when
// moving) before any connection.
func checkStraysFlags(from, to string) error {
	if from == "" {
		return usageErr(errors.New("--seller: name the stray seller (see `wdtcancel strays ls`)"))
	}
	if err := checkSellerFlag(from); err != nil {
		return err
	}
	if to == "-" { // drop: no target
		return nil
	}
	if to == "" {
		return usageErr(errors.New("--to: name the seller to move the tasks to"))
	}
	if to == from {
		return usageErr(fmt.Errorf("--to %s is --seller itself: name another seller", to))
	}
	return checkSellerFlag(to)
}

// moveStrays re-enqueues each waiting task of st for c's seller (the number
// validated again, its source kept) and deletes the original once the new
// task is there. A task that cannot be moved safely stays where it is and
// is named with why and what to do; the exit status is then 1.
func moveStrays(ctx context.Context, cmd *cobra.Command, s *straysConn, st *strayQueue, c *enqueue.Client) error {
	list, err := waitingTasks(s.insp, st.Queue)
	if err != nil {
		return err
	}
	mem := store.NewOutcomeMemory(s.rdb, st.Queue)
	defer mem.Close()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	moved, kept := 0, 0
	for _, t := range list {
		if err := moveOne(ctx, s.insp, mem, st, t, c); err != nil {
			fmt.Fprintf(errOut, "kept %s\n", err)
			kept++
			continue
		}
		moved++
	}
	fmt.Fprintf(out, "moved %d task(s) from %s to %s; kept %d", moved, st.Queue, c.Queue(), kept)
	for _, n := range activeNotes(st, "moved") {
		fmt.Fprintf(out, "; %s", n)
	}
	fmt.Fprintln(out)
	if kept > 0 {
		return silentExit(exitPartial)
	}
	return nil
}

// moveOne re-enqueues one task and deletes the original. Its error, after
// "kept ", names the number and says why it stayed and what to do.
func moveOne(ctx context.Context, insp *asynq.Inspector, mem *store.OutcomeMemory, st *strayQueue, t *asynq.TaskInfo, c *enqueue.Client) error {
	p, err := tasks.DecodePayload(t.Payload)
	if err != nil {
		return fmt.Errorf("task %s of %s: its payload cannot be read, move it by hand or drop it: %w", t.ID, st.Queue, err)
	}
	if why, err := attempted(ctx, mem, st, t, p.PreStockinNo); err != nil || why != "" {
		if err == nil {
			err = errors.New(why)
		}
		return fmt.Errorf("%s: %w", p.PreStockinNo, err)
	}
	if p.Source != "" {
		if c, err = c.ForSource(p.Source); err != nil {
			return fmt.Errorf("%s: %w", p.PreStockinNo, err)
		}
	}
	res, err := c.Cancel(ctx, p.PreStockinNo)
	if err != nil {
		return fmt.Errorf("%s: not re-enqueued (%s): %w", p.PreStockinNo, res.Result, err)
	}
	if res.Result != enqueue.Enqueued {
		// Deleting the stray would lose it: the task already there (or the
		// dead-letter record) is another one, which may end differently.
		return fmt.Errorf("%s: %s state=%s in %s: the number already has a task or a dead-letter record for seller %s, so the stray was not moved; see `wdtcancel status %s --seller %s`, then drop the stray with `wdtcancel strays drop --seller %s --yes` if that covers it",
			p.PreStockinNo, res.Result, res.State, c.Queue(), c.Seller(), p.PreStockinNo, c.Seller(), st.Seller)
	}
	if err := insp.DeleteTask(st.Queue, t.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return fmt.Errorf("%s: re-enqueued for seller %s but the original could not be deleted: %w; drop it with `wdtcancel strays drop --seller %s --yes`", p.PreStockinNo, c.Seller(), err, st.Seller)
	}
	return nil
}

// attempted says why a stray must stay in its queue, "" when it may move: a
// task that was ever attempted, or whose number has outcome memory there
// (store.Marks), may have reached WDT, and that memory is keyed by this
// queue. Moved, the number would be called again without it, and WDT's
// "nothing to cancel" (status 100) would be filed as a clean rejection of
// an order the first call did cancel.
func attempted(ctx context.Context, mem *store.OutcomeMemory, st *strayQueue, t *asynq.TaskInfo, no string) (string, error) {
	marks, err := mem.Marks(ctx, no)
	if err != nil {
		return "", fmt.Errorf("not moved: %w; run move again once Redis answers", err)
	}
	var what string
	switch attemptOf(marks, t.Retried, t.LastErr) {
	case "confirmed":
		what = "WDT already confirmed its cancellation"
	case "sent", "unknown":
		what = "a call to WDT for it was sent and its outcome is unknown"
	case "retried":
		what = fmt.Sprintf("it was attempted already (retried %d, last error: %s)", t.Retried, t.LastErr)
	default:
		return "", nil
	}
	return fmt.Sprintf("%s: moving it would lose its outcome memory, which stays with %s: serve seller %s again (add it to a sellers file and restart a worker) so it finishes there, or check the order in WDT and drop it with `wdtcancel strays drop --seller %s --yes` (drop deletes every waiting task of the queue: run it without --yes first to see how many were attempted)",
		what, st.Queue, st.Seller, st.Seller), nil
}

func newStraysDropCmd() *cobra.Command {
	var (
		s    straysConn
		from string
		yes  bool
	)
	cmd := &cobra.Command{
		Use:   "drop --seller NAME --yes",
		Short: "Delete a stray seller's waiting tasks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkStraysFlags(from, "-"); err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := s.open(ctx); err != nil {
				return err
			}
			defer s.close()
			st, err := s.mustBeStray(ctx, from)
			if err != nil {
				return err
			}
			counts, err := s.countAttempted(ctx, st)
			if err != nil {
				return err
			}
			if !yes {
				return usageErr(errors.New(dropPreview(st, counts)))
			}
			return dropStrays(cmd, s.insp, st, counts)
		},
	}
	s.addFlags(cmd)
	cmd.Flags().StringVar(&from, "seller", "", "the stray seller whose tasks to delete, as strays ls names it")
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete (without it, drop says what it would delete)")
	return cmd
}

// dropPreview is what drop without --yes says: what it would delete, how
// many of those were attempted, and what happens to the active tasks.
func dropPreview(st *strayQueue, counts attemptCounts) string {
	n := st.Pending + st.Scheduled + st.Retry
	msg := fmt.Sprintf("would delete %d waiting task(s) of %s (pending %d, scheduled %d, retry %d)", n, st.Queue, st.Pending, st.Scheduled, st.Retry)
	if w := dropWarning(counts, st, false); w != "" {
		msg += "; " + w
	}
	for _, note := range activeNotes(st, "dropped") {
		msg += "; " + note
	}
	return msg + "; nothing was deleted: add --yes to delete them"
}

// dropStrays deletes every pending, scheduled and retry task of st; counts
// (read before) say how many of them were attempted.
func dropStrays(cmd *cobra.Command, insp *asynq.Inspector, st *strayQueue, counts attemptCounts) error {
	total := 0
	for _, del := range []func(string) (int, error){insp.DeleteAllPendingTasks, insp.DeleteAllScheduledTasks, insp.DeleteAllRetryTasks} {
		n, err := del(st.Queue)
		total += n
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			return fmt.Errorf("deleted %d task(s) of %s, then: %w; run drop again", total, st.Queue, err)
		}
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "dropped %d task(s) of %s\n", total, st.Queue)
	if w := dropWarning(counts, st, true); w != "" {
		fmt.Fprintln(out, w)
	}
	for _, note := range activeNotes(st, "dropped") {
		fmt.Fprintln(out, note)
	}
	return nil
}

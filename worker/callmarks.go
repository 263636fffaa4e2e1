package worker

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// The sent marks of a lane's calls, group-committed (groupcommit.go): one
// script writes the marks of the calls that became ready together and bumps
// the epoch marker once after them (store.OutcomeMemory.BeginCalls), and
// one replica wait covers them all.

// DefaultGroupCommitMax caps a batch of sent marks (Handler.groupMax).
// Without a linger (the default) a lone call is flushed at once and pays
// nothing; a batch holds the calls that became ready during the round
// trip of the batch before, so at quota (calls spread over the minute)
// batches are rare and at full speed the concurrent calls of a lane fill
// them.
const DefaultGroupCommitMax = 16

// beginCall writes no's sent mark, bumps the epoch marker after it and
// waits for the replicas, together with the concurrent calls of the lane.
// An error means the call must not be sent (the mark, if written, was
// removed, or errs on ambiguous).
func (h *Handler) beginCall(ctx context.Context, no string) error {
	h.marksOnce.Do(func() {
		// groupMax 1 turns batching off: each mark alone, at once.
		h.marks = newGroupCommit(cmp.Or(h.groupMax, DefaultGroupCommitMax), h.groupLinger, h.flushMarks)
	})
	_, err := h.marks.do(ctx, no)
	return err
}

// flushMarks is one batch of sent marks: the script, then the replica wait
// for all of them; a wait that fails removes every mark of the batch, and
// none of its calls is sent.
func (h *Handler) flushMarks(ctx context.Context, nos []string) ([]struct{}, error) {
	before := h.loss.snapshot()
	_, e, err := h.memory.BeginCalls(ctx, nos, time.Now())
	if err != nil {
		return nil, err
	}
	witnesses := make([]store.Witness, len(nos))
	for i, no := range nos {
		witnesses[i] = h.memory.SentWitness(no)
	}
	serr := h.durable.Sync(ctx, witnesses...)
	// A bump the replicas did not acknowledge is compared, not kept.
	h.loss.afterCallBump(ctx, before, e, serr == nil)
	if serr != nil {
		// A failover could lose the marks: nothing is sent, the marks
		// go, and the tasks come back soon without using a retry.
		for _, no := range nos {
			h.memory.Answered(ctx, no)
		}
		return nil, fmt.Errorf("sent mark not durable, call not sent: %w", serr)
	}
	return make([]struct{}, len(nos)), nil
}

// closeMarks flushes the marks and results being batched and stops the
// group commits
// (worker shutdown, after the handlers ended).
func (h *Handler) closeMarks() {
	h.marksOnce.Do(func() {})
	if h.marks != nil {
		h.marks.close()
	}
	h.resultsOnce.Do(func() {})
	if h.results != nil {
		h.results.close()
	}
}

// The results of a lane's confirmed calls, group-committed the same way:
// one script writes the results, drops the marks and appends the events of
// the confirmations that became ready together
// (store.OutcomeMemory.ConfirmInTasksFinal), and one replica wait covers
// them all. asynq completes none of these tasks before its member
// returned, so the result is recorded before asynq's completion, as
// before.

// resultWrite is what one member of a batch of results learned.
type resultWrite struct {
	store.Confirmed
	// durableErr: the result was written, but the replica wait failed.
	durableErr error
}

// confirmInTask writes the success result into asynq's task hash, drops
// the call's marks and writes the cancelled event, in one script shared
// with the lane's concurrent confirmations, then waits for the replicas.
// held false: asynq no longer holds the task, nothing was written.
func (h *Handler) confirmInTask(ctx context.Context, at *attempt) (bool, error) {
	h.resultsOnce.Do(func() {
		h.results = newGroupCommit(cmp.Or(h.groupMax, DefaultGroupCommitMax), h.groupLinger, h.flushResults)
	})
	w, err := h.results.do(ctx, store.Confirmation{TaskID: at.id, Result: cancelledResult(at), Event: h.cancelledEvent(at)})
	if err != nil {
		return false, err
	}
	h.eventWritten(w.Emitted, wdt.Cancelled)
	if w.Held && w.durableErr != nil {
		// A failover that loses the result loses the marks' removal with
		// it (Redis replicates the script whole): the sent mark, made
		// durable before the call, is there, and a rerun files a
		// rejection as ambiguous, never as clean.
		return true, fmt.Errorf("confirmation not durable, sent mark kept on the replicas: %w", w.durableErr)
	}
	return w.Held, nil
}

// flushResults is one batch of results: the script, then one replica wait
// for the results written.
func (h *Handler) flushResults(ctx context.Context, cs []store.Confirmation) ([]resultWrite, error) {
	done, err := h.memory.ConfirmInTasksFinal(ctx, cs)
	if err != nil {
		return nil, err
	}
	var witnesses []store.Witness
	for i, c := range cs {
		if done[i].Held {
			witnesses = append(witnesses, h.memory.ResultWitness(c.TaskID))
		}
	}
	var serr error
	if len(witnesses) > 0 {
		serr = h.durable.Sync(ctx, witnesses...)
	}
	out := make([]resultWrite, len(cs))
	for i := range cs {
		out[i] = resultWrite{Confirmed: done[i], durableErr: serr}
	}
	return out, nil
}

package worker

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/store"
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

// closeMarks flushes the marks being batched and stops the group commit
// (worker shutdown, after the handlers ended).
func (h *Handler) closeMarks() {
	h.marksOnce.Do(func() {})
	if h.marks != nil {
		h.marks.close()
	}
}

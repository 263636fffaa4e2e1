package store

import (
	"context"
	"fmt"
)

// Marks are the outcome-memory marks one number has in a queue.
type Marks struct {
	Sent      bool // a call was being sent and has no answer recorded yet
	Unknown   bool // an earlier call's outcome is unknown
	Confirmed bool // WDT confirmed the cancellation
}

// Any says whether the number has any mark: some call for it may have
// reached WDT, so a task for it elsewhere would not know that.
func (k Marks) Any() bool { return k.Sent || k.Unknown || k.Confirmed }

// Marks reads no's marks. `wdtcancel strays move` keeps a task with any
// mark where it is: the marks are keyed by this queue, and a task moved to
// another queue would lose them and could file a cancelled order as a clean
// rejection. The three keys share the queue's hash tag (one MGET).
func (m *OutcomeMemory) Marks(ctx context.Context, no string) (Marks, error) {
	vals, err := m.rdb.MGet(ctx, m.sentKey(no), m.unknownKey(no), m.confirmedKey(no)).Result()
	if err != nil {
		return Marks{}, fmt.Errorf("read outcome memory of %s in %s: %w", no, m.queue, err)
	}
	return Marks{Sent: vals[0] != nil, Unknown: vals[1] != nil, Confirmed: vals[2] != nil}, nil
}

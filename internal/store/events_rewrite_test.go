package store

import (
	"context"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/tasks/outcome"
)

// TestOutboxSameEventWrittenAgain: a write whose answer was lost (a Redis
// stall) is written again with the same event ID (worker retryConfirm);
// the stream holds the event once and the second write reports it as
// written, so the worker's wdtcancel_events_written_total counts it (it ran
// 3-4 below the done count in an outside tester's run with stalls). Another
// event ID is still refused.
func TestOutboxSameEventWrittenAgain(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	for i, tt := range []struct {
		name  string
		write func(q, no string, ev Event) (bool, error)
	}{
		{"result in the task", func(q, no string, ev Event) (bool, error) {
			_, emitted, err := NewOutcomeMemory(rdb, q).ConfirmInTaskFinal(ctx, no, []byte(`{"category":"cancelled"}`), ev)
			return emitted, err
		}},
		{"confirmed mark", func(q, no string, ev Event) (bool, error) {
			return NewOutcomeMemory(rdb, q).CancelledFinal(ctx, no, no, ev)
		}},
		{"dead letter", func(q, no string, ev Event) (bool, error) {
			return NewDLQ(rdb, q).PutFinal(ctx, Record{PreStockinNo: no, Category: outcome.Rejected, Ambiguous: true}, no, ev)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, no := "rw"+string(rune('a'+i)), "N1"
			rdb.HSet(ctx, asynqTaskKey(q, no), "msg", "x", "state", "active")
			ev := Event{EventID: NewEventID(), Type: EventType, PreStockinNo: no, Outcome: "cancelled", FinalAt: time.Now()}
			other := ev
			other.EventID = NewEventID()
			for k, w := range []struct {
				ev   Event
				want bool
			}{{ev, true}, {ev, true}, {other, false}} {
				emitted, err := tt.write(q, no, w.ev)
				if err != nil || emitted != w.want {
					t.Fatalf("write %d: emitted %v, %v; want %v", k+1, emitted, err, w.want)
				}
			}
			got, err := NewEvents(rdb, q).Range(ctx, "-", 100)
			if err != nil || len(got) != 1 || got[0].Event.EventID != ev.EventID {
				t.Fatalf("stream %+v, %v; want the one event %s", got, err, ev.EventID)
			}
		})
	}
}

package worker

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// TestBusyQueueForwardHeld: the activity hook answers asynq's forward of
// an open queue "nothing moved" without Redis while the queue's dequeues
// find tasks (its forwarded tasks would wait behind that backlog), but
// lets every set through at least every forwardHoldRounds intervals, and
// at once when the queue's last dequeue found it empty or none found a
// task within the hold (forwardHoldRounds intervals: a seller at a low rate
// is fetched every few seconds and still busy).
func TestBusyQueueForwardHeld(t *testing.T) {
	t.Parallel()
	const every = time.Second
	q := "wdt-cancel:a"
	forward := func(set string) *redis.Cmd {
		return redis.NewCmd(context.Background(), "evalsha", "sha", 2, "asynq:{"+q+"}:"+set, "asynq:{"+q+"}:pending", 1, "asynq:{"+q+"}:t:")
	}
	tests := []struct {
		name                   string
		fetchedAgo, emptiedAgo time.Duration // < 0: never
		forwardedAgo           time.Duration // < 0: never
		held                   bool
	}{
		{"busy, forwarded just now: held", 0, -1, 0, true},
		{"busy, forwarded almost the bound ago: held", 0, -1, forwardHoldRounds*every - 100*time.Millisecond, true},
		{"busy, forwarded the bound ago: through", 0, -1, forwardHoldRounds * every, false},
		{"busy, never forwarded: through", 0, -1, -1, false},
		{"a task fetched a few intervals ago, at a low rate: held", 3 * every, -1, 0, true},
		{"no task fetched within the hold: through", forwardHoldRounds * every, -1, 0, false},
		{"last dequeue found it empty: through", 100 * time.Millisecond, 0, 0, false},
		{"nothing ever fetched: through", -1, -1, 0, false},
	}
	for _, tt := range tests {
		for _, set := range []string{"scheduled", "retry"} {
			t.Run(tt.name+", "+set, func(t *testing.T) {
				a := newActivity(nil, []string{q}, ActivityOptions{}, zap.NewNop())
				a.forwardEvery = every
				a.openNow(context.Background(), q)
				qa := a.byQ[q]
				now := time.Now()
				at := func(ago time.Duration) int64 {
					if ago < 0 {
						return 0
					}
					return now.Add(-ago).UnixNano()
				}
				qa.fetchedAt.Store(at(tt.fetchedAgo))
				qa.emptyAt.Store(at(tt.emptiedAgo))
				qa.forwarded.of("asynq:{" + q + "}:" + set).Store(at(tt.forwardedAgo))
				cmd := forward(set)
				if kind, got := classify(cmd); kind != pollForward || got != q {
					t.Fatalf("the test's forward is classified %v %q", kind, got)
				}
				if got := a.answer(cmd); got != tt.held {
					t.Fatalf("forward held %v, want %v", got, tt.held)
				}
				if tt.held {
					if v, err := cmd.Int64(); err != nil || v != 0 {
						t.Fatalf("held forward answered %v, %v; want 0 (nothing moved)", v, err)
					}
				}
			})
		}
	}
	// A closed queue's forward is answered as before, whatever its state.
	a := newActivity(nil, []string{q}, ActivityOptions{}, zap.NewNop())
	if !a.answer(forward("retry")) {
		t.Fatal("a closed queue's forward went to Redis")
	}
}

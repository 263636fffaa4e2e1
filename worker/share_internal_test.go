package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// TestShareGate: how many tasks of one seller the gate lets in at once,
// with and without another seller's tasks waiting.
func TestShareGate(t *testing.T) {
	tests := []struct {
		name          string
		concurrency   int
		share         float64
		othersWaiting bool
		want          int // places granted before the first refusal
	}{
		{"others wait: the share", 10, 0.5, true, 5},
		{"alone: every worker but one", 10, 0.5, false, 9},
		{"others wait, share rounds up", 4, 0.3, true, 2},
		{"alone, small pool", 4, 0.5, false, 3},
		{"alone, share already all but one", 4, 0.75, false, 3},
		{"two workers, alone", 2, 0.5, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newShareGate(tt.concurrency, tt.share, func() bool { return tt.othersWaiting })
			got := 0
			for g.enter() {
				got++
				if got > tt.concurrency {
					t.Fatal("the gate never refused")
				}
			}
			if got != tt.want {
				t.Fatalf("granted %d, want %d", got, tt.want)
			}
			g.leave()
			if !g.enter() {
				t.Fatal("a place given back was not granted again")
			}
		})
	}
	if g := newShareGate(4, 1, nil); g != nil {
		t.Fatal("a share of 1 needs no gate")
	}
}

// TestShareGateWaitsInsteadOfBouncing: a task that finds its seller at the
// bound while no one else waits keeps its worker until a place frees (going
// back to the queue would send it round asynq's once-a-second forwarder);
// it gives its worker up as soon as another seller has tasks waiting.
func TestShareGateWaitsInsteadOfBouncing(t *testing.T) {
	var others atomic.Bool
	g := newShareGate(2, 0.5, others.Load) // alone: 1 place
	if !g.enter() {
		t.Fatal("first place refused")
	}
	entered := make(chan bool)
	go func() { entered <- g.enterOrWait(context.Background(), time.Minute) }()
	g.leave() // the place frees: the waiting task takes it
	if !<-entered {
		t.Fatal("the waiting task did not take the freed place")
	}
	go func() { entered <- g.enterOrWait(context.Background(), time.Minute) }()
	others.Store(true) // another seller's tasks arrive: give the worker up
	if <-entered {
		t.Fatal("the task kept waiting although another seller has tasks")
	}
}

// TestBacklogAsksTheActivityTracker: a worker of several sellers answers
// the share gate's "do others wait" from its activity tracker, without
// reading Redis: a queue waits while it is open and its last dequeue found
// a task; a closed queue, or one whose last dequeue came back empty, does
// not.
func TestBacklogAsksTheActivityTracker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redisClient(t)
	var reads atomic.Int64
	rdb.AddHook(readCounter{&reads})
	queues := []string{"wdt-cancel:a", "wdt-cancel:b"}
	act := newActivity(rdb, queues, ActivityOptions{}, zap.NewNop())
	b := newBacklog(rdb, queues)
	b.active, b.waiting = act.isOpen, act.mayHavePending
	b.start()
	defer b.stop()
	aAsks := b.othersWaiting("wdt-cancel:a")
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"b closed", func() {}, false},
		{"b opened (the index says it has work)", func() { act.openNow(ctx, "wdt-cancel:b") }, true},
		{"b's dequeue found a task", func() { act.dequeued("wdt-cancel:b", nil) }, true},
		{"b's dequeue came back empty", func() { act.dequeued("wdt-cancel:b", redis.Nil) }, false},
		{"b's next dequeue found a task", func() { act.dequeued("wdt-cancel:b", nil) }, true},
	}
	for _, s := range steps {
		s.do()
		if got := aAsks(); got != s.want {
			t.Fatalf("%s: others waiting %v, want %v", s.name, got, s.want)
		}
	}
	if n := reads.Load(); n != 0 {
		t.Fatalf("the backlog sent %d commands to Redis; the tracker knows without them", n)
	}
}

// readCounter counts every command a client sends.
type readCounter struct{ n *atomic.Int64 }

func (c readCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c readCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c readCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

package worker

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/pause"
	"github.com/wdtcancel/wdtcancel/internal/store"
)

// shareGate bounds how many tasks of one seller run at once in this
// process, ceil(concurrency × share), while another seller has tasks
// waiting. asynq picks queues at random, so a slow seller's tasks would
// otherwise end up holding every worker while they wait on its endpoint; a
// task over the share is put back for a moment without using a retry
// (Handler.overShare). The gate is work-conserving: when no other seller has
// a task waiting, a seller may use every worker but one (a bound that held
// then only sent its tasks round asynq's retry set: a seller alone ran 23
// times slower than beside others, fault scenario 14). The one kept free is
// for the next seller whose tasks arrive: a slow seller that took every
// worker while alone would make it wait a whole call of the slow endpoint.
type shareGate struct {
	limit int64 // while others wait
	alone int64 // while no one else waits: concurrency - 1
	busy  atomic.Int64
	// othersWaiting reports whether another seller has pending tasks.
	othersWaiting func() bool
}

// newShareGate returns nil (no bound) when the share allows the whole
// concurrency.
func newShareGate(concurrency int, share float64, othersWaiting func() bool) *shareGate {
	limit := shareLimit(concurrency, share)
	if limit >= concurrency {
		return nil
	}
	return &shareGate{limit: int64(limit), alone: int64(max(limit, concurrency-1)), othersWaiting: othersWaiting}
}

// shareLimit is ceil(concurrency × share), at least 1.
func shareLimit(concurrency int, share float64) int {
	return max(1, int(math.Ceil(float64(concurrency)*share-1e-9)))
}

// enter takes a place, or reports false when the seller is at its share
// and another seller has work waiting, or uses every worker but one.
func (g *shareGate) enter() bool {
	if g == nil {
		return true
	}
	n := g.busy.Add(1)
	if n > g.limit && (n > g.alone || g.othersWaiting == nil || g.othersWaiting()) {
		g.busy.Add(-1)
		return false
	}
	return true
}

// shareRecheck is how often a task waiting for a place looks again, and
// shareMaxWait how long it waits at most before it goes back to the queue.
const (
	shareRecheck = 10 * time.Millisecond
	shareMaxWait = 2 * time.Second
)

// enterOrWait is enter for a task already fetched. While no other seller
// has tasks waiting, a task that finds its seller at the bound waits here,
// up to maxWait, for a place instead of going back to the queue: going
// back means asynq's retry set, which it forwards once a second, so a
// refused worker would move the whole queue there at once and leave the
// seller a trickle (fault scenario 14 saw 400 orders take 34 s instead of
// 2.5). It gives up (false) as soon as another seller has tasks waiting,
// so that seller gets the worker, or when maxWait or ctx ends.
func (g *shareGate) enterOrWait(ctx context.Context, maxWait time.Duration) bool {
	if g.enter() {
		return true
	}
	deadline := time.Now().Add(maxWait)
	for time.Now().Before(deadline) {
		if g.othersWaiting == nil || g.othersWaiting() {
			return false
		}
		if pause.For(ctx, shareRecheck) != nil {
			return false
		}
		if g.enter() {
			return true
		}
	}
	return false
}

// leave gives the place back.
func (g *shareGate) leave() {
	if g != nil {
		g.busy.Add(-1)
	}
}

// backlogInterval is how often a worker without an activity tracker reads
// how many tasks wait in each of its sellers' queues: one pipelined LLEN
// per queue.
const backlogInterval = 200 * time.Millisecond

// backlog knows which of this worker's queues have pending tasks, so a
// seller's share gate can tell whether others wait. With an activity
// tracker (a worker of several sellers) it asks the tracker, which knows
// without Redis: a queue is waiting while it is open and its last dequeue
// found a task (activity.mayHavePending). An LLEN of every open queue
// five times a second cost 5 commands a second per open queue for an
// answer the tracker already had (issue 24); the gate's guarantee is the
// same, since both answers come from the queue's last state this process
// saw (a dequeue is as fresh as a 200 ms reading, and a paced queue not
// due yet still counts as waiting). Without a tracker, it reads every
// queue's LLEN every backlogInterval.
type backlog struct {
	rdb     redis.UniversalClient
	queues  []string
	pending sync.Map // queue -> int64 pending tasks
	// active, when set, says which queues may have pending tasks
	// (activity.isOpen); the others are not read.
	active func(queue string) bool
	// waiting, when set, answers for every queue instead of the
	// readings (activity.mayHavePending), and nothing is read.
	waiting func(queue string) bool

	loop periodic
}

func newBacklog(rdb redis.UniversalClient, queues []string) *backlog {
	return &backlog{rdb: rdb, queues: queues}
}

// othersWaiting is the question one queue's gate asks. Until the first
// read it answers yes: the bound holds, as it would without the backlog.
func (b *backlog) othersWaiting(queue string) func() bool {
	return func() bool {
		for _, q := range b.queues {
			if q == queue {
				continue
			}
			if b.waiting != nil {
				if b.waiting(q) {
					return true
				}
				continue
			}
			n, ok := b.pending.Load(q)
			if !ok || n.(int64) > 0 {
				return true
			}
		}
		return false
	}
}

// read takes one reading; a Redis error leaves the last one (or none).
func (b *backlog) read(ctx context.Context) {
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(b.queues))
	sent := 0
	for i, q := range b.queues {
		if b.active != nil && !b.active(q) {
			// A closed queue has no pending task (the activity index
			// says so): no read.
			b.pending.Store(q, int64(0))
			continue
		}
		cmds[i] = pipe.LLen(ctx, store.AsynqPendingKey(q))
		sent++
	}
	if sent == 0 {
		return
	}
	pipe.Exec(ctx)
	for i, c := range cmds {
		if c == nil {
			continue
		}
		if n, err := c.Result(); err == nil {
			b.pending.Store(b.queues[i], n)
		}
	}
}

// start reads the backlog at once, then every backlogInterval until stop;
// with waiting set, it reads nothing.
func (b *backlog) start() {
	if b.waiting == nil {
		b.loop.start(backlogInterval, true, b.read)
	}
}

// stop ends the loop and waits for it; safe before start and twice.
func (b *backlog) stop() { b.loop.stop() }

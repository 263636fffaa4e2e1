package worker

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Forwards of a busy queue (issue 24). asynq's forwarder moves due tasks of
// every queue from its scheduled and retry sets to pending every
// DelayedTaskCheckInterval: a script and a ZRANGEBYSCORE per set, 4
// commands a second per open queue, which at a seller's low rate was up to
// 4 commands per call. A queue whose last dequeue, within the hold, found a
// task has a backlog, and a task forwarded now would only wait behind
// it (asynq pushes forwarded tasks to the back of pending). So the
// activity hook answers such a forward "nothing moved" itself, for up to
// forwardHoldRounds intervals since the set's last real forward; once the
// queue's dequeues stop finding tasks (its pending list ran dry), the next
// forward goes through. A retry or a scheduled task of a busy queue
// therefore reaches pending up to forwardHoldRounds intervals (5 s by
// default) after it was due instead of one, and only while its queue still
// has tasks to work before it: it waits no longer for a worker than it
// would have behind the backlog.

// forwardHoldRounds is how many forwarder intervals a busy queue's forward
// may be answered without Redis: every set is forwarded at least once in
// that many.
const forwardHoldRounds = 5

// forwardState is when each of a queue's delayed sets was last forwarded
// for real (UnixNano).
type forwardState struct {
	scheduled, retry atomic.Int64
}

func (f *forwardState) of(setKey string) *atomic.Int64 {
	if strings.HasSuffix(setKey, ":retry") {
		return &f.retry
	}
	return &f.scheduled
}

// holdForward answers a forward of an open queue "nothing moved" when the
// queue's last dequeue found a task, within forwardHoldRounds intervals,
// and the set was forwarded for real within forwardHoldRounds intervals;
// otherwise it lets the forward through and notes when. "Within the hold",
// not "within the last interval": a paced seller at a low rate (24/min)
// is fetched every few seconds, and each of its forwards went to Redis.
func (a *activity) holdForward(cmd redis.Cmder, qa *queueActivity) bool {
	if a.forwardEvery <= 0 {
		return false
	}
	c, ok := cmd.(*redis.Cmd)
	if !ok {
		return false
	}
	key, _ := cmd.Args()[3].(string)
	last := qa.forwarded.of(key)
	now := time.Now().UnixNano()
	hold := int64(forwardHoldRounds * a.forwardEvery)
	busy := now-qa.fetchedAt.Load() < hold && qa.fetchedAt.Load() >= qa.emptyAt.Load()
	if busy && now-last.Load() < hold {
		c.SetVal(int64(0))
		return true
	}
	last.Store(now)
	return false
}

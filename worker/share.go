package worker

import (
	"math"
	"sync/atomic"
)

// shareGate bounds how many tasks of one seller run at once in this
// process: ceil(concurrency × share). asynq picks queues at random, so a
// slow seller's tasks would otherwise end up holding every worker while
// they wait on its endpoint; a task over the share is put back for a moment
// without using a retry (Handler.overShare).
type shareGate struct {
	limit int64
	busy  atomic.Int64
}

// newShareGate returns nil (no bound) when the share allows the whole
// concurrency.
func newShareGate(concurrency int, share float64) *shareGate {
	limit := shareLimit(concurrency, share)
	if limit >= concurrency {
		return nil
	}
	return &shareGate{limit: int64(limit)}
}

// shareLimit is ceil(concurrency × share), at least 1.
func shareLimit(concurrency int, share float64) int {
	return max(1, int(math.Ceil(float64(concurrency)*share-1e-9)))
}

// enter takes a place, or reports false when the seller is at its share.
func (g *shareGate) enter() bool {
	if g == nil {
		return true
	}
	if g.busy.Add(1) > g.limit {
		g.busy.Add(-1)
		return false
	}
	return true
}

// leave gives the place back.
func (g *shareGate) leave() {
	if g != nil {
		g.busy.Add(-1)
	}
}

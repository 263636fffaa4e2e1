package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Group commit (issue 24): the crash-safety writes of a lane's concurrent
// calls share round trips, the way a database group-commits its log. Every
// call still writes its own sent mark before it is sent, and waits until
// Redis (and the replicas, when waited for) acknowledged it; what changes
// is that the marks of the calls that become ready within a short linger
// go to Redis in one script and one replica wait, instead of a script and
// a wait each. The guarantee is unchanged because no member returns before
// the batch it is in was acknowledged, and a batch that fails fails every
// member (none of them is sent).

// groupCommit batches the items of concurrent callers of do into calls of
// flush, leader-style: an item that finds no flush under way is flushed at
// once (or after linger, when linger is set, waiting for company); items
// that arrive while a flush is under way gather and are flushed together
// the moment it returns, or at once when they fill a batch of max. So a
// lone call pays nothing, and under load a batch holds what arrived during
// one round trip. flush returns one result per item, or an error that
// every member of the batch gets. It is safe for concurrent use; close
// flushes what is pending and waits for every flush under way.
type groupCommit[T, R any] struct {
	max    int
	linger time.Duration
	flush  func(ctx context.Context, items []T) ([]R, error)

	mu       sync.Mutex
	pending  []*gcMember[T, R]
	inflight int    // flushes under way
	gen      uint64 // the batch being filled; a timer flushes only its own
	timer    *time.Timer
	closed   bool
	running  sync.WaitGroup // flushes under way, for close
}

type gcMember[T, R any] struct {
	item T
	done chan gcResult[R] // buffered: run never blocks on a member
}

type gcResult[R any] struct {
	val R
	err error
}

// errGroupCommitClosed is what do returns after close.
var errGroupCommitClosed = errors.New("group commit closed: the worker is shutting down, the task comes back")

// newGroupCommit batches up to maxItems items (at least 1); linger 0
// flushes a lone item at once.
func newGroupCommit[T, R any](maxItems int, linger time.Duration, flush func(ctx context.Context, items []T) ([]R, error)) *groupCommit[T, R] {
	return &groupCommit[T, R]{max: max(maxItems, 1), linger: max(linger, 0), flush: flush}
}

// do adds item to the batch being filled and returns its result once the
// batch was flushed. The flush runs without ctx's cancellation: a member
// must learn whether its write was made, whatever happened to its task.
func (g *groupCommit[T, R]) do(ctx context.Context, item T) (R, error) {
	m := &gcMember[T, R]{item: item, done: make(chan gcResult[R], 1)}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		var zero R
		return zero, errGroupCommitClosed
	}
	g.pending = append(g.pending, m)
	var batch []*gcMember[T, R]
	switch {
	case len(g.pending) >= g.max, g.inflight == 0 && g.linger == 0:
		batch = g.takeLocked()
	case g.inflight == 0 && len(g.pending) == 1:
		gen := g.gen
		g.timer = time.AfterFunc(g.linger, func() { g.flushGen(ctx, gen) })
	}
	// Otherwise the flush under way takes the batch when it returns.
	g.mu.Unlock()
	if batch != nil {
		g.run(ctx, batch)
	}
	r := <-m.done
	return r.val, r.err
}

// takeLocked ends the batch being filled and returns it; the caller runs
// it. g.mu is held.
func (g *groupCommit[T, R]) takeLocked() []*gcMember[T, R] {
	batch := g.pending
	g.pending = nil
	g.gen++
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if len(batch) > 0 {
		g.inflight++
		g.running.Add(1)
	}
	return batch
}

// flushGen is the linger's end of batch gen: flushed unless it was already
// (full, taken by a flush that returned, or closed).
func (g *groupCommit[T, R]) flushGen(ctx context.Context, gen uint64) {
	g.mu.Lock()
	if gen != g.gen {
		g.mu.Unlock()
		return
	}
	batch := g.takeLocked()
	g.mu.Unlock()
	g.run(ctx, batch)
}

// run flushes batch, hands each member its result, and starts the batch
// that gathered meanwhile (on its own goroutine: this one's caller is a
// member, waiting to go on).
func (g *groupCommit[T, R]) run(ctx context.Context, batch []*gcMember[T, R]) {
	if len(batch) == 0 {
		return
	}
	items := make([]T, len(batch))
	for i, m := range batch {
		items[i] = m.item
	}
	res, err := g.flush(context.WithoutCancel(ctx), items)
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("group commit: %d results for a batch of %d (a bug: report it)", len(res), len(batch))
	}
	for i, m := range batch {
		if err != nil {
			m.done <- gcResult[R]{err: err}
			continue
		}
		m.done <- gcResult[R]{val: res[i]}
	}
	g.mu.Lock()
	g.inflight--
	var next []*gcMember[T, R]
	if g.inflight == 0 && len(g.pending) > 0 {
		next = g.takeLocked()
	}
	g.mu.Unlock()
	g.running.Done()
	if next != nil {
		go g.run(ctx, next)
	}
}

// close flushes the batch being filled, refuses new items and returns once
// every flush under way has ended. Safe to call more than once.
func (g *groupCommit[T, R]) close() {
	g.mu.Lock()
	g.closed = true
	batch := g.takeLocked()
	g.mu.Unlock()
	g.run(context.Background(), batch)
	g.running.Wait()
}

package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/worker"
)

// Tests wait on events, not on time. failsafe bounds every wait: reaching it
// fails the test, and no test passes or fails by how long something took.
const failsafe = 30 * time.Second

// eventLog keeps every event of one kind in the order it happened and wakes
// waiters as each arrives. A waiter looks at the whole history, so an event
// that happened before the wait began is not missed, and recording never
// blocks the code under test.
type eventLog[T any] struct {
	mu     sync.Mutex
	all    []T
	notify chan struct{} // closed and replaced by every add
}

func newEventLog[T any]() *eventLog[T] { return &eventLog[T]{notify: make(chan struct{})} }

func (l *eventLog[T]) add(v T) {
	l.mu.Lock()
	l.all = append(l.all, v)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

// matching returns the events match accepts, and a channel closed by the
// next event.
func (l *eventLog[T]) matching(match func(T) bool) ([]T, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var got []T
	for _, v := range l.all {
		if match(v) {
			got = append(got, v)
		}
	}
	return got, l.notify
}

// wait blocks until n events match and returns the first n; after failsafe
// it fails the test, listing what did happen.
func (l *eventLog[T]) wait(t *testing.T, what string, n int, match func(T) bool) []T {
	t.Helper()
	return l.waitWithin(t, failsafe, what, n, match)
}

// waitWithin is wait with another failsafe, for a test that runs for
// longer than failsafe by design.
func (l *eventLog[T]) waitWithin(t *testing.T, limit time.Duration, what string, n int, match func(T) bool) []T {
	t.Helper()
	timeout := time.NewTimer(limit)
	defer timeout.Stop()
	for {
		got, next := l.matching(match)
		if len(got) >= n {
			return got[:n]
		}
		select {
		case <-next:
		case <-timeout.C:
			t.Fatalf("timed out after %s waiting for %s (%d of %d seen); every event:\n%s", limit, what, len(got), n, l.dump())
		}
	}
}

// count is how many events match so far.
func (l *eventLog[T]) count(match func(T) bool) int {
	got, _ := l.matching(match)
	return len(got)
}

func (l *eventLog[T]) dump() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, v := range l.all {
		fmt.Fprintf(&b, "  %+v\n", v)
	}
	return b.String()
}

// attempt is a worker.Attempt and which of the harness's workers (counting
// from 1 in the order they were started) made it.
type attempt struct {
	worker.Attempt
	Worker int
}

func (a attempt) String() string {
	s := fmt.Sprintf("w%d %s #%d %s %s calls=%d", a.Worker, a.PreStockinNo, a.Number, a.Action, a.Category, a.Calls)
	if a.Ambiguous {
		s += " ambiguous"
	}
	if a.Err != nil {
		s += fmt.Sprintf(" err=%q", a.Err)
	}
	return s
}

// Predicates over attempts.

func of(no string) func(attempt) bool {
	return func(a attempt) bool { return a.PreStockinNo == no }
}

// settles matches the attempt that ends no's task: done or dead-lettered.
func settles(no string) func(attempt) bool {
	return func(a attempt) bool {
		return a.PreStockinNo == no && (a.Action == worker.ActDone || a.Action == worker.ActDead)
	}
}

func ended(action worker.Action, no string) func(attempt) bool {
	return func(a attempt) bool { return a.PreStockinNo == no && a.Action == action }
}

// eventually polls cond until it holds, for state that announces no event
// (a task's state in asynq after the handler returned, a key's TTL running
// out in Redis, an HTTP endpoint's answer); the deadline is only a failsafe.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("timed out after %s waiting for %s", failsafe, what)
	}
}

// poll is eventually without the test: false when failsafe passed first.
func poll(cond func() bool) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.NewTimer(failsafe)
	defer timeout.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout.C:
			return false
		}
	}
	return true
}

// callGate is a sandbox Options.Sleep (with a Latency above zero) that holds
// every call in its latency until the test says what happens to it, so the
// test, not timing, decides which calls are in flight.
type callGate struct {
	mu      sync.Mutex
	isOpen  bool           // let calls through without holding them
	arrived chan *heldCall // calls held, in arrival order
	closed  chan struct{}  // the test is over: let everything go
}

// heldCall is one call held at the gate.
type heldCall struct {
	ctx    context.Context // the request's: ends when the client gives up
	done   chan error      // what the sandbox's Sleep returns
	closed <-chan struct{}
}

var errGateClosed = errors.New("call gate closed")

func newCallGate() *callGate {
	return &callGate{arrived: make(chan *heldCall, 64), closed: make(chan struct{})}
}

func (g *callGate) sleep(ctx context.Context, _ time.Duration) error {
	g.mu.Lock()
	if g.isOpen {
		g.mu.Unlock()
		return nil
	}
	c := &heldCall{ctx: ctx, done: make(chan error, 1), closed: g.closed}
	g.arrived <- c
	g.mu.Unlock()
	select {
	case err := <-c.done:
		return err
	case <-g.closed:
		return errGateClosed
	}
}

// next waits for the next call to arrive at the gate.
func (g *callGate) next(t *testing.T) *heldCall {
	t.Helper()
	select {
	case c := <-g.arrived:
		return c
	case <-time.After(failsafe):
		t.Fatalf("timed out after %s waiting for a call to arrive at the sandbox", failsafe)
		return nil
	}
}

// open lets every call through from now on, those waiting unclaimed
// included.
func (g *callGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.isOpen = true
	for {
		select {
		case c := <-g.arrived:
			c.release()
		default:
			return
		}
	}
}

// close ends the test's hold on every call; register it with t.Cleanup after
// the sandbox, so it runs first.
func (g *callGate) close() { close(g.closed) }

// release lets the call go on to its answer.
func (c *heldCall) release() { c.done <- nil }

// applyWhenCut: when the client gives up on the call, WDT applies it anyway
// and its answer is lost.
func (c *heldCall) applyWhenCut() { c.whenCut(nil) }

// dropWhenCut: when the client gives up on the call, WDT never saw it.
func (c *heldCall) dropWhenCut() { c.whenCut(c.ctx.Err) }

func (c *heldCall) whenCut(result func() error) {
	go func() {
		select {
		case <-c.ctx.Done():
			var err error
			if result != nil {
				err = result()
			}
			c.done <- err
		case <-c.closed:
		}
	}()
}

package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker"
)

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
	return testkit.Recv(t, g.arrived, "a call to arrive at the sandbox")
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

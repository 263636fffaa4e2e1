package worker

import (
	"context"
	"time"
)

// periodic is the shape every background check of the worker has: run a
// function every interval on a goroutine of its own, and on stop cancel
// the context the function gets and wait until it has returned, so no
// check outlives the worker (goleak holds the tests to it). Its zero value
// is stopped; stop is safe before start and more than once.
type periodic struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs fn every interval until stop; at once first when now is set
// (a check whose first answer readiness or the dispatcher needs).
func (p *periodic) start(interval time.Duration, now bool, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		if now {
			fn(ctx)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}()
}

// stop cancels the loop and waits for the run under way to return.
func (p *periodic) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	<-p.done
	p.cancel = nil
}

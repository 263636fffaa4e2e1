package worker

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ReadyBudget is the longest /readyz waits for its checks (Check) before it
// answers 503 "Redis did not answer": well under `wdtcancel healthcheck`'s
// default --timeout of 3 s, so a stalled Redis (SIGSTOP, swapping, a
// frozen VM) is reported as such, not as a worker that does not answer.
// go-redis bounds its reads by the client's read timeout (3 s by default,
// and a check makes several), not by the request's context: a check of a
// stalled Redis took about 5 s.
const ReadyBudget = 1500 * time.Millisecond

// readyFlight is one Check in progress; requests that arrive while it runs
// wait for it instead of starting another, so a stalled Redis costs one
// blocked check, not one per probe.
type readyFlight struct {
	done chan struct{}
	rep  ReadyReport
}

// readyFlights holds the Check in progress, if any.
type readyFlights struct {
	mu     sync.Mutex
	flight *readyFlight
}

// Report is Check bounded by ReadyBudget: when the check has not finished
// by then (Redis does not answer), it is a 503 report saying so, with
// what readiness knows without asking Redis; the check goes on in the
// background and its result is dropped.
func (r *Readiness) Report(ctx context.Context) ReadyReport {
	return r.reportWithin(ctx, ReadyBudget)
}

func (r *Readiness) reportWithin(ctx context.Context, budget time.Duration) ReadyReport {
	f := r.startFlight()
	t := time.NewTimer(budget)
	defer t.Stop()
	select {
	case <-f.done:
		return f.rep
	case <-t.C:
	case <-ctx.Done():
	}
	return r.stalledReport(budget)
}

// startFlight joins the Check in progress or starts one. Its context is
// not the request's: a probe that gave up must not cancel the check a
// later one waits for.
func (r *Readiness) startFlight() *readyFlight {
	r.flights.mu.Lock()
	defer r.flights.mu.Unlock()
	if f := r.flights.flight; f != nil {
		return f
	}
	f := &readyFlight{done: make(chan struct{})}
	r.flights.flight = f
	go func() {
		f.rep = r.Check(context.Background())
		r.flights.mu.Lock()
		r.flights.flight = nil
		r.flights.mu.Unlock()
		close(f.done)
	}()
	return f
}

// stalledReport is the 503 of a check Redis did not finish within budget:
// "redis":"unreachable" as for a refused connection, the reason saying it
// is a stall, and the details kept in memory (durability, shutting down,
// unknown sellers).
func (r *Readiness) stalledReport(budget time.Duration) ReadyReport {
	rep := ReadyReport{Redis: "unreachable", Reasons: []string{fmt.Sprintf(
		"redis unreachable: Redis did not answer within %s (stalled, overloaded or its network is down; the worker itself answers)", budget)}}
	r.addDurability(&rep)
	rep.Ready = false
	if r.shuttingDown.Load() {
		rep.Reasons = append(rep.Reasons, "shutting down")
	}
	rep.Notify = r.notifyDetail()
	rep.UnknownSellers = r.UnknownSellers()
	return rep
}

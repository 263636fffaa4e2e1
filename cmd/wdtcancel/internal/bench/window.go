package bench

import (
	"context"
	"fmt"
	"math"
	"time"
)

// The processing phase's measured window, and the arithmetic around it.
//
// A variant's run: its queue is filled with a backlog before the variant's
// process starts, and nothing is enqueued while it runs, so the queue's
// pending list only shrinks. The window opens at the first poll a lead-in
// after the first call (process start, connection pools, Redis's script
// cache and the Go heap settle in it) and closes at the first poll at
// least the round time later. Counts come from outside the variant's process (the sandbox's call
// counter, or Redis for the no-op), read at the window's two ends; the
// rate is the calls between the two readings over the time between them.
// A reading's time is the middle of its request, so a 3 s window is exact
// to well under a millisecond at each end. The window is valid only if the
// queue still had pending tasks when it closed: since the list only
// shrinks, it had them all along, and no worker waited for work inside the
// window (the drain is outside it). A run whose queue ran dry is measured
// again with a larger backlog.

// MinRoundTime is the shortest processing window the bench accepts
// (issue 24: rounds of 0.2–0.35 s swung from 0.51 to 1.05).
const MinRoundTime = 3 * time.Second

const (
	// processingLeadIn: how long after a variant's first call its window
	// opens (shorter only when the round itself is, in tests).
	processingLeadIn = time.Second
	// processingPoll: how often the count and the pending list are read
	// from the first call on, so a run whose queue runs dry stops at once;
	// the window opens and closes at most this late.
	processingPoll = 100 * time.Millisecond
	// backlogMargin: a run's backlog is this many times what its last
	// rate needs for the lead-in and the window.
	backlogMargin = 1.5
	// processingAttempts: runs of one variant in one round before the
	// bench gives up on keeping its queue fed.
	processingAttempts = 4
	// firstCallTimeout: how long a variant's process may take to make
	// its first call.
	firstCallTimeout = 2 * time.Minute
)

// reading is a counter read at a time.
type reading struct {
	at time.Time
	n  int64
}

// window is one variant's measured window.
type window struct {
	Rate    float64 // calls per second between the two readings
	Calls   int64
	Seconds float64
	Backlog int // tasks queued before the run
	// Dry: the queue ran out of pending tasks before the window closed;
	// Rate is then not a measure, SeenRate (calls since the first over
	// the time since) is what the next backlog is sized on.
	Dry      bool
	SeenRate float64
}

// between is the window from reading a to reading b.
func between(a, b reading) window {
	w := window{Calls: b.n - a.n, Seconds: b.at.Sub(a.at).Seconds()}
	if w.Seconds > 0 && w.Calls > 0 {
		w.Rate = float64(w.Calls) / w.Seconds
	}
	return w
}

// midpoint is the time a counter read between before and after stands for.
func midpoint(before, after time.Time) time.Time { return before.Add(after.Sub(before) / 2) }

// backlogFor is how many tasks a run at rate (calls/s) needs queued for
// the lead-in, the window and one poll's overshoot, with a margin; never
// fewer than least.
func backlogFor(rate float64, leadIn, length time.Duration, least int) int {
	need := rate * (leadIn + length + processingPoll).Seconds() * backlogMargin
	if need > math.MaxInt32 {
		return math.MaxInt32
	}
	return max(least, int(math.Ceil(need)))
}

// grownBacklog is the backlog of the next attempt after a run with backlog
// ran dry having done seenRate calls/s: what that rate needs, and at least
// double, so a wrong reading cannot make the bench retry forever.
func grownBacklog(backlog int, seenRate float64, leadIn, length time.Duration) int {
	return backlogFor(seenRate, leadIn, length, 2*backlog)
}

// leadInFor is the lead-in of a window of length: processingLeadIn, or
// the length itself when that is shorter (test rounds).
func leadInFor(length time.Duration) time.Duration { return min(processingLeadIn, length) }

// validateRoundTime refuses a processing window shorter than MinRoundTime
// unless short is set (the tests' knob): a short round is one burst, and
// its ratio says more about the machine's neighbours than about the code.
func validateRoundTime(length time.Duration, short bool) error {
	switch {
	case length <= 0:
		return fmt.Errorf("--round-time %s: a processing round must last some time; give %s or more", length, MinRoundTime)
	case length < MinRoundTime && !short:
		return fmt.Errorf("--round-time %s is shorter than %s: rounds that short swing too much for their ratios to mean anything (issue 24); give %s or more",
			length, MinRoundTime, MinRoundTime)
	}
	return nil
}

// counter reads a count that only grows while a variant runs.
type counter func(context.Context) (int64, error)

// read reads c and stamps the reading with the middle of the read.
func (c counter) read(ctx context.Context) (reading, error) {
	before := time.Now()
	n, err := c(ctx)
	return reading{at: midpoint(before, time.Now()), n: n}, err
}

// measure runs one window over a running variant: calls counts its calls,
// pending its queue's pending tasks, exited reports the variant's or the
// sandbox's process ending early. Both are read every processingPoll from
// the first call on, so a queue that runs dry, even in the lead-in, is
// seen within a poll and the rate seen until then sizes the next backlog.
func measure(ctx context.Context, calls, pending counter, exited exits, leadIn, length time.Duration) (window, error) {
	first, err := awaitFirstCall(ctx, calls, exited)
	if err != nil {
		return window{}, err
	}
	var opened *reading
	for {
		if err := sleepOrExit(ctx, processingPoll, exited); err != nil {
			return window{}, err
		}
		b, err := calls.read(ctx)
		if err != nil {
			return window{}, err
		}
		left, err := pending(ctx)
		if err != nil {
			return window{}, err
		}
		switch {
		case left == 0:
			return window{Dry: true, SeenRate: between(first, b).Rate}, nil
		case opened == nil && b.at.Sub(first.at) >= leadIn:
			opened = &b
		case opened != nil && b.at.Sub(opened.at) >= length:
			return between(*opened, b), nil
		}
	}
}

// awaitFirstCall polls calls until it is above zero.
func awaitFirstCall(ctx context.Context, calls counter, exited exits) (reading, error) {
	deadline := time.Now().Add(firstCallTimeout)
	for {
		r, err := calls.read(ctx)
		if err != nil || r.n > 0 {
			return r, err
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("no call within %s of the variant's start: see its process's output above, or the machine is overloaded", firstCallTimeout)
		}
		if err := sleepOrExit(ctx, 10*time.Millisecond, exited); err != nil {
			return r, err
		}
	}
}

// exits report processes that end early: the variant's and the
// sandbox's (nil for the no-op, which calls none).
type exits struct{ variant, sandbox <-chan error }

// sleepOrExit waits d, unless a process ends early or ctx is done first.
func sleepOrExit(ctx context.Context, d time.Duration, exited exits) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case err := <-exited.variant:
		return err
	case err := <-exited.sandbox:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

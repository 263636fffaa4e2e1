package worker

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// Backoff is the exponential retry delay for failures that use up a retry.
type Backoff struct {
	Base time.Duration // delay after the first failure
	Cap  time.Duration // never longer than this
}

// DefaultBackoff starts at 5 s and is capped at 10 minutes.
var DefaultBackoff = Backoff{Base: 5 * time.Second, Cap: 10 * time.Minute}

// Delay is the wait before retry n+1: Base*2^n, capped, with "equal jitter"
// (half fixed, half random) so a burst of failures does not come back as a
// burst.
func (b Backoff) Delay(n int) time.Duration {
	b = b.WithDefaults()
	d := b.Cap
	if n < 30 {
		if exp := b.Base << n; exp > 0 && exp < b.Cap {
			d = exp
		}
	}
	half := d / 2
	return half + rand.N(half+1)
}

// retryError is a failed attempt that tells asynq when to come back and
// whether the attempt counts against the retry budget. The delay travels in
// the error and RetryDelayFunc reads it (asynq's x/rate pattern).
type retryError struct {
	category wdt.Category
	delay    time.Duration // 0: use the exponential back-off
	failure  bool          // counts against the budget
	err      error
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// snooze is a retry that does not use up the budget.
func snooze(cat wdt.Category, d time.Duration, err error) error {
	return &retryError{category: cat, delay: d, failure: false, err: err}
}

// fail is a retry that uses up one unit of the budget.
func fail(cat wdt.Category, err error) error {
	return &retryError{category: cat, failure: true, err: err}
}

// deadLetter stops retrying: asynq archives the task. The dead-letter record
// must be written before this is returned.
func deadLetter(err error) error { return &deadError{err: err} }

// deadError makes asynq archive the task while its last error, what
// asynqmon shows, stays err's own text: asynq (v0.26 processor
// handleFailedMessage) archives on errors.Is(err, asynq.SkipRetry) and
// stores err.Error(), so wrapping SkipRetry with fmt.Errorf would append
// ": skip retry for the task" to every dead letter.
type deadError struct{ err error }

func (e *deadError) Error() string { return e.err.Error() }
func (e *deadError) Unwrap() error { return e.err }

// Is matches asynq.SkipRetry, which archives the task.
func (e *deadError) Is(target error) bool { return target == asynq.SkipRetry }

// IsFailure tells asynq whether an error uses up a retry. Throttling, clock
// skew and configuration faults are not the task's fault.
func IsFailure(err error) bool {
	var re *retryError
	if errors.As(err, &re) {
		return re.failure
	}
	return true
}

// RetryDelayFunc reads the delay carried by the error, else backs off
// exponentially by the number of failures so far.
func (b Backoff) RetryDelayFunc(n int, err error, _ *asynq.Task) time.Duration {
	var re *retryError
	if errors.As(err, &re) && re.delay > 0 {
		return re.delay
	}
	return b.Delay(n)
}

// jitter spreads d by up to ±10%, so snoozed tasks do not return in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := d / 10
	return d - spread + rand.N(2*spread+1)
}

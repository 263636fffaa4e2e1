package worker

import (
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// Attempt is what one finished attempt did with a task: the facts of its
// "task <action>" log line, handed to Config.OnAttempt.
//
// OnAttempt is the integration point for anything that reacts to outcomes as
// they happen: alerting on dead letters or configuration holds, metrics of
// your own, an audit trail, and tests that wait for an outcome instead of
// polling for it.
type Attempt struct {
	// TaskID is the asynq task ID: the order number, or whatever ID a
	// malformed task carried.
	TaskID string
	// PreStockinNo is the order number of the payload; for a payload that
	// does not decode, the task ID.
	PreStockinNo string
	// Seller is the seller whose queue the task came from.
	Seller string
	// Number is the log line's attempt field: the failed attempts before
	// this one, plus one. Snoozed and held attempts use no retry, so one
	// task may report the same Number more than once.
	Number int
	// Action is what happens to the task next, Category what the attempt
	// learned (the README's outcome table).
	Action   Action
	Category wdt.Category
	// Ambiguous marks a dead letter (ActDead) whose order may have been
	// cancelled by an earlier attempt with an unknown outcome.
	Ambiguous bool
	// Calls is how many WDT calls the attempt made: 0 when it stopped
	// before calling (no call slot, circuit breaker open, invalid payload,
	// Redis trouble), 2 when a clock-skew answer made it re-sign.
	Calls int
	// WDTStatus is the status WDT answered: 0 when it confirmed the
	// cancellation, wdt.NoStatus when no WDT answer came.
	WDTStatus int
	// Err explains the outcome; nil when WDT simply confirmed.
	Err error
	// Duration is how long the attempt took, slot wait included.
	Duration time.Duration
	// NotRecorded, when not empty, says why the outcome above was decided
	// but not recorded (unrecorded.go): the task runs again, and the log
	// line says "task not recorded (ACTION), will run again".
	NotRecorded string
}

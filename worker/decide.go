package worker

import (
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// The outcome table as a value: Decide maps what one attempt learned to what
// the worker does next. It is a pure function (no Redis, no clock, no logs)
// so every row of the table is one row of a table test; the handler gathers
// the Situation and carries the Decision out.

// Action is what happens to a task after an attempt. The values are the
// action label of wdtcancel_task_outcomes_total and of the "task ..." log
// line.
type Action string

// The actions.
const (
	// ActDone: WDT confirmed the cancellation (now or earlier); the task
	// completes.
	ActDone Action = "done"
	// ActRetry: the attempt failed in a way that may be the order's own
	// bad luck; back off exponentially and use up one retry.
	ActRetry Action = "retry"
	// ActSnooze: come back after Delay without using a retry (throttling,
	// clock skew, Redis trouble inside the worker).
	ActSnooze Action = "snooze"
	// ActHold: the fault is not the order's (a configuration fault, or the
	// shared circuit breaker is open); wait for a fix or a probe without
	// using a retry. Held tasks are re-run at once when the breaker
	// closes or by `wdtcancel retry --held`.
	ActHold Action = "hold"
	// ActDead: write the dead-letter record, then archive.
	ActDead Action = "dead"
)

// Situation is everything the decision depends on.
type Situation struct {
	// Category is what this attempt learned: the call's answer, or, when
	// no call was made, why not (RateLimited for a limiter wait, Redis for
	// Redis trouble, Network for a held attempt under an open breaker,
	// Invalid for a payload that does not decode).
	Category wdt.Category
	// Called is false when the attempt stopped before sending anything.
	Called bool
	// Wait is how long the limiter asked to wait (Called false,
	// RateLimited).
	Wait time.Duration
	// Confirmed: the outcome memory holds an earlier status 0 for this
	// number.
	Confirmed bool
	// Unknown: some attempt for this number (this one included) was sent
	// and its outcome is unknown, so WDT may have applied it.
	Unknown bool
	// Retried is the number of failed attempts before this one; Limit is
	// how many are allowed in all.
	Retried, Limit int
	// BreakerOpen: the shared circuit breaker is open, counting this
	// attempt's failure.
	BreakerOpen bool
	// MemoryIncomplete: Redis lost writes (restarted empty or from an
	// older snapshot) since this number may have been called, so the
	// outcome memory may lack the sent mark of a call that cancelled the
	// order: a rejection proves nothing was applied no more than after
	// an unknown outcome.
	MemoryIncomplete bool
	// Lookup is the order's state as the seller's Qimen lookup found it,
	// or the lookup's failure (decide_lookup.go); nil when the seller has
	// no lookup or the situation does not need one (NeedsLookup). An
	// answer wins over Confirmed's absence, Unknown and MemoryIncomplete:
	// it is WDT's word, not wdtcancel's inference.
	Lookup *Looked
}

// Decision is what the handler carries out.
type Decision struct {
	Action Action
	// Category is the category recorded: the situation's, or Exhausted
	// when the retries ran out.
	Category wdt.Category
	// Delay until the next attempt for ActSnooze and ActHold; for
	// ActRetry, 0 means the exponential back-off.
	Delay time.Duration
	// Ambiguous marks a dead letter whose order may have been cancelled
	// by an attempt with an unknown outcome.
	Ambiguous bool
	// StartCooldown: WDT said rate-limited; every worker pauses.
	StartCooldown bool
	// Note explains a decision that is not obvious from the category.
	Note string
	// Verified: the decision rests on the order's state as the lookup
	// found it, not on the outcome memory.
	Verified bool
}

// Delays are the waits of the actions that do not use a retry.
type Delays struct {
	Cooldown    time.Duration // after a rate-limit answer
	ClockSkew   time.Duration // after a clock-skew answer that a resync did not cure
	ConfigHold  time.Duration // after a configuration fault
	BreakerHold time.Duration // while the circuit breaker is open
	Redis       time.Duration // after Redis trouble inside the worker
}

// NeedsMemory reports whether Decide needs the outcome memory (Confirmed,
// Unknown) for this situation, so the handler reads Redis only when the
// answer could be a dead letter.
func NeedsMemory(s Situation) bool {
	switch s.Category {
	case wdt.Rejected:
		return true
	case wdt.Network, wdt.UnknownOutcome:
		return s.Called && !s.BreakerOpen && s.Retried+1 >= s.Limit
	}
	return false
}

// Decide is the outcome table (README "Outcomes").
func Decide(s Situation, d Delays) Decision {
	switch s.Category {
	case wdt.Cancelled:
		return Decision{Action: ActDone, Category: wdt.Cancelled}
	case wdt.Rejected:
		return decideRejected(s, d)
	case wdt.RateLimited:
		if !s.Called {
			return Decision{Action: ActSnooze, Category: wdt.RateLimited, Delay: s.Wait}
		}
		return Decision{Action: ActSnooze, Category: wdt.RateLimited, Delay: d.Cooldown, StartCooldown: true}
	case wdt.ClockSkew:
		return Decision{Action: ActSnooze, Category: wdt.ClockSkew, Delay: d.ClockSkew}
	case wdt.Config:
		return Decision{Action: ActHold, Category: wdt.Config, Delay: d.ConfigHold}
	case wdt.Redis:
		return Decision{Action: ActSnooze, Category: wdt.Redis, Delay: d.Redis}
	case wdt.Invalid:
		return Decision{Action: ActDead, Category: wdt.Invalid}
	case wdt.Network, wdt.UnknownOutcome:
		return decideFailed(s, d)
	}
	// A category this table does not know is a bug in wdtcancel: treat it
	// as the most cautious case, an unknown outcome.
	s.Category = wdt.UnknownOutcome
	return Decide(s, d)
}

// decideRejected is the table's status-100 row.
func decideRejected(s Situation, d Delays) Decision {
	if s.Confirmed {
		// An earlier attempt got status 0 but the task ran again (a
		// shutdown handed it back after the call succeeded): "not
		// editable" now only says it is already cancelled.
		return Decision{Action: ActDone, Category: wdt.Cancelled, Note: "already confirmed cancelled by an earlier attempt"}
	}
	if s.Lookup != nil {
		return decideLooked(s, d, false)
	}
	if s.MemoryIncomplete && !s.Unknown {
		return Decision{Action: ActDead, Category: wdt.Rejected, Ambiguous: true, Note: lossNote}
	}
	return Decision{Action: ActDead, Category: wdt.Rejected, Ambiguous: s.Unknown}
}

// decideFailed is the rows of a call without a definite answer: not sent,
// or sent with an unknown outcome.
func decideFailed(s Situation, d Delays) Decision {
	if s.BreakerOpen {
		return Decision{Action: ActHold, Category: s.Category, Delay: d.BreakerHold, Note: "circuit breaker open: the WDT endpoint is failing for every order"}
	}
	if s.Retried+1 < s.Limit {
		return Decision{Action: ActRetry, Category: s.Category}
	}
	if s.Lookup != nil {
		return decideLooked(s, d, true)
	}
	if s.MemoryIncomplete && !s.Unknown && s.Category != wdt.UnknownOutcome {
		return Decision{Action: ActDead, Category: wdt.Exhausted, Ambiguous: true, Note: lossNote}
	}
	return Decision{Action: ActDead, Category: wdt.Exhausted, Ambiguous: s.Unknown || s.Category == wdt.UnknownOutcome}
}

package worker

import (
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// TestDecide is the outcome table, one row per case, with no Redis: what an
// attempt learned in, what the worker does out.
func TestDecide(t *testing.T) {
	d := Delays{Cooldown: time.Minute, ClockSkew: 5 * time.Second, ConfigHold: 5 * time.Minute, BreakerHold: 10 * time.Minute, Redis: 5 * time.Second}
	called := func(c wdt.Category) Situation { return Situation{Category: c, Called: true, Retried: 0, Limit: 20} }
	with := func(s Situation, f func(*Situation)) Situation { f(&s); return s }

	tests := []struct {
		name string
		in   Situation
		want Decision
	}{
		{"status 0 is done", called(wdt.Cancelled), Decision{Action: ActDone, Category: wdt.Cancelled}},
		{"clean rejection is dead, not ambiguous", called(wdt.Rejected),
			Decision{Action: ActDead, Category: wdt.Rejected}},
		{"rejection after an unknown outcome is ambiguous", with(called(wdt.Rejected), func(s *Situation) { s.Unknown = true }),
			Decision{Action: ActDead, Category: wdt.Rejected, Ambiguous: true}},
		{"rejection after a confirmed cancellation is done", with(called(wdt.Rejected), func(s *Situation) { s.Confirmed = true }),
			Decision{Action: ActDone, Category: wdt.Cancelled, Note: "already confirmed cancelled by an earlier attempt"}},
		{"rejection while Redis is known to have lost writes is ambiguous", with(called(wdt.Rejected), func(s *Situation) { s.MemoryIncomplete = true }),
			Decision{Action: ActDead, Category: wdt.Rejected, Ambiguous: true, Note: lossNote}},
		{"rejection after an unknown outcome and a loss is ambiguous for the unknown outcome", with(called(wdt.Rejected), func(s *Situation) { s.MemoryIncomplete = true; s.Unknown = true }),
			Decision{Action: ActDead, Category: wdt.Rejected, Ambiguous: true}},
		{"a confirmation that survived the loss still makes a rejection done", with(called(wdt.Rejected), func(s *Situation) { s.MemoryIncomplete = true; s.Confirmed = true }),
			Decision{Action: ActDone, Category: wdt.Cancelled, Note: "already confirmed cancelled by an earlier attempt"}},
		{"last network failure after a loss exhausts, ambiguous", with(called(wdt.Network), func(s *Situation) { s.Retried = 19; s.MemoryIncomplete = true }),
			Decision{Action: ActDead, Category: wdt.Exhausted, Ambiguous: true, Note: lossNote}},
		{"a loss does not change a retry", with(called(wdt.Network), func(s *Situation) { s.MemoryIncomplete = true }),
			Decision{Action: ActRetry, Category: wdt.Network}},
		{"a loss does not change a status 0", with(called(wdt.Cancelled), func(s *Situation) { s.MemoryIncomplete = true }),
			Decision{Action: ActDone, Category: wdt.Cancelled}},
		{"rate-limit answer cools every worker down", called(wdt.RateLimited),
			Decision{Action: ActSnooze, Category: wdt.RateLimited, Delay: time.Minute, StartCooldown: true}},
		{"limiter wait snoozes for the wait, no cooldown", Situation{Category: wdt.RateLimited, Wait: 1500 * time.Millisecond, Limit: 20},
			Decision{Action: ActSnooze, Category: wdt.RateLimited, Delay: 1500 * time.Millisecond}},
		{"clock skew a resync did not cure snoozes", called(wdt.ClockSkew),
			Decision{Action: ActSnooze, Category: wdt.ClockSkew, Delay: 5 * time.Second}},
		{"configuration fault holds", called(wdt.Config),
			Decision{Action: ActHold, Category: wdt.Config, Delay: 5 * time.Minute}},
		{"configuration fault on the last retry still holds", with(called(wdt.Config), func(s *Situation) { s.Retried = 19 }),
			Decision{Action: ActHold, Category: wdt.Config, Delay: 5 * time.Minute}},
		{"redis trouble snoozes without a retry", Situation{Category: wdt.Redis, Limit: 20},
			Decision{Action: ActSnooze, Category: wdt.Redis, Delay: 5 * time.Second}},
		{"redis trouble on the last retry still snoozes", Situation{Category: wdt.Redis, Retried: 19, Limit: 20},
			Decision{Action: ActSnooze, Category: wdt.Redis, Delay: 5 * time.Second}},
		{"malformed payload is dead", Situation{Category: wdt.Invalid, Limit: 20},
			Decision{Action: ActDead, Category: wdt.Invalid}},
		{"request not sent uses a retry", called(wdt.Network),
			Decision{Action: ActRetry, Category: wdt.Network}},
		{"unknown outcome uses a retry", called(wdt.UnknownOutcome),
			Decision{Action: ActRetry, Category: wdt.UnknownOutcome}},
		{"network failure with the breaker open is held", with(called(wdt.Network), func(s *Situation) { s.BreakerOpen = true }),
			Decision{Action: ActHold, Category: wdt.Network, Delay: 10 * time.Minute, Note: "circuit breaker open: the WDT endpoint is failing for every order"}},
		{"unknown outcome with the breaker open is held, even on the last retry", with(called(wdt.UnknownOutcome), func(s *Situation) { s.BreakerOpen = true; s.Retried = 19 }),
			Decision{Action: ActHold, Category: wdt.UnknownOutcome, Delay: 10 * time.Minute, Note: "circuit breaker open: the WDT endpoint is failing for every order"}},
		{"not called because the breaker is open: held", Situation{Category: wdt.Network, BreakerOpen: true, Retried: 19, Limit: 20},
			Decision{Action: ActHold, Category: wdt.Network, Delay: 10 * time.Minute, Note: "circuit breaker open: the WDT endpoint is failing for every order"}},
		{"last network failure exhausts, clean", with(called(wdt.Network), func(s *Situation) { s.Retried = 19 }),
			Decision{Action: ActDead, Category: wdt.Exhausted}},
		{"last network failure after an unknown outcome exhausts, ambiguous", with(called(wdt.Network), func(s *Situation) { s.Retried = 19; s.Unknown = true }),
			Decision{Action: ActDead, Category: wdt.Exhausted, Ambiguous: true}},
		{"last unknown outcome exhausts, ambiguous", with(called(wdt.UnknownOutcome), func(s *Situation) { s.Retried = 19 }),
			Decision{Action: ActDead, Category: wdt.Exhausted, Ambiguous: true}},
		{"a task's own smaller budget counts", with(called(wdt.UnknownOutcome), func(s *Situation) { s.Retried = 2; s.Limit = 3 }),
			Decision{Action: ActDead, Category: wdt.Exhausted, Ambiguous: true}},
		{"a category the table does not know is an unknown outcome", called(wdt.Category("something_new")),
			Decision{Action: ActRetry, Category: wdt.UnknownOutcome}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.in, d); got != tt.want {
				t.Errorf("Decide(%+v)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestNeedsMemory: the handler reads the outcome memory exactly when the
// decision can be a dead letter that depends on it.
func TestNeedsMemory(t *testing.T) {
	tests := []struct {
		in   Situation
		want bool
	}{
		{Situation{Category: wdt.Rejected, Called: true, Limit: 20}, true},
		{Situation{Category: wdt.Cancelled, Called: true, Limit: 20}, false},
		{Situation{Category: wdt.UnknownOutcome, Called: true, Retried: 5, Limit: 20}, false},
		{Situation{Category: wdt.UnknownOutcome, Called: true, Retried: 19, Limit: 20}, true},
		{Situation{Category: wdt.Network, Called: true, Retried: 19, Limit: 20}, true},
		{Situation{Category: wdt.Network, Called: true, Retried: 19, Limit: 20, BreakerOpen: true}, false},
		{Situation{Category: wdt.Network, Retried: 19, Limit: 20, BreakerOpen: true}, false},
		{Situation{Category: wdt.Config, Called: true, Retried: 19, Limit: 20}, false},
	}
	for _, tt := range tests {
		if got := NeedsMemory(tt.in); got != tt.want {
			t.Errorf("NeedsMemory(%+v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	// Every situation Decide turns into a dead letter that reads Confirmed
	// or Unknown must be one NeedsMemory asks for.
	for _, cat := range append(wdt.Categories, wdt.Redis) {
		for _, retried := range []int{0, 19} {
			for _, open := range []bool{false, true} {
				s := Situation{Category: cat, Called: true, Retried: retried, Limit: 20, BreakerOpen: open}
				plain := Decide(s, Delays{})
				s.Unknown, s.Confirmed = true, true
				informed := Decide(s, Delays{})
				if plain != informed && !NeedsMemory(s) {
					t.Errorf("%+v: the decision depends on the outcome memory but NeedsMemory says no", s)
				}
			}
		}
	}
}

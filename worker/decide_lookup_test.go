package worker

import (
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
)

// TestDecideVerified is the verified column of the outcome table: every
// lookup answer (and failure) after a rejection and after an exhausted
// sequence, with and without the outcome memory's doubts.
func TestDecideVerified(t *testing.T) {
	d := Delays{Cooldown: time.Minute, ClockSkew: 5 * time.Second, ConfigHold: 5 * time.Minute, BreakerHold: 10 * time.Minute, Redis: 5 * time.Second}
	found := func(st qimen.OrderStatus) *Looked { return &Looked{Found: true, Status: st} }
	rejected := func(l *Looked, f ...func(*Situation)) Situation {
		s := Situation{Category: wdt.Rejected, Called: true, Limit: 20, Lookup: l}
		for _, fn := range f {
			fn(&s)
		}
		return s
	}
	exhausted := func(l *Looked, f ...func(*Situation)) Situation {
		s := Situation{Category: wdt.UnknownOutcome, Called: true, Unknown: true, Retried: 19, Limit: 20, Lookup: l}
		for _, fn := range f {
			fn(&s)
		}
		return s
	}
	unknown := func(s *Situation) { s.Unknown = true }
	lost := func(s *Situation) { s.MemoryIncomplete = true }
	lastRetry := func(s *Situation) { s.Retried = 19 }
	notFound := Decision{Action: ActDead, Category: wdt.NotFound, Verified: true, Note: "looked up: WDT holds no order of this number modified in the lookup's window"}
	ours := Decision{Action: ActDone, Category: wdt.Cancelled, Verified: true, Note: "looked up: the order is cancelled (by a call of ours whose answer was lost or refused)"}
	before := Decision{Action: ActDone, Category: wdt.AlreadyCancelled, Verified: true, Note: "looked up: the order was cancelled before this task was enqueued"}
	state := func(st qimen.OrderStatus) Decision {
		return Decision{Action: ActDead, Category: wdt.Rejected, Verified: true, Note: "looked up: the order is in state " + st.String() + ", which cannot be cancelled"}
	}
	retryEditable := Decision{Action: ActRetry, Category: wdt.Rejected, Verified: true, Note: editableNote}

	tests := []struct {
		name string
		in   Situation
		want Decision
	}{
		{"rejected, cancelled after the task: ours", rejected(found(qimen.StatusCancelled)), ours},
		{"rejected after an unknown outcome, cancelled: done, not ambiguous", rejected(found(qimen.StatusCancelled), unknown), ours},
		{"rejected after a Redis loss, cancelled: the lookup wins over the memory", rejected(found(qimen.StatusCancelled), lost), ours},
		{"rejected, cancelled before the task: already_cancelled", rejected(&Looked{Found: true, Status: qimen.StatusCancelled, BeforeTask: true}), before},
		{"rejected, editing: retry", rejected(found(qimen.StatusEditing)), retryEditable},
		{"rejected, awaiting review: retry", rejected(found(qimen.StatusReview), unknown), retryEditable},
		{"rejected on the last retry, still editable: dead rejected, verified", rejected(found(qimen.StatusEditing), lastRetry),
			Decision{Action: ActDead, Category: wdt.Rejected, Verified: true, Note: "looked up: WDT refused the cancel on the last retry though the order is still 20 editing"}},
		{"rejected, completed", rejected(found(qimen.StatusCompleted)), state(qimen.StatusCompleted)},
		{"rejected after an unknown outcome, completed: clean, verified", rejected(found(qimen.StatusCompleted), unknown), state(qimen.StatusCompleted)},
		{"rejected, awaiting QC", rejected(found(qimen.StatusAwaitingQC)), state(qimen.StatusAwaitingQC)},
		{"rejected, QC confirming", rejected(found(qimen.StatusQCConfirming)), state(qimen.StatusQCConfirming)},
		{"rejected, pending (-2)", rejected(found(qimen.StatusPending), lost), state(qimen.StatusPending)},
		{"rejected, an undocumented state", rejected(found(qimen.OrderStatus(55))), state(qimen.OrderStatus(55))},
		{"rejected, not found", rejected(&Looked{}), notFound},
		{"exhausted, cancelled", exhausted(found(qimen.StatusCancelled)), ours},
		{"exhausted, cancelled before the task", exhausted(&Looked{Found: true, Status: qimen.StatusCancelled, BeforeTask: true}), before},
		{"exhausted, still editing: clean exhausted, verified", exhausted(found(qimen.StatusEditing)),
			Decision{Action: ActDead, Category: wdt.Exhausted, Verified: true, Note: "looked up: the order is still 20 editing, no attempt cancelled it"}},
		{"exhausted, completed", exhausted(found(qimen.StatusCompleted)), state(qimen.StatusCompleted)},
		{"exhausted, not found", exhausted(&Looked{}), notFound},
		{"exhausted on network after a loss, cancelled", exhausted(found(qimen.StatusCancelled), func(s *Situation) { s.Category, s.Unknown, s.MemoryIncomplete = wdt.Network, false, true }), ours},
		// The lookup's own failures.
		{"lookup config fault holds", rejected(&Looked{Failed: wdt.Config}),
			Decision{Action: ActHold, Category: wdt.Config, Delay: 5 * time.Minute, Note: "order lookup: config: fix the qimen settings; tasks wait"}},
		{"lookup config fault on the last retry still holds", exhausted(&Looked{Failed: wdt.Config}),
			Decision{Action: ActHold, Category: wdt.Config, Delay: 5 * time.Minute, Note: "order lookup: config: fix the qimen settings; tasks wait"}},
		{"lookup rate-limited waits, no shared cooldown", rejected(&Looked{Failed: wdt.RateLimited}),
			Decision{Action: ActSnooze, Category: wdt.RateLimited, Delay: time.Minute, Note: "order lookup: rate_limited"}},
		{"lookup clock skew snoozes", rejected(&Looked{Failed: wdt.ClockSkew}),
			Decision{Action: ActSnooze, Category: wdt.ClockSkew, Delay: 5 * time.Second, Note: "order lookup: clock_skew"}},
		{"lookup unknown outcome retries", rejected(&Looked{Failed: wdt.UnknownOutcome}),
			Decision{Action: ActRetry, Category: wdt.UnknownOutcome, Note: "order lookup: unknown_outcome: retry"}},
		{"lookup network failure retries", rejected(&Looked{Failed: wdt.Network}, unknown),
			Decision{Action: ActRetry, Category: wdt.Network, Note: "order lookup: network: retry"}},
		{"lookup failing on the last retry after a clean rejection: ambiguous, never clean", rejected(&Looked{Failed: wdt.UnknownOutcome}, lastRetry),
			Decision{Action: ActDead, Category: wdt.Rejected, Ambiguous: true, Note: lookupFailedNote}},
		{"lookup failing at exhaustion: ambiguous", exhausted(&Looked{Failed: wdt.Network}),
			Decision{Action: ActDead, Category: wdt.Exhausted, Ambiguous: true, Note: lookupFailedNote}},
		// What the lookup does not touch.
		{"a confirmation wins before any lookup", rejected(found(qimen.StatusCompleted), func(s *Situation) { s.Confirmed = true }),
			Decision{Action: ActDone, Category: wdt.Cancelled, Note: "already confirmed cancelled by an earlier attempt"}},
		{"an unknown outcome with retries left just retries", exhausted(found(qimen.StatusCancelled), func(s *Situation) { s.Retried = 3 }),
			Decision{Action: ActRetry, Category: wdt.UnknownOutcome}},
		{"the breaker holds before any lookup", exhausted(found(qimen.StatusCancelled), func(s *Situation) { s.BreakerOpen = true }),
			Decision{Action: ActHold, Category: wdt.UnknownOutcome, Delay: 10 * time.Minute, Note: "circuit breaker open: the WDT endpoint is failing for every order"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.in, d); got != tt.want {
				t.Errorf("Decide(%+v)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestNeedsLookup: the lookup is asked exactly for the dead letters a
// cancel of ours may have reached.
func TestNeedsLookup(t *testing.T) {
	tests := []struct {
		name string
		in   Situation
		want bool
	}{
		{"clean rejection", Situation{Category: wdt.Rejected, Called: true, Limit: 20}, true},
		{"ambiguous rejection", Situation{Category: wdt.Rejected, Called: true, Unknown: true, Limit: 20}, true},
		{"confirmed: done without asking", Situation{Category: wdt.Rejected, Called: true, Confirmed: true, Limit: 20}, false},
		{"status 0", Situation{Category: wdt.Cancelled, Called: true, Limit: 20}, false},
		{"unknown outcome with retries left", Situation{Category: wdt.UnknownOutcome, Called: true, Unknown: true, Retried: 3, Limit: 20}, false},
		{"unknown outcome on the last retry", Situation{Category: wdt.UnknownOutcome, Called: true, Unknown: true, Retried: 19, Limit: 20}, true},
		{"never sent on the last retry: clean exhausted, nothing to settle", Situation{Category: wdt.Network, Called: true, Retried: 19, Limit: 20}, false},
		{"never sent on the last retry after a loss", Situation{Category: wdt.Network, Called: true, Retried: 19, Limit: 20, MemoryIncomplete: true}, true},
		{"breaker open", Situation{Category: wdt.UnknownOutcome, Called: true, Retried: 19, Limit: 20, BreakerOpen: true}, false},
		{"already looked up", Situation{Category: wdt.Rejected, Called: true, Limit: 20, Lookup: &Looked{}}, false},
		{"config", Situation{Category: wdt.Config, Called: true, Limit: 20}, false},
	}
	for _, tt := range tests {
		if got := NeedsLookup(tt.in); got != tt.want {
			t.Errorf("%s: NeedsLookup = %v, want %v", tt.name, got, tt.want)
		}
	}
}

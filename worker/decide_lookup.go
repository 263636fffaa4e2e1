package worker

import (
	"cmp"
	"fmt"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
)

// The verified column of the outcome table (README "Outcomes"): with a
// Qimen lookup configured, a rejection and an exhausted sequence that may
// have applied a cancel are settled by the order's state in WDT instead of
// by what wdtcancel remembers having sent. Still pure: the handler asks the
// lookup (lookup.go) and hands the answer in as Situation.Lookup.

// Looked is what the lookup said about the order.
type Looked struct {
	// Failed is the lookup failure's category (qimen.CategoryOf): Config,
	// RateLimited, ClockSkew, Network or UnknownOutcome; "" when WDT
	// answered. A failed lookup says nothing about the order.
	Failed wdt.Category
	// Found: WDT holds an order of that number modified within the
	// lookup's window; Status is its state.
	Found  bool
	Status qimen.OrderStatus
	// BeforeTask: the order was last modified before the task was
	// enqueued (by a margin, on the same clock), so before any call of
	// ours could have reached it (lookup.go, beforeTask).
	BeforeTask bool
}

// Notes of the verified decisions.
const (
	lookupFailedNote = "the order lookup could not answer, so nothing proves the order was left alone: check it in WDT before re-driving"
	editableNote     = "WDT refused the cancel but the lookup shows the order still editable (a race, or a wrong answer): retry"
)

// NeedsLookup reports whether the lookup settles s: the decision without it
// is a dead letter whose order a cancel of ours may have reached (a
// rejection, or an exhausted sequence with an unknown outcome or a memory
// Redis lost). A clean exhausted (no request ever sent) and everything that
// is not a dead letter need no lookup. The handler asks only when the
// seller has a lookup.
func NeedsLookup(s Situation) bool {
	if s.Lookup != nil {
		return false
	}
	d := Decide(s, Delays{})
	return d.Action == ActDead && (d.Category == wdt.Rejected || (d.Category == wdt.Exhausted && d.Ambiguous))
}

// decideLooked is the verified column. exhausted: the attempt was the last
// of a sequence without a definite answer (not a rejection).
func decideLooked(s Situation, d Delays, exhausted bool) Decision {
	l := s.Lookup
	if l.Failed != "" {
		return lookupFailed(s, d, exhausted)
	}
	last := s.Retried+1 >= s.Limit
	switch {
	case !l.Found:
		return Decision{Action: ActDead, Category: wdt.NotFound, Verified: true,
			Note: "looked up: WDT holds no order of this number modified in the lookup's window"}
	case l.Status == qimen.StatusCancelled && l.BeforeTask:
		return Decision{Action: ActDone, Category: wdt.AlreadyCancelled, Verified: true,
			Note: "looked up: the order was cancelled before this task was enqueued"}
	case l.Status == qimen.StatusCancelled:
		return Decision{Action: ActDone, Category: wdt.Cancelled, Verified: true,
			Note: "looked up: the order is cancelled (by a call of ours whose answer was lost or refused)"}
	case l.Status.Cancellable() && exhausted:
		// Every attempt failed without a definite answer and none of them
		// cancelled the order: a clean give-up, proven.
		return Decision{Action: ActDead, Category: wdt.Exhausted, Verified: true,
			Note: fmt.Sprintf("looked up: the order is still %s, no attempt cancelled it", l.Status)}
	case l.Status.Cancellable() && !last:
		return Decision{Action: ActRetry, Category: wdt.Rejected, Verified: true, Note: editableNote}
	case l.Status.Cancellable():
		return Decision{Action: ActDead, Category: wdt.Rejected, Verified: true,
			Note: fmt.Sprintf("looked up: WDT refused the cancel on the last retry though the order is still %s", l.Status)}
	}
	return Decision{Action: ActDead, Category: wdt.Rejected, Verified: true,
		Note: fmt.Sprintf("looked up: the order is in state %s, which cannot be cancelled", l.Status)}
}

// lookupFailed treats the lookup's own failure like the cancel's: hold for a
// configuration fault, wait out a rate limit or a clock skew, retry the rest
// while retries remain. When none remain the dead letter is ambiguous:
// without the lookup's answer nothing proves the order was left alone, so
// a failure never becomes a clean rejection.
func lookupFailed(s Situation, d Delays, exhausted bool) Decision {
	note := "order lookup: " + string(s.Lookup.Failed)
	switch s.Lookup.Failed {
	case wdt.Config:
		return Decision{Action: ActHold, Category: wdt.Config, Delay: d.ConfigHold, Note: note + ": fix the qimen settings; tasks wait"}
	case wdt.RateLimited:
		// A wait for the seller's own limiter (Wait), or WDT's or Qimen's
		// rate-limit answer (the cooldown's length, without starting the
		// shared cooldown: the cancel's answers decide that).
		return Decision{Action: ActSnooze, Category: wdt.RateLimited, Delay: cmp.Or(s.Wait, d.Cooldown), Note: note}
	case wdt.ClockSkew:
		return Decision{Action: ActSnooze, Category: wdt.ClockSkew, Delay: d.ClockSkew, Note: note}
	}
	if s.Retried+1 < s.Limit {
		return Decision{Action: ActRetry, Category: s.Lookup.Failed, Note: note + ": retry"}
	}
	cat := wdt.Rejected
	if exhausted {
		cat = wdt.Exhausted
	}
	return Decision{Action: ActDead, Category: cat, Ambiguous: true, Note: lookupFailedNote}
}

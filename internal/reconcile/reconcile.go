// Package reconcile is wdtcancel's one correctness check: it holds what the
// WDT sandbox knows happened to each order (its ground truth) against what
// wdtcancel reports (done, dead-lettered with a category and the ambiguous
// flag, still live, or nothing at all), with one set of rules, and returns a
// Verdict: figures and a list of problems.
//
// The demo's summary, the fault suite and the end-to-end test all judge a
// run with Check, so they cannot disagree about what a correct run is. The
// demo ships in the binary: this package must not import testing or any
// test kit; callers gather both views (in process, over HTTP or through the
// CLI) and hand them over as values.
//
// # The rules
//
// An order is editable when WDT lets it be cancelled: state 20 (editing) or
// 30 (awaiting review), as the sandbox's Cancellable says. "Cancelled on wdtcancel's call"
// means the sandbox holds it in state 10 at the end, received at least one
// cancel call for it, and did not hold it in state 10 (or in any other state
// it cannot be cancelled from) at the start. For every number of the run:
//
//  1. wdtcancel holds something on it (RuleLost), and, the run being over,
//     it is done or dead-lettered (RuleUnsettled).
//  2. Done means cancelled on wdtcancel's call (RuleDoneNotCancelled). So an
//     order not editable at the start (10, 37, 40, 80, or a number the
//     sandbox does not hold) is never done.
//  3. Cancelled on wdtcancel's call means done, or dead-lettered with the
//     ambiguous flag; never a clean dead letter, whatever its category
//     (RuleCancelledDeadClean).
//  4. A dead letter of an order whose response the sandbox lost or garbled
//     after applying the call is ambiguous: wdtcancel could not know what
//     that call did (RuleUnsureDeadClean). Unless the record is verified:
//     the order lookup then did know, and rule 3 judges what it claimed.
//  5. A rejection of an order editable at the start means wdtcancel's own
//     call had cancelled it: the sandbox refuses an editable order only once
//     it is cancelled (RuleRejectedEditable). With rule 3 such a dead letter
//     is then ambiguous.
//  6. A clean (not ambiguous) `exhausted` says every attempt failed before
//     the request was sent, so no call reached the order at the sandbox
//     (RuleExhaustedCalled).
//  7. A number of the run is dead-lettered only as `rejected`,
//     `exhausted` or (with the order lookup) `not_found` (RuleCategory):
//     the run enqueued it through wdtcancel's producer, which writes only
//     well-formed payloads, so `invalid` (or any category the worker never
//     dead-letters) is a misfiling.
//  8. With the order lookup (issue 22): done `already_cancelled` means
//     the sandbox held the order cancelled before the run and no call of
//     wdtcancel's cancelled it (RuleAlreadyCancelled); dead `not_found`
//     means the sandbox does not hold the number (RuleNotFound).
//
// # Exhausted
//
// `exhausted` means wdtcancel gave up without a definite answer. It claims
// nothing else about the order, so it is honest unless it hides a
// cancellation, and it has no rule of its own: rule 3 (the dead letter of an
// order the sandbox cancelled is ambiguous) and rule 6 (a clean one says no
// call was sent) judge it. For an editable order that reads: dead
// `exhausted` is acceptable only when ambiguous-flagged or when the sandbox
// never cancelled it (a call that reaches an editable order cancels it, so
// "never cancelled" and "no call reached it" are the same). An order not
// editable at the start may end `exhausted` on the same terms: it could not
// be cancelled, so nothing is hidden, and demanding `rejected` there would
// call misfiled the very give-up accepted for an editable order. (The demo
// used to accept a clean `exhausted` of an order the sandbox had cancelled;
// rule 3 forbids it. The fault suite refused any `exhausted` of an order
// not editable; it now refuses any `exhausted` at all, as a figure, below.)
//
// Giving up is not wrong, but it leaves work undone: Verdict.Exhausted and
// Verdict.NotCancelled count it, and a run that expects every order to get a
// definite answer (the fault suite, whose faults never last a whole retry
// schedule) checks those figures itself.
package reconcile

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/tasks/outcome"
)

// Fate is where wdtcancel says a number stands.
type Fate string

// The fates. Any other value is a live task, named by asynq's state
// ("pending", "active", "scheduled", "retry", or "archived" without a
// dead-letter record).
const (
	Missing Fate = ""     // wdtcancel holds nothing on the number
	Done    Fate = "done" // the task completed: WDT answered 0
	Dead    Fate = "dead" // a dead-letter record
)

// Number is wdtcancel's view of one number.
type Number struct {
	Fate Fate
	// Category and Ambiguous are the dead-letter record's (Dead); for Done,
	// Category is the task result's (cancelled, or already_cancelled when
	// the order lookup found someone else's cancellation; "" when the
	// result names none).
	Category  outcome.Category
	Ambiguous bool
	// Verified: the dead-letter record carries the order lookup's answer
	// (looked_up), so its category rests on WDT's word.
	Verified bool
}

// DeadLetter is the part of a dead-letter record the rules read; its JSON is
// that of `wdtcancel dlq ls --json`.
type DeadLetter struct {
	PreStockinNo string           `json:"pre_stockin_no"`
	Category     outcome.Category `json:"category"`
	Ambiguous    bool             `json:"ambiguous"`
	// LookedUp is the record's looked_up object, when the order lookup
	// answered (only its presence is read). A pointer keeps DeadLetter
	// comparable.
	LookedUp *json.RawMessage `json:"looked_up,omitempty"`
}

// NumberOf is wdtcancel's view of a number from its asynq task (nil when
// asynq holds none) and its dead-letter record (nil when there is none). A
// completed task is done even with a record (the record of an earlier run
// that a requeue has not yet removed); otherwise a record is dead, whatever
// asynq still holds (asynq trims its archive, the dead-letter store is
// durable).
func NumberOf(task *asynq.TaskInfo, rec *DeadLetter) Number {
	switch {
	case task != nil && task.State == asynq.TaskStateCompleted:
		var r struct {
			Category outcome.Category `json:"category"`
		}
		_ = json.Unmarshal(task.Result, &r) // a result that is not JSON names no category
		return Number{Fate: Done, Category: r.Category}
	case rec != nil:
		return Number{Fate: Dead, Category: rec.Category, Ambiguous: rec.Ambiguous, Verified: rec.LookedUp != nil}
	case task != nil:
		return Number{Fate: Fate(task.State.String())}
	}
	return Number{Fate: Missing}
}

// Order is one order as the sandbox holds it at the end of a run, with
// the names GET /_sandbox/orders gives its fields. It has exactly the
// fields of sandbox.Order, so a caller holding the sandbox's orders in
// process converts each with Order(o); reconcile itself stays plumbing that
// imports no side of wdtcancel.
type Order struct {
	PreStockinNo string `json:"pre_stockin_no"`
	Status       int    `json:"status"`
	CancelCalls  int    `json:"cancel_calls"`
	// LostResponses and GarbledResponses count the calls whose answer the
	// sandbox dropped, or garbled, after applying them.
	LostResponses    int  `json:"lost_responses"`
	GarbledResponses int  `json:"garbled_responses"`
	Known            bool `json:"known"`
}

// WDT's pre-stockin states the rules name (docs/wdt-api.md). They are the
// sandbox's StateCancelled, StateEditing and StateReview; reconcile_test
// checks that they agree.
const (
	stateCancelled = 10 // 已取消
	stateEditing   = 20 // 编辑中
	stateReview    = 30 // 待审核
)

// cancellable is the sandbox's Cancellable: WDT cancels an order only in
// editing or awaiting review.
func cancellable(state int) bool { return state == stateEditing || state == stateReview }

// Input is both views of a run.
type Input struct {
	// Nos are the numbers the run enqueued; the verdict covers these, in
	// this order.
	Nos []string

	// Initial and UnknownMissing are how the sandbox began: the orders it
	// was given (sandbox.Options.Orders, the --orders file) and what it
	// makes of a number not among them (sandbox.Options.Unknown: true for
	// UnknownMissing, a document that does not exist; false for the
	// default, an order in editing). A nil Initial means the start is not known: the
	// rules that need it (a state the order could not be cancelled from, a
	// rejection of an editable order) are skipped.
	Initial        map[string]int
	UnknownMissing bool
	// Orders is the sandbox's view at the end: Sandbox.Orders, or
	// GET /_sandbox/orders. A number it lacks is one it does not hold.
	Orders []Order

	// Numbers is wdtcancel's view; a number it lacks is Missing.
	Numbers map[string]Number
}

// Verdict is the outcome of Check: figures, and what is wrong.
type Verdict struct {
	Orders int // numbers reconciled

	// wdtcancel's view.
	Done      int                      // tasks completed (WDT answered 0)
	Dead      int                      // dead-lettered
	DeadBy    map[outcome.Category]int // dead-lettered, by category
	Ambiguous int                      // dead-lettered with the ambiguous flag
	// AmbiguousCancelled are the ambiguous dead letters whose order the
	// sandbox did cancel on wdtcancel's call (whose answer was lost or
	// garbled, or whose worker was killed mid-call).
	AmbiguousCancelled int
	// AlreadyCancelled are the done numbers the order lookup found
	// cancelled before the run (category already_cancelled).
	AlreadyCancelled int
	Lost             int // numbers wdtcancel holds nothing on
	Unsettled        int // numbers still live

	// The sandbox's view.
	Calls              int // cancel calls that reached the orders
	CalledMoreThanOnce int // orders that received more than one
	// CancelledAtSandbox are the orders the sandbox cancelled on
	// wdtcancel's call; each is done or an ambiguous dead letter.
	CancelledAtSandbox int
	// NotCancelled are the orders editable at the start that are not
	// cancelled at the end: the ones wdtcancel gave up on (exhausted).
	NotCancelled int
	// LostOrGarbled are the orders at least one of whose calls the sandbox
	// applied and then lost or garbled the response of; LostOrGarbledDead
	// are those dead-lettered (each must be ambiguous).
	LostOrGarbled, LostOrGarbledDead int

	Problems []Problem
}

// OK reports whether the two views agree.
func (v Verdict) OK() bool { return len(v.Problems) == 0 }

// Exhausted is how many orders wdtcancel gave up on.
func (v Verdict) Exhausted() int { return v.DeadBy[outcome.Exhausted] }

func (v Verdict) String() string {
	return fmt.Sprintf("orders %d, cancelled %d, dead %d (%s; ambiguous %d, of which cancelled at the sandbox %d), calls %d, orders called more than once %d, problems %d",
		v.Orders, v.Done, v.Dead, v.deadText(), v.Ambiguous, v.AmbiguousCancelled, v.Calls, v.CalledMoreThanOnce, len(v.Problems))
}

func (v Verdict) deadText() string {
	if len(v.DeadBy) == 0 {
		return "none"
	}
	var parts []string
	for _, c := range v.Categories() {
		parts = append(parts, fmt.Sprintf("%s %d", c, v.DeadBy[c]))
	}
	return strings.Join(parts, ", ")
}

// Categories lists the dead-letter categories of DeadBy, sorted.
func (v Verdict) Categories() []outcome.Category {
	cats := make([]outcome.Category, 0, len(v.DeadBy))
	for c := range v.DeadBy {
		cats = append(cats, c)
	}
	sort.Slice(cats, func(i, j int) bool { return cats[i] < cats[j] })
	return cats
}

// Rule names the rule a problem breaks (see the package doc).
type Rule string

// The rules.
const (
	RuleLost               Rule = "lost"
	RuleUnsettled          Rule = "unsettled"
	RuleDoneNotCancelled   Rule = "done_not_cancelled"
	RuleCancelledDeadClean Rule = "cancelled_dead_clean"
	RuleUnsureDeadClean    Rule = "unsure_dead_clean"
	RuleRejectedEditable   Rule = "rejected_editable"
	RuleExhaustedCalled    Rule = "exhausted_called"
	RuleCategory           Rule = "category"
	RuleAlreadyCancelled   Rule = "already_cancelled"
	RuleNotFound           Rule = "not_found"
)

// Problem is one number on which the views disagree.
type Problem struct {
	No     string
	Rule   Rule
	Detail string
}

// Kind is the problem's headline: LOST, UNSETTLED, or MISFILED (wdtcancel's
// record contradicts the sandbox).
func (p Problem) Kind() string {
	switch p.Rule {
	case RuleLost:
		return "LOST"
	case RuleUnsettled:
		return "UNSETTLED"
	}
	return "MISFILED"
}

func (p Problem) String() string { return p.Kind() + " " + p.No + ": " + p.Detail }

// Initial-state markers besides the sandbox's states.
const (
	notHeld      = 0  // the sandbox does not hold the number: 单据不存在
	startUnknown = -1 // Input.Initial is nil
)

// Check judges a run.
func Check(in Input) Verdict {
	final := make(map[string]Order, len(in.Orders))
	for _, o := range in.Orders {
		final[o.PreStockinNo] = o
	}
	v := Verdict{Orders: len(in.Nos), DeadBy: map[outcome.Category]int{}}
	for _, no := range in.Nos {
		v.check(no, in.initial(no), final[no], in.Numbers[no])
	}
	return v
}

// initial is the state the sandbox held no in at the start.
func (in Input) initial(no string) int {
	if in.Initial == nil {
		return startUnknown
	}
	if st, ok := in.Initial[no]; ok {
		return st
	}
	if in.UnknownMissing {
		return notHeld
	}
	return stateEditing
}

func stateText(st int) string {
	switch st {
	case notHeld:
		return "not held (单据不存在)"
	case startUnknown:
		return "unknown"
	}
	return fmt.Sprintf("state %d", st)
}

// check applies the rules to one number and adds it to the figures.
func (v *Verdict) check(no string, start int, end Order, n Number) {
	bad := func(r Rule, format string, args ...any) {
		v.Problems = append(v.Problems, Problem{No: no, Rule: r, Detail: fmt.Sprintf(format, args...)})
	}
	editable := cancellable(start)
	f := facts{start: start, end: end, n: n, editable: editable,
		cancelled: end.Status == stateCancelled && end.CancelCalls > 0 && (start == startUnknown || editable),
		unsure:    end.LostResponses+end.GarbledResponses > 0}
	v.countSandbox(f)

	switch n.Fate {
	case Missing:
		v.Lost++
		bad(RuleLost, "wdtcancel holds neither a task nor a dead-letter record (sandbox: %s, %d calls)", stateText(end.Status), end.CancelCalls)
	case Done:
		v.checkDone(f, bad)
	case Dead:
		v.checkDead(f, bad)
	default:
		v.Unsettled++
		bad(RuleUnsettled, "neither done nor dead-lettered: task %s", n.Fate)
	}
}

// facts are what the rules read of one number.
type facts struct {
	start                       int
	end                         Order
	n                           Number
	editable, cancelled, unsure bool
}

type badFunc func(r Rule, format string, args ...any)

// countSandbox adds the sandbox's view of one number to the figures.
func (v *Verdict) countSandbox(f facts) {
	v.Calls += f.end.CancelCalls
	if f.end.CancelCalls > 1 {
		v.CalledMoreThanOnce++
	}
	if f.cancelled {
		v.CancelledAtSandbox++
	}
	if f.editable && f.end.Status != stateCancelled {
		v.NotCancelled++
	}
	if f.unsure {
		v.LostOrGarbled++
	}
}

// checkDone is rules 2 and 8 (already_cancelled).
func (v *Verdict) checkDone(f facts, bad badFunc) {
	v.Done++
	start, end := f.start, f.end
	if f.n.Category == outcome.AlreadyCancelled {
		v.AlreadyCancelled++
		if f.cancelled || end.Status != stateCancelled || (start != startUnknown && start != stateCancelled) {
			bad(RuleAlreadyCancelled, "reported already cancelled by someone else, but the sandbox started it %s, ended it %s, and %d calls reached it",
				stateText(start), stateText(end.Status), end.CancelCalls)
		}
		return
	}
	if !f.cancelled {
		bad(RuleDoneNotCancelled, "reported cancelled, but the sandbox did not cancel it on wdtcancel's call (started %s, ended %s, %d calls)",
			stateText(start), stateText(end.Status), end.CancelCalls)
	}
}

// checkDead is rules 3 to 8 for a dead letter.
func (v *Verdict) checkDead(f facts, bad badFunc) {
	n, end := f.n, f.end
	v.countDead(f)
	checkDeadCategory(f, bad)
	if f.cancelled && !n.Ambiguous {
		bad(RuleCancelledDeadClean, "cancelled at the sandbox, but dead-lettered %s without the ambiguous flag", n.Category)
	}
	if f.unsure && !n.Ambiguous && !n.Verified {
		bad(RuleUnsureDeadClean, "the sandbox applied a call and lost or garbled its response (%d lost, %d garbled), then it was dead-lettered %s without the ambiguous flag",
			end.LostResponses, end.GarbledResponses, n.Category)
	}
	if n.Category == outcome.Rejected && f.editable && !f.cancelled {
		bad(RuleRejectedEditable, "dead-lettered rejected, but it was editable (%s) and the sandbox never cancelled it (ended %s)", stateText(f.start), stateText(end.Status))
	}
	// A verified clean exhausted says the lookup found the order still
	// editable: calls reached the endpoint but none cancelled it, which
	// the sandbox's state confirms (rule 3 catches the opposite).
	if n.Category == outcome.Exhausted && !n.Ambiguous && end.CancelCalls > 0 && !(n.Verified && cancellable(end.Status)) {
		bad(RuleExhaustedCalled, "dead-lettered exhausted without the ambiguous flag, which says no attempt was sent, but %d calls reached it", end.CancelCalls)
	}
}

// countDead adds a dead letter to the figures.
func (v *Verdict) countDead(f facts) {
	v.Dead++
	v.DeadBy[f.n.Category]++
	if f.n.Ambiguous {
		v.Ambiguous++
		if f.cancelled {
			v.AmbiguousCancelled++
		}
	}
	if f.unsure {
		v.LostOrGarbledDead++
	}
}

// checkDeadCategory is rule 7, and rule 8's not_found.
func checkDeadCategory(f facts, bad badFunc) {
	switch f.n.Category {
	case outcome.Rejected, outcome.Exhausted:
	case outcome.NotFound:
		if f.start != notHeld && f.start != startUnknown {
			bad(RuleNotFound, "dead-lettered not_found, but the sandbox held it (%s at the start, %s at the end)", stateText(f.start), stateText(f.end.Status))
		}
	default:
		bad(RuleCategory, "dead-lettered %q: wdtcancel dead-letters a number it enqueued only as rejected, exhausted or not_found", f.n.Category)
	}
}

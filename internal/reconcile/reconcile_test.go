package reconcile

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/tasks/outcome"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestAgreesWithSandbox holds reconcile's plain values to the sandbox's:
// an Order is a sandbox.Order field for field (the conversion compiles, and
// the JSON of one reads as the other), and the states and Cancellable are
// WDT's as the sandbox has them.
func TestAgreesWithSandbox(t *testing.T) {
	want := sandbox.Order{PreStockinNo: "A1", Status: 30, CancelCalls: 2, LostResponses: 1, GarbledResponses: 3, Known: true}
	if got := Order(want); got != (Order{PreStockinNo: "A1", Status: 30, CancelCalls: 2, LostResponses: 1, GarbledResponses: 3, Known: true}) {
		t.Errorf("Order(%+v) = %+v", want, got)
	}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got Order
	if err := json.Unmarshal(b, &got); err != nil || got != Order(want) {
		t.Errorf("the sandbox's JSON %s reads as %+v (%v), want %+v", b, got, err, Order(want))
	}
	states := []struct{ ours, theirs int }{{stateCancelled, sandbox.StateCancelled}, {stateEditing, sandbox.StateEditing}, {stateReview, sandbox.StateReview}}
	for _, s := range states {
		if s.ours != s.theirs {
			t.Errorf("state %d here, %d in the sandbox", s.ours, s.theirs)
		}
	}
	for st := -2; st <= 100; st++ {
		if cancellable(st) != sandbox.Cancellable(st) {
			t.Errorf("state %d: cancellable %v here, %v in the sandbox", st, cancellable(st), sandbox.Cancellable(st))
		}
	}
}

// sb is a sandbox order at the end of a run.
func sb(status, calls, lost, garbled int) *Order {
	return &Order{Status: status, CancelCalls: calls, LostResponses: lost, GarbledResponses: garbled, Known: true}
}

var (
	done           = Number{Fate: Done}
	deadRejected   = Number{Fate: Dead, Category: outcome.Rejected}
	deadRejectedA  = Number{Fate: Dead, Category: outcome.Rejected, Ambiguous: true}
	deadExhausted  = Number{Fate: Dead, Category: outcome.Exhausted}
	deadExhaustedA = Number{Fate: Dead, Category: outcome.Exhausted, Ambiguous: true}
)

// TestRules is the rule set, one row per case: where the order started,
// where the sandbox left it, what wdtcancel says, and the rules broken.
func TestRules(t *testing.T) {
	const unlisted = -2 // not in Initial: the sandbox does not hold it
	tests := []struct {
		name  string
		start int            // initial state; unlisted = not among the orders
		end   *Order         // nil: the sandbox does not hold it at the end
		n     Number         // wdtcancel's view
		want  []Rule         // problems
		check func(*Verdict) // figures, when it matters
	}{
		// Editable orders.
		{"editable, done", 20, sb(10, 1, 0, 0), done, nil, func(v *Verdict) {
			if v.Done != 1 || v.CancelledAtSandbox != 1 || v.Calls != 1 || v.NotCancelled != 0 {
				t.Errorf("%+v", v)
			}
		}},
		{"awaiting review, done", 30, sb(10, 1, 0, 0), done, nil, nil},
		{"editable, done after a lost answer and a confirmed retry", 20, sb(10, 2, 1, 0), done, nil, func(v *Verdict) {
			if v.CalledMoreThanOnce != 1 || v.LostOrGarbled != 1 || v.LostOrGarbledDead != 0 {
				t.Errorf("%+v", v)
			}
		}},
		{"editable, lost answer, then rejected, ambiguous", 20, sb(10, 2, 1, 0), deadRejectedA, nil, func(v *Verdict) {
			if v.Ambiguous != 1 || v.AmbiguousCancelled != 1 || v.LostOrGarbledDead != 1 || v.DeadBy[outcome.Rejected] != 1 {
				t.Errorf("%+v", v)
			}
		}},
		{"editable, garbled answer, then rejected, ambiguous", 30, sb(10, 2, 0, 1), deadRejectedA, nil, nil},
		{"editable, lost answer, then rejected clean", 20, sb(10, 2, 1, 0), deadRejected, []Rule{RuleCancelledDeadClean, RuleUnsureDeadClean}, nil},
		{"editable, killed mid-call, rejected clean", 20, sb(10, 2, 0, 0), deadRejected, []Rule{RuleCancelledDeadClean}, nil},
		{"editable, killed mid-call, rejected ambiguous", 20, sb(10, 2, 0, 0), deadRejectedA, nil, nil},
		{"editable, rejected though the sandbox never cancelled it", 20, sb(20, 0, 0, 0), deadRejectedA, []Rule{RuleRejectedEditable}, nil},
		{"editable, rejected clean though never cancelled", 20, sb(20, 0, 0, 0), deadRejected, []Rule{RuleRejectedEditable}, nil},
		{"editable, reported done but still editable", 20, sb(20, 0, 0, 0), done, []Rule{RuleDoneNotCancelled}, nil},
		{"editable, reported done, never called", 20, sb(10, 0, 0, 0), done, []Rule{RuleDoneNotCancelled}, nil},

		// The order lookup's categories (issue 22).
		{"cancelled before the run, done already_cancelled", 10, sb(10, 1, 0, 0), Number{Fate: Done, Category: outcome.AlreadyCancelled}, nil, func(v *Verdict) {
			if v.AlreadyCancelled != 1 || v.Done != 1 {
				t.Errorf("%+v", v)
			}
		}},
		{"cancelled on our call, filed already_cancelled", 20, sb(10, 1, 0, 0), Number{Fate: Done, Category: outcome.AlreadyCancelled}, []Rule{RuleAlreadyCancelled}, nil},
		{"completed, filed already_cancelled", 80, sb(80, 1, 0, 0), Number{Fate: Done, Category: outcome.AlreadyCancelled}, []Rule{RuleAlreadyCancelled}, nil},
		{"not held, dead not_found", unlisted, nil, Number{Fate: Dead, Category: outcome.NotFound, Verified: true}, nil, nil},
		{"held, dead not_found", 80, sb(80, 1, 0, 0), Number{Fate: Dead, Category: outcome.NotFound, Verified: true}, []Rule{RuleNotFound}, nil},
		{"editable, verified clean exhausted, calls reached but never cancelled", 20, sb(20, 2, 0, 0), Number{Fate: Dead, Category: outcome.Exhausted, Verified: true}, nil, nil},
		{"editable, verified clean exhausted, yet cancelled", 20, sb(10, 2, 1, 0), Number{Fate: Dead, Category: outcome.Exhausted, Verified: true},
			[]Rule{RuleCancelledDeadClean, RuleExhaustedCalled}, nil},
		{"completed, a lost answer, verified clean rejection", 80, sb(80, 2, 1, 0), Number{Fate: Dead, Category: outcome.Rejected, Verified: true}, nil, nil},
		{"done cancelled with a result category", 20, sb(10, 1, 0, 0), Number{Fate: Done, Category: outcome.Cancelled}, nil, nil},

		// Exhausted: honest unless it hides a cancellation.
		{"editable, exhausted clean, never reached (network only)", 20, sb(20, 0, 0, 0), deadExhausted, nil, func(v *Verdict) {
			if v.NotCancelled != 1 || v.Exhausted() != 1 || v.CancelledAtSandbox != 0 {
				t.Errorf("%+v", v)
			}
		}},
		{"editable, exhausted ambiguous, never reached (gateway pages)", 20, sb(20, 0, 0, 0), deadExhaustedA, nil, nil},
		{"editable, exhausted ambiguous, cancelled by a lost call", 20, sb(10, 3, 3, 0), deadExhaustedA, nil, func(v *Verdict) {
			if v.AmbiguousCancelled != 1 || v.NotCancelled != 0 {
				t.Errorf("%+v", v)
			}
		}},
		{"editable, exhausted clean, cancelled by a lost call", 20, sb(10, 3, 3, 0), deadExhausted,
			[]Rule{RuleCancelledDeadClean, RuleUnsureDeadClean, RuleExhaustedCalled}, nil},
		{"completed, exhausted ambiguous, every answer lost", 80, sb(80, 2, 2, 0), deadExhaustedA, nil, nil},
		{"completed, exhausted clean after calls reached it", 80, sb(80, 2, 0, 0), deadExhausted, []Rule{RuleExhaustedCalled}, nil},
		{"completed, exhausted clean, never reached", 80, sb(80, 0, 0, 0), deadExhausted, nil, nil},

		// Orders not editable at the start.
		{"completed, rejected", 80, sb(80, 1, 0, 0), deadRejected, nil, func(v *Verdict) {
			if v.NotCancelled != 0 || v.CancelledAtSandbox != 0 {
				t.Errorf("%+v", v)
			}
		}},
		{"quality check, rejected", 40, sb(40, 1, 0, 0), deadRejected, nil, nil},
		{"completed, reported done", 80, sb(80, 1, 0, 0), done, []Rule{RuleDoneNotCancelled}, nil},
		{"already cancelled, reported done", 10, sb(10, 1, 0, 0), done, []Rule{RuleDoneNotCancelled}, nil},
		{"already cancelled, rejected", 10, sb(10, 1, 0, 0), deadRejected, nil, func(v *Verdict) {
			if v.CancelledAtSandbox != 0 {
				t.Errorf("an order cancelled before the run counted as cancelled by it: %+v", v)
			}
		}},
		{"completed, lost answer, then rejected ambiguous", 80, sb(80, 2, 1, 0), deadRejectedA, nil, nil},
		{"completed, lost answer, then rejected clean", 80, sb(80, 2, 1, 0), deadRejected, []Rule{RuleUnsureDeadClean}, nil},
		{"not held, rejected", unlisted, nil, deadRejected, nil, nil},
		{"not held, reported done", unlisted, nil, done, []Rule{RuleDoneNotCancelled}, nil},

		// Categories wdtcancel never gives a number it enqueued.
		{"editable, dead invalid", 20, sb(20, 0, 0, 0), Number{Fate: Dead, Category: outcome.Invalid}, []Rule{RuleCategory}, nil},
		{"completed, dead config", 80, sb(80, 0, 0, 0), Number{Fate: Dead, Category: outcome.Config}, []Rule{RuleCategory}, nil},

		// Nothing lost, everything settled.
		{"missing", 20, sb(20, 0, 0, 0), Number{}, []Rule{RuleLost}, func(v *Verdict) {
			if v.Lost != 1 || v.Done+v.Dead != 0 {
				t.Errorf("%+v", v)
			}
		}},
		{"missing after the call", 20, sb(10, 1, 0, 0), Number{}, []Rule{RuleLost}, nil},
		{"still retrying", 20, sb(20, 0, 0, 0), Number{Fate: "retry"}, []Rule{RuleUnsettled}, func(v *Verdict) {
			if v.Unsettled != 1 {
				t.Errorf("%+v", v)
			}
		}},
		{"archived without a record", 80, sb(80, 1, 0, 0), Number{Fate: "archived"}, []Rule{RuleUnsettled}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const no = "RK1"
			in := Input{Nos: []string{no}, Initial: map[string]int{}, UnknownMissing: true, Numbers: map[string]Number{no: tt.n}}
			if tt.start != unlisted {
				in.Initial[no] = tt.start
			}
			if tt.end != nil {
				o := *tt.end
				o.PreStockinNo = no
				in.Orders = []Order{o}
			}
			v := Check(in)
			var got []Rule
			for _, p := range v.Problems {
				got = append(got, p.Rule)
				if p.No != no || p.Detail == "" {
					t.Errorf("problem %+v", p)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rules broken %v, want %v: %v", got, tt.want, v.Problems)
			}
			if v.OK() != (len(tt.want) == 0) {
				t.Errorf("OK() = %v with %d problems", v.OK(), len(v.Problems))
			}
			if v.Orders != 1 || v.Done+v.Dead+v.Lost+v.Unsettled != 1 {
				t.Errorf("figures do not add up: %+v", v)
			}
			if tt.check != nil {
				tt.check(&v)
			}
		})
	}
}

// TestUnknownStart: without the initial states the rules that need them
// are skipped, and "cancelled on wdtcancel's call" is read from the end
// alone.
func TestUnknownStart(t *testing.T) {
	in := Input{
		Nos: []string{"A", "B", "C", "D"},
		Orders: []Order{
			{PreStockinNo: "A", Status: 10, CancelCalls: 1},
			{PreStockinNo: "B", Status: 20},
			{PreStockinNo: "C", Status: 80, CancelCalls: 1},
			{PreStockinNo: "D", Status: 10, CancelCalls: 2, LostResponses: 1},
		},
		Numbers: map[string]Number{"A": done, "B": deadRejectedA, "C": deadRejected, "D": deadRejected},
	}
	v := Check(in)
	if len(v.Problems) != 2 || v.Problems[0].No != "D" || v.Problems[0].Rule != RuleCancelledDeadClean || v.Problems[1].Rule != RuleUnsureDeadClean {
		t.Fatalf("%v", v.Problems)
	}
	if v.CancelledAtSandbox != 2 || v.NotCancelled != 0 {
		t.Fatalf("%+v", v)
	}
}

// TestUnknownEditing: under --unknown editing an unlisted number started
// editable.
func TestUnknownEditing(t *testing.T) {
	in := Input{
		Nos:     []string{"X"},
		Initial: map[string]int{},
		Orders:  []Order{{PreStockinNo: "X", Status: 20}},
		Numbers: map[string]Number{"X": deadRejected},
	}
	if v := Check(in); len(v.Problems) != 1 || v.Problems[0].Rule != RuleRejectedEditable || v.NotCancelled != 1 {
		t.Fatalf("%+v", v)
	}
}

func TestVerdictText(t *testing.T) {
	in := Input{
		Nos:     []string{"A", "B", "C"},
		Initial: map[string]int{"A": 20, "B": 20, "C": 80},
		Orders: []Order{
			{PreStockinNo: "A", Status: 10, CancelCalls: 1},
			{PreStockinNo: "B", Status: 10, CancelCalls: 2, LostResponses: 1},
			{PreStockinNo: "C", Status: 80, CancelCalls: 1},
		},
		Numbers: map[string]Number{"A": done, "B": deadRejectedA, "C": deadRejected},
	}
	v := Check(in)
	want := "orders 3, cancelled 1, dead 2 (rejected 2; ambiguous 1, of which cancelled at the sandbox 1), calls 4, orders called more than once 1, problems 0"
	if v.String() != want {
		t.Fatalf("%s\nwant %s", v, want)
	}
	p := Problem{No: "A", Rule: RuleLost, Detail: "gone"}
	if p.String() != "LOST A: gone" || (Problem{Rule: RuleCategory}).Kind() != "MISFILED" {
		t.Fatal(p.String())
	}
}

func TestNumberOf(t *testing.T) {
	rec := &DeadLetter{PreStockinNo: "A", Category: outcome.Rejected, Ambiguous: true}
	tests := []struct {
		name string
		task *asynq.TaskInfo
		rec  *DeadLetter
		want Number
	}{
		{"nothing", nil, nil, Number{}},
		{"completed", &asynq.TaskInfo{State: asynq.TaskStateCompleted}, nil, done},
		{"completed with an old record", &asynq.TaskInfo{State: asynq.TaskStateCompleted}, rec, done},
		{"archived with a record", &asynq.TaskInfo{State: asynq.TaskStateArchived}, rec, deadRejectedA},
		{"record, archive trimmed", nil, rec, deadRejectedA},
		{"retrying", &asynq.TaskInfo{State: asynq.TaskStateRetry}, nil, Number{Fate: "retry"}},
		{"archived without a record", &asynq.TaskInfo{State: asynq.TaskStateArchived}, nil, Number{Fate: "archived"}},
	}
	for _, tt := range tests {
		if got := NumberOf(tt.task, tt.rec); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestNumberOfReadsVerified: a completed task's result names its category,
// and a record with looked_up is verified.
func TestNumberOfReadsVerified(t *testing.T) {
	tests := []struct {
		name string
		task *asynq.TaskInfo
		rec  *DeadLetter
		want Number
	}{
		{"status 0 result", &asynq.TaskInfo{State: asynq.TaskStateCompleted, Result: []byte(`{"category":"cancelled","calls":1,"attempt":1}`)}, nil, Number{Fate: Done, Category: outcome.Cancelled}},
		{"looked-up result", &asynq.TaskInfo{State: asynq.TaskStateCompleted, Result: []byte(`{"category":"already_cancelled","calls":1,"attempt":1,"looked_up":{"found":true}}`)}, nil, Number{Fate: Done, Category: outcome.AlreadyCancelled}},
		{"bare-word result", &asynq.TaskInfo{State: asynq.TaskStateCompleted, Result: []byte(`cancelled`)}, nil, Number{Fate: Done}},
		{"record with looked_up", nil, &DeadLetter{Category: outcome.Rejected, LookedUp: rawJSON(`{"found":true,"status":80}`)}, Number{Fate: Dead, Category: outcome.Rejected, Verified: true}},
		{"record without", nil, &DeadLetter{Category: outcome.Rejected, Ambiguous: true}, Number{Fate: Dead, Category: outcome.Rejected, Ambiguous: true}},
	}
	for _, tt := range tests {
		if got := NumberOf(tt.task, tt.rec); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func rawJSON(s string) *json.RawMessage { r := json.RawMessage(s); return &r }

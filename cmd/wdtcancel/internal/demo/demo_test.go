package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/wdtcancel/wdtcancel/internal/reconcile"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemoReconciles runs the demo end to end on the embedded Redis and
// checks that the worker's account agrees with the sandbox's ground truth.
func TestDemoReconciles(t *testing.T) {
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{Orders: 60, Listen: "127.0.0.1:0", SandboxListen: "127.0.0.1:0", Seed: 7, ExitWhenDone: true, Out: &out, NoLookup: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !sum.OK() {
		t.Fatalf("mismatch: %v\n%s", sum.Problems, out.String())
	}
	if sum.Done+sum.Dead != sum.Orders {
		t.Fatalf("%d cancelled + %d dead != %d orders", sum.Done, sum.Dead, sum.Orders)
	}
	// 70% editable and 10% awaiting review: each is confirmed, or dead
	// ambiguous after the sandbox cancelled it on a call whose answer was
	// lost; none is given up at these fault rates.
	if sum.NotCancelled != 0 || sum.Done+sum.AmbiguousCancelled != sum.Mix[KindEditable]+sum.Mix[KindReview] {
		t.Fatalf("summary %+v", sum)
	}
	if sum.ClockCorrections < 1 {
		t.Fatalf("the sandbox's +200s clock was never corrected: %+v", sum)
	}
	for _, want := range []string{"asynqmon  http://", "/monitoring/", "summary after", "reconciled:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestDemoWithLookup: with the order lookup (the demo's default), every
// doubtful outcome is settled by the order's state: no ambiguous dead
// letter, every editable order done, the pre-cancelled ones already
// cancelled, the unknown numbers not_found, and the sandbox agrees.
func TestDemoWithLookup(t *testing.T) {
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{Orders: 60, Listen: "127.0.0.1:0", SandboxListen: "127.0.0.1:0", Seed: 7, ExitWhenDone: true, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !sum.OK() {
		t.Fatalf("mismatch: %v\n%s", sum.Problems, out.String())
	}
	if sum.Ambiguous != 0 || sum.Lookups == 0 || !sum.Lookup {
		t.Fatalf("with the lookup: %d ambiguous, %d lookups\n%s", sum.Ambiguous, sum.Lookups, out.String())
	}
	if sum.Done-sum.AlreadyCancelled != sum.Mix[KindEditable]+sum.Mix[KindReview] || sum.AlreadyCancelled != sum.Mix[KindCancelled] ||
		sum.DeadBy[wdt.NotFound] != sum.Mix[KindUnknown] || sum.DeadBy[wdt.Rejected] != sum.Mix[KindCompleted] {
		t.Fatalf("summary %+v\n%s", sum, out.String())
	}
	if !strings.Contains(out.String(), "already cancelled before the task (looked up)") {
		t.Errorf("output lacks the looked-up line:\n%s", out.String())
	}
}

// TestPrintSummary: a disagreement is printed as MISMATCH with each
// problem; orders given up are named with the way to re-drive them.
func TestPrintSummary(t *testing.T) {
	var out bytes.Buffer
	s := &Summary{Verdict: reconcile.Check(reconcile.Input{
		Nos:     []string{"A", "B"},
		Initial: map[string]int{"A": 20, "B": 20},
		Orders:  []reconcile.Order{{PreStockinNo: "A", Status: 10, CancelCalls: 2, LostResponses: 1}, {PreStockinNo: "B", Status: 20}},
		Numbers: map[string]reconcile.Number{
			"A": {Fate: reconcile.Dead, Category: wdt.Rejected},
			"B": {Fate: reconcile.Dead, Category: wdt.Exhausted},
		},
	})}
	printSummary(&out, s)
	for _, want := range []string{"dead-lettered exhausted", "MISMATCH between wdtcancel and the sandbox (2):", "MISFILED A: cancelled at the sandbox"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	s.Problems = nil
	out.Reset()
	printSummary(&out, s)
	if !strings.Contains(out.String(), "reconciled:") || !strings.Contains(out.String(), "still editable at the sandbox: 1;") {
		t.Errorf("output:\n%s", out.String())
	}
}

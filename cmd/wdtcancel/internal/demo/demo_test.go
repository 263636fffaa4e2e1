package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemoReconciles runs the demo end to end on the embedded Redis and
// checks that the worker's account agrees with the sandbox's ground truth.
func TestDemoReconciles(t *testing.T) {
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{Orders: 60, Listen: "127.0.0.1:0", SandboxListen: "127.0.0.1:0", Seed: 7, ExitWhenDone: true, Out: &out})
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

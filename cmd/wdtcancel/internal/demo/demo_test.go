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
	if len(sum.Problems) > 0 {
		t.Fatalf("mismatch: %v\n%s", sum.Problems, out.String())
	}
	dead := 0
	for _, n := range sum.Dead {
		dead += n
	}
	if sum.Cancelled+dead != sum.Orders {
		t.Fatalf("%d cancelled + %d dead != %d orders", sum.Cancelled, dead, sum.Orders)
	}
	// 70% editable and 10% awaiting review: at least those minus the ones
	// whose response was lost are confirmed.
	if sum.Cancelled+sum.AmbiguousCancelled != sum.Mix[KindEditable]+sum.Mix[KindReview] {
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

package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// "-" as an argument is stdin, as the help says, not an order named "-".
func TestEnqueueDashArgumentReadsStdin(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	out, errOut, code := runCmd(t, ctx, "RK1\nRK2\n", "enqueue", "--redis-url", r.URL(), "--json", "-", "RK3")
	if code != exitOK {
		t.Fatalf("exit %d stderr %s", code, errOut)
	}
	var sum struct {
		Enqueued, Invalid int
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Enqueued != 3 || sum.Invalid != 0 {
		t.Fatalf("want RK1, RK2 (stdin) and RK3 enqueued: %s", out)
	}
	// Named twice (argument and --file -), stdin is read once.
	out, errOut, code = runCmd(t, ctx, "RK4\n", "enqueue", "--redis-url", r.URL(), "--json", "--file", "-", "-")
	if code != exitOK {
		t.Fatalf("exit %d stderr %s out %s", code, errOut, out)
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Enqueued != 1 {
		t.Fatalf("want RK4 enqueued once: %s", out)
	}
	st, _, code := runCmd(t, ctx, "", "status", "--redis-url", r.URL(), "--json", "RK1")
	if code != exitOK {
		t.Fatalf("RK1 not enqueued: %s", st)
	}
}

package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// TestStrays: tasks enqueued for a typo (with --allow-unknown-seller, as
// before the check existed) are listed, moved to the right seller with
// their numbers and source, or dropped only with --yes; a served seller is
// refused while a worker runs for it.
func TestStrays(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	url := r.URL()
	announceSellers(t, r, "acme")
	run := func(wantCode int, args ...string) string {
		t.Helper()
		out, errOut, code := runCmd(t, ctx, "", append(args, "--redis-url", url)...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d; out %q err %q", args, code, wantCode, out, errOut)
		}
		return out + errOut
	}
	run(exitOK, "enqueue", "--seller", "acne", "--allow-unknown-seller", "--source", "erp-7", "RK1", "RK2")
	run(exitOK, "enqueue", "--seller", "acme", "RK9")
	// acme's worker runs until the refusals are checked (what it fetches
	// fails and waits in the retry set).
	stop := serveQueues(t, r, failTask, tasks.QueueFor(tasks.DefaultQueue, "acme"))

	var list []strayQueue
	if err := json.Unmarshal([]byte(run(exitOK, "strays", "ls", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Seller != "acne" || list[0].Queue != "wdt-cancel:acne" || list[0].Pending != 2 {
		t.Fatalf("strays ls: %+v", list)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a served seller", []string{"strays", "drop", "--seller", "acme", "--yes"}, "not strays"},
		{"drop without --yes", []string{"strays", "drop", "--seller", "acne"}, "add --yes"},
		{"move to an unannounced seller", []string{"strays", "move", "--seller", "acne", "--to", "acmee"}, "--allow-unknown-seller"},
		{"move onto itself", []string{"strays", "move", "--seller", "acne", "--to", "acne"}, "is --seller itself"},
		{"no seller", []string{"strays", "drop", "--yes"}, "--seller"},
	} {
		if out := run(exitUsage, tc.args...); !strings.Contains(out, tc.want) {
			t.Errorf("%s: %q, want it to say %q", tc.name, out, tc.want)
		}
	}
	if _, err := taskIn(t, r, "wdt-cancel:acne", "RK1"); err != nil {
		t.Fatalf("a refused command removed a stray: %v", err)
	}
	stop()

	if out := run(exitOK, "strays", "move", "--seller", "acne", "--to", "acme"); !strings.Contains(out, "moved 2 task(s) from wdt-cancel:acne to wdt-cancel:acme; kept 0") {
		t.Fatalf("move: %q", out)
	}
	for _, no := range []string{"RK1", "RK2"} {
		p, err := taskIn(t, r, tasks.QueueFor(tasks.DefaultQueue, "acme"), no)
		if err != nil || p.Seller != "acme" || p.Source != "erp-7" {
			t.Fatalf("moved %s: %+v %v", no, p, err)
		}
		if _, err := taskIn(t, r, "wdt-cancel:acne", no); err == nil {
			t.Fatalf("%s is still in the stray queue", no)
		}
	}
	// acme's worker is gone: its queue is listed now, acne's is not.
	if out := run(exitOK, "strays", "ls"); strings.Contains(out, "acne") || !strings.Contains(out, "wdt-cancel:acme") {
		t.Fatalf("ls after move: %q", out)
	}

	run(exitOK, "enqueue", "--seller", "acne", "--allow-unknown-seller", "RK3")
	if out := run(exitOK, "strays", "drop", "--seller", "acne", "--yes"); !strings.Contains(out, "dropped 1 task(s) of wdt-cancel:acne") {
		t.Fatalf("drop: %q", out)
	}
	if _, err := taskIn(t, r, "wdt-cancel:acne", "RK3"); err == nil {
		t.Fatal("RK3 survived drop --yes")
	}
}

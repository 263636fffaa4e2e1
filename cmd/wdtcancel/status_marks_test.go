package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// TestStatusShowsOutcomeMemory: a pending task whose call was sent (a
// shutdown handed it back: no retry used, "attempts: 0") says so through
// its outcome memory; so do an unknown outcome and a confirmed one, and a
// task never called shows no such line.
func TestStatusShowsOutcomeMemory(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	url := r.URL()
	if _, errOut, code := runCmd(t, ctx, "", "enqueue", "--redis-url", url, "RKM1", "RKM2", "RKM3", "RKM4"); code != exitOK {
		t.Fatalf("enqueue: %d %s", code, errOut)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	mem := store.NewOutcomeMemory(rdb, tasks.DefaultQueue)
	defer mem.Close()
	if _, err := mem.Begin(ctx, "RKM1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := mem.Unknown(ctx, "RKM2", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := mem.Cancelled(ctx, "RKM3"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ no, want string }{
		{"RKM1", "outcome memory: a call to WDT was sent and has no answer recorded yet"},
		{"RKM2", "outcome memory: an earlier call's outcome at WDT is unknown"},
		{"RKM3", "outcome memory: WDT confirmed the cancellation"},
		{"RKM4", ""},
	} {
		out, errOut, code := runCmd(t, ctx, "", "status", "--redis-url", url, tc.no)
		if code != exitOK || !strings.Contains(out, "attempts:      0 of") {
			t.Fatalf("%s: exit %d; out %q err %q", tc.no, code, out, errOut)
		}
		if got := lineWith(out, "outcome memory"); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: outcome memory line %q, want %q", tc.no, got, tc.want)
		}
	}
}

package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// serveQueues runs an asynq server fetching from queues, as a worker
// serving those sellers does (its heartbeat lists them), with handler
// running each task; it returns once the heartbeat is there. stop shuts it
// down, which deletes the heartbeat.
func serveQueues(t *testing.T, r *testkit.Redis, handler asynq.HandlerFunc, queues ...string) (stop func()) {
	t.Helper()
	pri := map[string]int{}
	for _, q := range queues {
		pri[q] = 1
	}
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: r.Addr}, asynq.Config{
		Concurrency: 1, Queues: pri, LogLevel: asynq.FatalLevel,
		// Long enough that a failed task stays in the retry set.
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
	})
	if err := srv.Start(handler); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Shutdown()
		}
	}
	t.Cleanup(stop)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	testkit.Until(t, "the server's heartbeat lists its queues", func() bool {
		served, err := store.ServedNow(insp)
		for _, q := range queues {
			if err != nil || !served[q] {
				return false
			}
		}
		return true
	})
	return stop
}

// failTask fails every task, as a call whose answer was lost: it waits in
// the retry set (serveQueues's delay is an hour).
func failTask(context.Context, *asynq.Task) error { return errors.New("answer lost") }

// TestStraysMoveKeepsAttemptedTasks: a stray that was attempted, or whose
// number has outcome memory in its queue (a call sent without a definite
// answer, or a confirmed cancellation), is kept with why and what to do,
// exit 1: moved, it would be called again without that memory and a
// "nothing to cancel" would be filed as a clean rejection of an order the
// first call cancelled. The never-attempted one moves.
func TestStraysMoveKeepsAttemptedTasks(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	url := r.URL()
	announceSellers(t, r, "shop-c", "shop-c2")
	src := tasks.QueueFor(tasks.DefaultQueue, "shop-c")
	dst := tasks.QueueFor(tasks.DefaultQueue, "shop-c2")

	// RK0 is attempted for real by shop-c's "worker" (the answer fails,
	// it goes to retry); then the worker goes away for good.
	if _, errOut, code := runCmd(t, ctx, "", "enqueue", "--seller", "shop-c", "--redis-url", url, "RK0"); code != exitOK {
		t.Fatalf("enqueue RK0: %d %s", code, errOut)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	stop := serveQueues(t, r, failTask, src)
	testkit.Until(t, "RK0 in the retry set", func() bool {
		info, err := insp.GetTaskInfo(src, "RK0")
		return err == nil && info.State == asynq.TaskStateRetry
	})
	stop()

	if _, errOut, code := runCmd(t, ctx, "", "enqueue", "--seller", "shop-c", "--redis-url", url, "RK1", "RK2", "RK3", "RK4"); code != exitOK {
		t.Fatalf("enqueue: %d %s", code, errOut)
	}
	mem := store.NewOutcomeMemory(rdb, src)
	defer mem.Close()
	now := time.Now()
	if _, err := mem.Begin(ctx, "RK1", now); err != nil { // sent, the worker died mid-call
		t.Fatal(err)
	}
	if err := mem.Unknown(ctx, "RK2", now); err != nil { // the answer was lost
		t.Fatal(err)
	}
	if err := mem.Cancelled(ctx, "RK3"); err != nil { // WDT answered 0
		t.Fatal(err)
	}

	out, errOut, code := runCmd(t, ctx, "", "strays", "move", "--seller", "shop-c", "--to", "shop-c2", "--redis-url", url)
	if code != exitPartial {
		t.Fatalf("move: exit %d, want %d (something kept); out %q err %q", code, exitPartial, out, errOut)
	}
	if !strings.Contains(out, "moved 1 task(s) from "+src+" to "+dst+"; kept 4") {
		t.Fatalf("move: %q", out)
	}
	for _, tc := range []struct{ no, why string }{
		{"RK0", "attempted already (retried 1, last error: answer lost)"},
		{"RK1", "outcome is unknown"},
		{"RK2", "outcome is unknown"},
		{"RK3", "already confirmed its cancellation"},
	} {
		line := lineWith(errOut, "kept "+tc.no+":")
		if !strings.Contains(line, tc.why) || !strings.Contains(line, "serve seller shop-c again") || !strings.Contains(line, "strays drop --seller shop-c --yes") {
			t.Errorf("%s: kept line %q, want why (%q) and what to do", tc.no, line, tc.why)
		}
		if _, err := taskIn(t, r, src, tc.no); err != nil {
			t.Errorf("%s left its queue (and its outcome memory): %v", tc.no, err)
		}
		if _, err := taskIn(t, r, dst, tc.no); err == nil {
			t.Errorf("%s was re-enqueued for shop-c2 without its outcome memory", tc.no)
		}
	}
	if _, err := taskIn(t, r, dst, "RK4"); err != nil {
		t.Errorf("RK4 (never attempted) did not move: %v", err)
	}
}

// TestStraysMoveKeepsDuplicates: a stray whose number already has a task
// (any state) or a dead-letter record for the target seller is kept and
// reported as `enqueue` reports it (duplicate, its state), exit 1; the
// others move.
func TestStraysMoveKeepsDuplicates(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	url := r.URL()
	announceSellers(t, r, "acme")
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		out, errOut, code := runCmd(t, ctx, "", append(args, "--redis-url", url)...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d; out %q err %q", args, code, wantCode, out, errOut)
		}
		return out, errOut
	}
	run(exitOK, "enqueue", "--seller", "acme", "RK1")
	putSellerDead(t, r, "acme", false, "RK2")
	run(exitOK, "enqueue", "--seller", "acne", "--allow-unknown-seller", "RK1", "RK2", "RK3")

	out, errOut := run(exitPartial, "strays", "move", "--seller", "acne", "--to", "acme")
	if !strings.Contains(out, "moved 1 task(s) from wdt-cancel:acne to wdt-cancel:acme; kept 2") {
		t.Fatalf("move: %q", out)
	}
	for _, tc := range []struct{ no, state string }{{"RK1", "pending"}, {"RK2", "dead"}} {
		line := lineWith(errOut, "kept "+tc.no+":")
		if !strings.Contains(line, "duplicate state="+tc.state) || !strings.Contains(line, "strays drop --seller acne --yes") {
			t.Errorf("%s: kept line %q, want duplicate state=%s and what to do", tc.no, line, tc.state)
		}
		if _, err := taskIn(t, r, "wdt-cancel:acne", tc.no); err != nil {
			t.Errorf("%s was deleted although it was not placed: %v", tc.no, err)
		}
	}
	if _, err := taskIn(t, r, "wdt-cancel:acme", "RK3"); err != nil {
		t.Errorf("RK3 did not move: %v", err)
	}
}

// TestStraysSeeAnnouncedSellerWithoutWorker: a seller still announced (the
// day-long announcement producers go by) whose last worker is gone is a
// stray, as /readyz's unknown_sellers says: ls lists it and drop removes
// its tasks. While a worker runs for it, drop refuses.
func TestStraysSeeAnnouncedSellerWithoutWorker(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	url := r.URL()
	announceSellers(t, r, "shop-c")
	q := tasks.QueueFor(tasks.DefaultQueue, "shop-c")
	if _, errOut, code := runCmd(t, ctx, "", "enqueue", "--seller", "shop-c", "--redis-url", url, "RK1"); code != exitOK {
		t.Fatalf("enqueue: %d %s", code, errOut)
	}
	// A live worker of another seller does not serve shop-c.
	serveQueues(t, r, failTask, tasks.QueueFor(tasks.DefaultQueue, "other"))
	out, errOut, code := runCmd(t, ctx, "", "strays", "ls", "--redis-url", url)
	if code != exitOK || !strings.Contains(out, q) {
		t.Fatalf("ls: exit %d, want %s listed; out %q err %q", code, q, out, errOut)
	}

	stop := serveQueues(t, r, failTask, q)
	if out, errOut, code := runCmd(t, ctx, "", "strays", "drop", "--seller", "shop-c", "--yes", "--redis-url", url); code != exitUsage || !strings.Contains(errOut, "served by a running worker") {
		t.Fatalf("drop while a worker serves it: exit %d; out %q err %q", code, out, errOut)
	}
	stop()

	if _, err := taskIn(t, r, q, "RK1"); err != nil {
		t.Fatalf("RK1 gone before drop: %v", err)
	}
	out, errOut, code = runCmd(t, ctx, "", "strays", "drop", "--seller", "shop-c", "--yes", "--redis-url", url)
	if code != exitOK || !strings.Contains(out, "dropped 1 task(s) of "+q) {
		t.Fatalf("drop: exit %d; out %q err %q", code, out, errOut)
	}
}

// lineWith is the first line of s containing sub, "" if none.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

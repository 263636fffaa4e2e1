package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// makeActive puts pending task id of queue into the state asynq's dequeue
// leaves it in (active, leased until lease), through asynq's layout
// (store.AsynqDequeueKeys, pinned against asynq): with a lease in the
// past, it is the task of a worker killed mid-call (kill -9) of a seller no
// worker serves any more.
func makeActive(t *testing.T, rdb *redis.Client, queue, id string, lease time.Time) {
	t.Helper()
	ctx := context.Background()
	k := store.AsynqDequeueKeys(queue)
	if n, err := rdb.LRem(ctx, k[0], 0, id).Result(); err != nil || n != 1 {
		t.Fatalf("%s not pending in %s: %d %v", id, queue, n, err)
	}
	if err := rdb.LPush(ctx, k[2], id).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, store.AsynqTaskKey(queue, id), "state", "active").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, k[3], redis.Z{Score: float64(lease.Unix()), Member: id}).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestStraysActiveTaskOfAKilledWorker: in a queue no worker serves, an
// active task whose lease expired (its worker was killed) is told apart
// from one a process runs (live lease) by ls, move and drop, with what
// brings it back; none of the commands moves or deletes either, while drop
// names how many of the tasks it deletes were attempted (their outcome at
// WDT unknown), without --yes and with it. Served again, the seller's
// worker recovers the task, as the message says.
func TestStraysActiveTaskOfAKilledWorker(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	url := r.URL()
	announceSellers(t, r, "acme")
	q := tasks.QueueFor(tasks.DefaultQueue, "typo")
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		out, errOut, code := runCmd(t, ctx, "", append(args, "--redis-url", url)...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d; out %q err %q", args, code, wantCode, out, errOut)
		}
		return out, errOut
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)

	// RKX6 is attempted for real (it fails and waits in retry), then
	// typo's worker goes away.
	run(exitOK, "enqueue", "--seller", "typo", "--allow-unknown-seller", "RKX6")
	stop := serveQueues(t, r, failTask, q)
	testkit.Until(t, "RKX6 in the retry set", func() bool {
		info, err := insp.GetTaskInfo(q, "RKX6")
		return err == nil && info.State == asynq.TaskStateRetry
	})
	stop()
	run(exitOK, "enqueue", "--seller", "typo", "--allow-unknown-seller", "RKX1", "RKX2", "RKX3", "RKX4", "RKX5")
	expired := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	makeActive(t, rdb, q, "RKX1", expired)                     // its worker was killed
	makeActive(t, rdb, q, "RKX2", time.Now().Add(time.Minute)) // a process still holds it
	mem := store.NewOutcomeMemory(rdb, q)
	defer mem.Close()
	if _, err := mem.Begin(ctx, "RKX3", time.Now()); err != nil { // sent, no answer
		t.Fatal(err)
	}
	if err := mem.Unknown(ctx, "RKX4", time.Now()); err != nil { // answer lost
		t.Fatal(err)
	}
	at := expired.UTC().Format(time.RFC3339)
	gone := "1 active task(s)%s whose worker is gone (lease expired at " + at + "): serve seller typo again and a worker recovers them, then they finish there"
	live := "1 active task(s)%s a process is running them"
	want := func(what, got string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(got, p) {
				t.Errorf("%s: %q\nwant it to say %q", what, got, p)
			}
		}
	}
	stillActive := func(when string) {
		t.Helper()
		for _, id := range []string{"RKX1", "RKX2"} {
			info, err := insp.GetTaskInfo(q, id)
			if err != nil || info.State != asynq.TaskStateActive {
				t.Fatalf("%s: %s is no longer active in %s: %+v %v", when, id, q, info, err)
			}
			if _, err := taskIn(t, r, tasks.QueueFor(tasks.DefaultQueue, "acme"), id); err == nil {
				t.Fatalf("%s: %s was moved to acme", when, id)
			}
		}
	}

	var list []strayQueue
	out, _ := run(exitOK, "strays", "ls", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Active != 2 || list[0].ActiveWorkerGone != 1 || list[0].LeaseExpiredAt == nil || !list[0].LeaseExpiredAt.Equal(expired) {
		t.Fatalf("ls --json: %s", out)
	}
	out, _ = run(exitOK, "strays", "ls")
	want("ls", out, q+": "+strings.Replace(gone, "%s", "", 1), q+": "+strings.Replace(live, "%s", "", 1))

	out, _ = run(exitPartial, "strays", "move", "--seller", "typo", "--to", "acme")
	want("move", out, "moved 1 task(s) from "+q, strings.Replace(gone, "%s", " not moved,", 1), strings.Replace(live, "%s", " not moved,", 1))
	stillActive("after move")

	_, errOut := run(exitUsage, "strays", "drop", "--seller", "typo")
	want("drop without --yes", errOut, "would delete 3 waiting task(s) of "+q+" (pending 2, scheduled 0, retry 1)",
		"3 of them were attempted (sent mark 1, unknown outcome 1, retried 1): their outcome at WDT is unknown, check those orders in WDT, or serve seller typo again so they finish",
		strings.Replace(gone, "%s", " not dropped,", 1), "nothing was deleted")
	for _, id := range []string{"RKX3", "RKX4", "RKX6"} {
		if _, err := taskIn(t, r, q, id); err != nil {
			t.Fatalf("drop without --yes deleted %s: %v", id, err)
		}
	}

	out, _ = run(exitOK, "strays", "drop", "--seller", "typo", "--yes")
	want("drop --yes", out, "dropped 3 task(s) of "+q,
		"3 of them were attempted (sent mark 1, unknown outcome 1, retried 1): their outcome at WDT is unknown, check those orders in WDT",
		strings.Replace(gone, "%s", " not dropped,", 1), strings.Replace(live, "%s", " not dropped,", 1))
	stillActive("after drop --yes")

	// Served again, typo's worker recovers RKX1 (its lease expired over
	// 30 s ago; the failing handler leaves it in retry). RKX2's live lease
	// keeps it active.
	serveQueues(t, r, failTask, q)
	testkit.Until(t, "RKX1 recovered by the worker serving typo again", func() bool {
		info, err := insp.GetTaskInfo(q, "RKX1")
		return err == nil && info.State == asynq.TaskStateRetry
	})
}

package worker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestWaitReplicasWithoutReplicaSendsNothing: with --redis-wait-replicas 1
// on a Redis no replica acknowledges, the sent mark cannot be made durable,
// so the call is not sent: the task is snoozed (category redis, no retry
// used) and the mark is gone, so no later attempt reads it as a call that
// died mid-flight.
func TestWaitReplicasWithoutReplicaSendsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	if !h.redis.Real {
		t.Skip("miniredis has no WAIT")
	}
	h.startWorker(func(c *worker.Config) { c.RedisWaitReplicas = 1 })
	h.enqueue("WAIT001")
	a := h.attempts.Wait(t, "the snooze", 1, ended(worker.ActSnooze, "WAIT001"))[0]
	if a.Category != wdt.Redis || a.Calls != 0 || a.Err == nil || !strings.Contains(a.Err.Error(), "not durable") {
		t.Fatalf("attempt %s, want a redis snooze without a call saying the mark is not durable", a)
	}
	if n := h.order("WAIT001").CancelCalls; n != 0 {
		t.Fatalf("%d calls reached WDT", n)
	}
	if n := h.rdb.Exists(context.Background(), store.SentKey(tasks.DefaultQueue, "WAIT001")).Val(); n != 0 {
		t.Fatal("the sent mark of the call not sent stayed")
	}
}

package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

func calls(w *worker.Worker, cat wdt.Category) float64 {
	return testutil.ToFloat64(w.Metrics().Calls.WithLabelValues(string(cat)))
}

func TestCancelled(t *testing.T) {
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"RK1": 20, "RK2": 30}})
	w := h.startWorker(nil)
	h.enqueue("RK1", "RK2")
	for _, no := range []string{"RK1", "RK2"} {
		info := h.waitTask(no, asynq.TaskStateCompleted, 10*time.Second)
		if info.Retried != 0 {
			t.Errorf("%s retried %d", no, info.Retried)
		}
		if o := h.order(no); o.Status != sandbox.StateCancelled || o.CancelCalls != 1 {
			t.Errorf("%s at sandbox: %+v", no, o)
		}
	}
	if got := calls(w, wdt.Cancelled); got != 2 {
		t.Fatalf("cancelled calls metric %v", got)
	}
	if n, _ := w.DLQ().Count(context.Background()); n != 0 {
		t.Fatalf("dead letters %d", n)
	}
}

func TestRejectedIsDeadInOneAttempt(t *testing.T) {
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"RK80": 80}})
	w := h.startWorker(nil)
	h.enqueue("RK80")
	info := h.waitTask("RK80", asynq.TaskStateArchived, 10*time.Second)
	rec := h.deadRecord("RK80")
	if rec.Category != wdt.Rejected || rec.WDTStatus == nil || *rec.WDTStatus != 100 || rec.Attempts != 1 || rec.Ambiguous {
		t.Fatalf("record %+v", rec)
	}
	if rec.Message != strings.TrimSpace(sandbox.MsgRejectNotCancelable) || rec.FirstEnqueuedAt == nil {
		t.Fatalf("record %+v", rec)
	}
	// What asynqmon shows as the archived task's last error.
	if !strings.HasPrefix(info.LastErr, "rejected: WDT status 100: 入库单状态不为待审核或编辑中") {
		t.Fatalf("last error %q", info.LastErr)
	}
	if o := h.order("RK80"); o.CancelCalls != 1 || o.Status != 80 {
		t.Fatalf("sandbox %+v", o)
	}
	if got := testutil.ToFloat64(w.Metrics().DeadLettered.WithLabelValues("rejected")); got != 1 {
		t.Fatalf("dead-lettered metric %v", got)
	}
}

func TestRateLimitSnoozesAndCoolsDownEveryWorker(t *testing.T) {
	h := newHarness(t, sandbox.Options{RatePerMinute: 2})
	cool := func(c *worker.Config) { c.Handler.Cooldown = 2 * time.Second; c.Concurrency = 1 }
	w1 := h.startWorker(cool)
	w2 := h.startWorker(cool)
	h.enqueue("RL1", "RL2", "RL3", "RL4")
	// Two pass the quota; the next calls (one per worker may be in flight at
	// that moment) draw rate-limit answers.
	limited := func() float64 { return calls(w1, wdt.RateLimited) + calls(w2, wdt.RateLimited) }
	deadline := time.Now().Add(10 * time.Second)
	for limited() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := limited(); n < 1 || n > 2 {
		t.Fatalf("%v rate-limited answers, want 1 or 2 (one per worker at most)", n)
	}
	// Let a call that was already in flight land, then: during the cooldown
	// neither worker calls WDT.
	time.Sleep(100 * time.Millisecond)
	before := h.sb.Stats().Calls
	time.Sleep(1200 * time.Millisecond)
	if after := h.sb.Stats().Calls; after != before {
		t.Fatalf("%d calls during the shared cooldown", after-before)
	}
	if testutil.ToFloat64(w1.Metrics().Cooldowns)+testutil.ToFloat64(w2.Metrics().Cooldowns) < 1 {
		t.Fatal("cooldown metric not counted")
	}
	// WDT's minute passes; everything completes without using a retry.
	h.shift.Store(int64(61 * time.Second))
	for _, no := range []string{"RL1", "RL2", "RL3", "RL4"} {
		if info := h.waitTask(no, asynq.TaskStateCompleted, 20*time.Second); info.Retried != 0 {
			t.Errorf("%s used %d retries", no, info.Retried)
		}
	}
}

func TestClockOffsetIsLearned(t *testing.T) {
	h := newHarness(t, sandbox.Options{ClockOffset: 300 * time.Second})
	w := h.startWorker(nil)
	h.enqueue("CK1")
	if info := h.waitTask("CK1", asynq.TaskStateCompleted, 10*time.Second); info.Retried != 0 {
		t.Fatalf("retried %d", info.Retried)
	}
	if got := testutil.ToFloat64(w.Metrics().ClockResyncs); got != 1 {
		t.Fatalf("resyncs %v", got)
	}
	var off float64
	for _, m := range mustGather(t, w) {
		if m.name == "wdtcancel_clock_offset_seconds" {
			off = m.value
		}
	}
	if off < 298 || off > 302 {
		t.Fatalf("clock offset metric %v", off)
	}
}

func TestConfigFaultKeepsTaskAndTurnsReadinessRed(t *testing.T) {
	h := newHarness(t, sandbox.Options{})
	bad := h.startWorker(func(c *worker.Config) {
		c.API = h.client(testSecret + ":wrongsalt")
		c.Handler.ConfigFaultDelay = 500 * time.Millisecond
	})
	h.enqueue("CF1")
	deadline := time.Now().Add(10 * time.Second)
	var rep worker.ReadyReport
	code := 0
	for time.Now().Before(deadline) {
		if code = getJSON(t, "http://"+bad.OpsAddr()+"/readyz", &rep); code == 503 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != 503 || !strings.Contains(strings.Join(rep.Reasons, " "), "WDT_APPSECRET") {
		t.Fatalf("readyz %d %+v", code, rep)
	}
	info, _ := h.insp.GetTaskInfo(tasks.DefaultQueue, "CF1")
	if info.Retried != 0 || info.State == asynq.TaskStateArchived {
		t.Fatalf("config fault used a retry or buried the task: %+v", info)
	}
	if n, _ := bad.DLQ().Count(context.Background()); n != 0 {
		t.Fatal("config fault dead-lettered")
	}
	// One error line per distinct fault, however many attempts.
	time.Sleep(1200 * time.Millisecond)
	if n := h.logs.FilterMessageSnippet("configuration fault").Len(); n != 1 {
		t.Fatalf("%d config fault log lines", n)
	}
	for _, e := range h.logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, testSecret) || strings.Contains(f.String, testSalt) || strings.Contains(f.String, "wrongsalt") {
				t.Fatalf("secret in log line %q: %v", e.Message, f)
			}
		}
	}
	bad.Shutdown()
	// The operator fixes WDT_APPSECRET and restarts the worker.
	good := h.startWorker(nil)
	h.waitTask("CF1", asynq.TaskStateCompleted, 10*time.Second)
	if code := getJSON(t, "http://"+good.OpsAddr()+"/readyz", &rep); code != 200 || !rep.Ready {
		t.Fatalf("readyz after fix %d %+v", code, rep)
	}
}

func TestLostResponseMakesRejectionAmbiguous(t *testing.T) {
	h := newHarness(t, sandbox.Options{LostResponseRate: 1})
	w := h.startWorker(nil)
	h.enqueue("LR1")
	// The first call is applied and its answer dropped; then the network heals.
	deadline := time.Now().Add(10 * time.Second)
	for calls(w, wdt.UnknownOutcome) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	h.sb.SetFaults(0, 0)
	info := h.waitTask("LR1", asynq.TaskStateArchived, 10*time.Second)
	rec := h.deadRecord("LR1")
	if rec.Category != wdt.Rejected || !rec.Ambiguous || rec.AmbiguousReason == "" || rec.Attempts < 2 {
		t.Fatalf("record %+v", rec)
	}
	if !strings.Contains(info.LastErr, "ambiguous") {
		t.Fatalf("last error %q", info.LastErr)
	}
	if o := h.order("LR1"); o.Status != sandbox.StateCancelled {
		t.Fatalf("sandbox %+v", o)
	}
}

func TestGenuineRejectionIsNotAmbiguous(t *testing.T) {
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"OK1": 20}})
	w := h.startWorker(nil)
	// Lose one response for another number: its memory must not leak to RK80.
	h.sb.SetFaults(0, 1)
	h.enqueue("OK1")
	deadline := time.Now().Add(10 * time.Second)
	for calls(w, wdt.UnknownOutcome) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	h.sb.SetFaults(0, 0)
	h.sb.SetOrder("RK80", 80)
	h.enqueue("RK80")
	h.waitTask("RK80", asynq.TaskStateArchived, 10*time.Second)
	if rec := h.deadRecord("RK80"); rec.Ambiguous {
		t.Fatalf("clean rejection marked ambiguous: %+v", rec)
	}
}

func TestMalformedPayloadIsDeadInvalid(t *testing.T) {
	h := newHarness(t, sandbox.Options{})
	h.startWorker(nil)
	c := asynq.NewClient(h.conn)
	defer c.Close()
	pushes := []struct {
		id, typ, payload string
	}{
		{"BAD1", tasks.TypeCancel, `garbage`},
		{"BAD2", tasks.TypeCancel, `{"pre_stockin_no":"RK 1","requested_at":"2026-01-01T00:00:00Z"}`},
		{"BAD3", "wdt:unknown:type", `{}`},
	}
	for _, p := range pushes {
		if _, err := c.Enqueue(asynq.NewTask(p.typ, []byte(p.payload)), asynq.Queue(tasks.DefaultQueue), asynq.TaskID(p.id)); err != nil {
			t.Fatal(err)
		}
	}
	h.enqueue("GOOD1")
	for _, p := range pushes {
		h.waitTask(p.id, asynq.TaskStateArchived, 10*time.Second)
		rec := h.deadRecord(p.id)
		if rec.Category != wdt.Invalid || rec.Payload != p.payload || rec.Attempts != 1 {
			t.Fatalf("%s: %+v", p.id, rec)
		}
	}
	h.waitTask("GOOD1", asynq.TaskStateCompleted, 10*time.Second)
	if h.sb.Stats().Calls != 1 {
		t.Fatalf("invalid tasks reached WDT: %+v", h.sb.Stats())
	}
}

func TestServerErrorsRetriedThenCancelled(t *testing.T) {
	h := newHarness(t, sandbox.Options{FailRate: 1, Seed: 3})
	w := h.startWorker(nil)
	h.enqueue("S1")
	deadline := time.Now().Add(10 * time.Second)
	for calls(w, wdt.UnknownOutcome) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	h.sb.SetFaults(0, 0)
	info := h.waitTask("S1", asynq.TaskStateCompleted, 10*time.Second)
	if info.Retried < 3 {
		t.Fatalf("retried %d, want at least 3", info.Retried)
	}
	if o := h.order("S1"); o.Status != sandbox.StateCancelled {
		t.Fatalf("sandbox %+v", o)
	}
}

func TestExhaustedAfterMaxRetry(t *testing.T) {
	h := newHarness(t, sandbox.Options{FailRate: 1, Seed: 5})
	h.startWorker(func(c *worker.Config) { c.Handler.MaxRetry = 3 })
	h.enqueue("EX1")
	h.waitTask("EX1", asynq.TaskStateArchived, 20*time.Second)
	rec := h.deadRecord("EX1")
	if rec.Category != wdt.Exhausted || rec.Attempts != 3 || !strings.Contains(rec.Error, "exhausted after 3 failed attempts") {
		t.Fatalf("record %+v", rec)
	}
	if n := h.sb.Stats().Calls; n != 3 {
		t.Fatalf("%d calls for 3 attempts", n)
	}
}

func TestDLQRequeueAfterArchiveTrimmed(t *testing.T) {
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"DQ1": 80, "DQ2": 80}})
	w := h.startWorker(nil)
	h.enqueue("DQ1", "DQ2")
	h.waitTask("DQ1", asynq.TaskStateArchived, 10*time.Second)
	h.waitTask("DQ2", asynq.TaskStateArchived, 10*time.Second)
	ctx := context.Background()
	// asynq trims its archive: the archived task of DQ1 is gone.
	if err := h.insp.DeleteTask(tasks.DefaultQueue, "DQ1"); err != nil {
		t.Fatal(err)
	}
	// The producer still refuses it as dead.
	if res, _ := h.prod.Cancel(ctx, "DQ1"); res.Result != "duplicate" || res.State != "dead" {
		t.Fatalf("enqueue of dead number: %+v", res)
	}
	// The operator makes the orders editable again and re-drives both.
	h.sb.SetOrder("DQ1", 20)
	h.sb.SetOrder("DQ2", 30)
	for _, no := range []string{"DQ1", "DQ2"} {
		if err := w.DLQ().Requeue(ctx, no); err != nil {
			t.Fatalf("requeue %s: %v", no, err)
		}
	}
	for _, no := range []string{"DQ1", "DQ2"} {
		h.waitTask(no, asynq.TaskStateCompleted, 10*time.Second)
		if o := h.order(no); o.Status != sandbox.StateCancelled || o.CancelCalls != 2 {
			t.Fatalf("%s: %+v", no, o)
		}
	}
	if n, _ := w.DLQ().Count(ctx); n != 0 {
		t.Fatalf("%d records left", n)
	}
	// Requeue of a number that is not dead, and of one with a live task.
	if err := w.DLQ().Requeue(ctx, "DQ1"); err == nil {
		t.Fatal("requeue of a non-dead number succeeded")
	}
}

func TestDLQRequeueRefusesSecondLiveTask(t *testing.T) {
	h := newHarness(t, sandbox.Options{})
	ctx := context.Background()
	rdb := h.conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	dlq := worker.NewDLQ(rdb, tasks.DefaultQueue)
	// A stale record while a live task exists (e.g. written by hand).
	h.enqueue("LV1")
	if err := dlq.Put(ctx, worker.Record{PreStockinNo: "LV1", Category: wdt.Rejected}); err != nil {
		t.Fatal(err)
	}
	err := dlq.Requeue(ctx, "LV1")
	if err == nil || !strings.Contains(err.Error(), "live task") {
		t.Fatalf("requeue with a live task: %v", err)
	}
	if q, _ := h.insp.GetQueueInfo(tasks.DefaultQueue); q.Pending != 1 {
		t.Fatalf("pending %d", q.Pending)
	}
}

func TestShutdownLosesNothing(t *testing.T) {
	h := newHarness(t, sandbox.Options{Latency: 300 * time.Millisecond})
	var nos []string
	for i := 0; i < 30; i++ {
		nos = append(nos, fmt.Sprintf("SD%02d", i))
	}
	h.enqueue(nos...)
	// A short shutdown timeout: in-flight calls are cut and handed back.
	w1 := h.startWorker(func(c *worker.Config) { c.Concurrency = 8; c.ShutdownTimeout = 100 * time.Millisecond })
	time.Sleep(500 * time.Millisecond)
	w1.Shutdown()
	done := h.sb.Stats().Cancellations
	if done == 0 || done == len(nos) {
		t.Fatalf("%d of %d done before shutdown: the test did not cut in-flight work", done, len(nos))
	}
	// A generous timeout: in-flight calls finish.
	w2 := h.startWorker(func(c *worker.Config) { c.Concurrency = 8 })
	time.Sleep(400 * time.Millisecond)
	w2.Shutdown()
	h.startWorker(func(c *worker.Config) { c.Concurrency = 8 })
	// Nothing is lost: every order is cancelled at the sandbox, and every
	// task is done or, when a cut call had in fact cancelled the order, dead
	// as an ambiguous rejection; never a clean rejection.
	for _, no := range nos {
		deadline := time.Now().Add(20 * time.Second)
		var info *asynq.TaskInfo
		for time.Now().Before(deadline) {
			info, _ = h.insp.GetTaskInfo(tasks.DefaultQueue, no)
			if info != nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if info == nil || (info.State != asynq.TaskStateCompleted && info.State != asynq.TaskStateArchived) {
			t.Fatalf("%s never settled: %+v", no, info)
		}
		if o := h.order(no); o.Status != sandbox.StateCancelled {
			t.Fatalf("%s: %+v", no, o)
		}
		if info.State == asynq.TaskStateArchived {
			if rec := h.deadRecord(no); rec.Category != wdt.Rejected || !rec.Ambiguous {
				t.Fatalf("%s: cancelled at the sandbox but dead-lettered %+v", no, rec)
			}
		}
	}
}

type sample struct {
	name  string
	value float64
}

func mustGather(t *testing.T, w *worker.Worker) []sample {
	t.Helper()
	mfs, err := w.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out = append(out, sample{mf.GetName(), v})
		}
	}
	return out
}

// TestCrashMidCallMakesRejectionAmbiguous: a worker killed mid-call leaves
// its sent mark; the order was in fact cancelled by that call. The next
// attempt's rejection must be flagged ambiguous, not filed as clean.
func TestCrashMidCallMakesRejectionAmbiguous(t *testing.T) {
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"KM1": 10}})
	rdb := h.conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	// What the killed worker left behind (the order is already in state 10).
	rdb.Set(context.Background(), store.SentKey(tasks.DefaultQueue, "KM1"), "2026-11-27T00:00:00Z", time.Hour)
	h.startWorker(nil)
	h.enqueue("KM1")
	h.waitTask("KM1", asynq.TaskStateArchived, 10*time.Second)
	if rec := h.deadRecord("KM1"); rec.Category != wdt.Rejected || !rec.Ambiguous {
		t.Fatalf("record %+v", rec)
	}
}

// TestRequeuedThenRejectedAgain: a re-driven number that WDT rejects
// again gets a fresh record. (The race where the rejection lands before
// requeue removes the old record is covered by TestDeleteIfUnchanged.)
func TestRequeuedThenRejectedAgain(t *testing.T) {
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"RQ1": 80}})
	ctx := context.Background()
	if err := h.dlq.Put(ctx, worker.Record{PreStockinNo: "RQ1", Category: wdt.Rejected, Error: "old"}); err != nil {
		t.Fatal(err)
	}
	// Requeue, then a worker that rejects it again at once.
	if err := h.dlq.Requeue(ctx, "RQ1"); err != nil {
		t.Fatal(err)
	}
	h.startWorker(nil)
	h.waitTask("RQ1", asynq.TaskStateArchived, 10*time.Second)
	if rec := h.deadRecord("RQ1"); rec.Error == "old" || rec.Category != wdt.Rejected {
		t.Fatalf("record %+v", rec)
	}
}

// TestConfirmedEarlierIsDoneNotDead: an attempt got status 0 but asynq ran
// the task again (a shutdown handed it back just as the call succeeded).
// The rerun's rejection only says the order is already cancelled: done.
func TestConfirmedEarlierIsDoneNotDead(t *testing.T) {
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"CE1": 10}})
	rdb := h.conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	rdb.Set(context.Background(), store.ConfirmedKey(tasks.DefaultQueue, "CE1"), "2026-11-27T00:00:00Z", time.Hour)
	h.startWorker(nil)
	h.enqueue("CE1")
	h.waitTask("CE1", asynq.TaskStateCompleted, 10*time.Second)
	if _, err := h.dlq.Get(context.Background(), "CE1"); err == nil {
		t.Fatal("a confirmed cancellation was dead-lettered")
	}
}

// TestSuccessRecordsResultNotKey: a status 0 answer is recorded as the
// task's result (asynqmon shows it; a rerun of the task reads it), and no
// outcome-memory key outlives the task's success.
func TestSuccessRecordsResultNotKey(t *testing.T) {
	h := newHarness(t, sandbox.Options{})
	rdb := h.conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	w := h.startWorker(nil)
	h.enqueue("SR1")
	info := h.waitTask("SR1", asynq.TaskStateCompleted, 10*time.Second)
	if string(info.Result) != "cancelled" {
		t.Fatalf("result %q", info.Result)
	}
	w.Shutdown() // writes the batched clearing of the sent mark
	ctx := context.Background()
	q := tasks.DefaultQueue
	if n := rdb.Exists(ctx, store.SentKey(q, "SR1"), store.UnknownKey(q, "SR1"), store.ConfirmedKey(q, "SR1")).Val(); n != 0 {
		t.Fatalf("%d outcome-memory keys left after a success", n)
	}
}

// TestResultConfirmsRerun: the task's own result says an earlier attempt
// got status 0 (a shutdown handed it back just after); the rerun's
// rejection is done, not dead.
func TestResultConfirmsRerun(t *testing.T) {
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"CR1": 10}})
	rdb := h.conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	h.enqueue("CR1")
	// What the handed-back attempt left: its result in asynq's task hash,
	// and its sent mark (the batch that clears it had not run).
	ctx := context.Background()
	rdb.HSet(ctx, "asynq:{"+tasks.DefaultQueue+"}:t:CR1", "result", `{"category":"cancelled","calls":1}`)
	rdb.Set(ctx, store.SentKey(tasks.DefaultQueue, "CR1"), "2026-11-27T00:00:00Z", time.Hour)
	h.startWorker(nil)
	h.waitTask("CR1", asynq.TaskStateCompleted, 10*time.Second)
	if _, err := h.dlq.Get(ctx, "CR1"); err == nil {
		t.Fatal("a cancellation confirmed by the task's result was dead-lettered")
	}
}

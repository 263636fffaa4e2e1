package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

func calls(w *worker.Worker, cat wdt.Category) float64 {
	return testutil.ToFloat64(w.Seller("default").Metrics().Calls.WithLabelValues(string(cat)))
}

func TestCancelled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"RK1": 20, "RK2": 30}})
	w := h.startWorker(nil)
	h.enqueue("RK1", "RK2")
	for _, no := range []string{"RK1", "RK2"} {
		a := h.settled(no)
		if a.Action != worker.ActDone || a.Category != wdt.Cancelled || a.Number != 1 || a.Calls != 1 || a.WDTStatus != 0 || a.Err != nil || a.TaskID != no {
			t.Errorf("%s: attempt %v", no, a)
		}
		h.waitTask(no, asynq.TaskStateCompleted)
		if o := h.order(no); o.Status != sandbox.StateCancelled || o.CancelCalls != 1 {
			t.Errorf("%s at sandbox: %+v", no, o)
		}
	}
	if got := calls(w, wdt.Cancelled); got != 2 {
		t.Fatalf("cancelled calls metric %v", got)
	}
	if n, _ := w.Seller("default").DLQ().Count(context.Background()); n != 0 {
		t.Fatalf("dead letters %d", n)
	}
}

func TestRejectedIsDeadInOneAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"RK80": 80}})
	w := h.startWorker(nil)
	h.enqueue("RK80")
	if a := h.settled("RK80"); a.Action != worker.ActDead || a.Category != wdt.Rejected || a.Number != 1 || a.Calls != 1 || a.WDTStatus != 100 || a.Ambiguous {
		t.Fatalf("attempt %v", a)
	}
	info := h.waitTask("RK80", asynq.TaskStateArchived)
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
	if got := testutil.ToFloat64(w.Seller("default").Metrics().DeadLettered.WithLabelValues("rejected")); got != 1 {
		t.Fatalf("dead-lettered metric %v", got)
	}
}

// A rate-limit answer snoozes its task without using a retry and starts a
// cooldown that every worker honours through Redis, a worker that never saw
// the answer included. The cooldown is an hour, so nothing here depends on
// how fast the test runs; the test ends it itself.
func TestRateLimitSnoozesAndCoolsDownEveryWorker(t *testing.T) {
	t.Parallel()
	// The sandbox checks, as each call arrives, that no cooldown is running.
	var cooldown *worker.Limiter
	var duringCooldown atomic.Int64
	h := newHarness(t, sandbox.Options{RatePerMinute: 3, Latency: time.Nanosecond,
		Sleep: func(ctx context.Context, _ time.Duration) error {
			if left, err := cooldown.Cooldown(ctx); err != nil || left > 0 {
				duringCooldown.Add(1)
			}
			return nil
		}})
	cooldown = worker.NewLimiter(h.rdb, tasks.DefaultQueue, worker.LimiterOptions{})
	cfg := func(c *worker.Config) { c.Handler.Cooldown = time.Hour; c.Concurrency = 1 }

	// WDT's quota is three calls a minute: the fourth draws its rate-limit
	// answer, which snoozes that task and starts the cooldown.
	w1 := h.startWorker(cfg)
	h.enqueue("RL1", "RL2", "RL3", "RL4")
	h.attempts.Wait(t, "three cancellations", 3, func(a attempt) bool { return a.Action == worker.ActDone })
	limited := h.attempts.Wait(t, "the rate-limit answer", 1, func(a attempt) bool { return a.Category == wdt.RateLimited })[0]
	if limited.Action != worker.ActSnooze || limited.Calls != 1 || limited.Number != 1 {
		t.Fatalf("rate-limited attempt %v", limited)
	}
	if got := testutil.ToFloat64(w1.Seller("default").Metrics().Cooldowns); got != 1 {
		t.Fatalf("cooldown metric %v", got)
	}
	if left, err := cooldown.Cooldown(context.Background()); err != nil || left < 50*time.Minute {
		t.Fatalf("shared cooldown %v %v, want about an hour", left, err)
	}
	w1.Shutdown()

	// Another worker process, which never saw the answer, takes new tasks
	// during the cooldown: it snoozes them until the cooldown ends without
	// calling WDT or using a retry.
	w2 := h.startWorker(cfg)
	h.enqueue("RL5", "RL6")
	for _, no := range []string{"RL5", "RL6"} {
		a := h.attempts.Wait(t, no+" held off", 1, of(no))[0]
		if a.Worker != 2 || a.Action != worker.ActSnooze || a.Category != wdt.RateLimited || a.Calls != 0 || a.Number != 1 {
			t.Fatalf("%s during the cooldown: %v", no, a)
		}
		info := h.waitTask(no, asynq.TaskStateRetry)
		if until := time.Until(info.NextProcessAt); until < 50*time.Minute {
			t.Fatalf("%s snoozed for %s, not until the cooldown ends", no, until)
		}
	}
	if n := duringCooldown.Load(); n != 0 {
		t.Fatalf("%d calls reached WDT during the shared cooldown", n)
	}

	// The cooldown ends and WDT's minute passes (the test stands in for
	// the clock); a fresh worker runs the snoozed tasks, which complete
	// without having used a retry.
	w2.Shutdown()
	h.rdb.Del(context.Background(), "wdtcancel:{"+tasks.DefaultQueue+"}:rl:cooldown")
	h.shift.Store(int64(61 * time.Second))
	h.startWorker(cfg)
	if _, err := h.insp.RunAllRetryTasks(tasks.DefaultQueue); err != nil {
		t.Fatal(err)
	}
	for _, no := range []string{limited.PreStockinNo, "RL5", "RL6"} {
		a := h.attempts.Wait(t, no+" run by the third worker", 1, func(a attempt) bool { return a.Worker == 3 && a.PreStockinNo == no })[0]
		if a.Action != worker.ActDone || a.Number != 1 {
			t.Errorf("%s after the cooldown: %v", no, a)
		}
	}
	if n := duringCooldown.Load(); n != 0 {
		t.Fatalf("%d calls reached WDT during the shared cooldown", n)
	}
	if st := h.sb.Stats(); st.ByStatus["100"] != 1 || st.Cancellations != 6 {
		t.Fatalf("sandbox %+v, want one rate-limit answer and six cancellations; attempts:\n%s", st, h.attempts.Dump())
	}
}

func TestClockOffsetIsLearned(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{ClockOffset: 300 * time.Second})
	w := h.startWorker(nil)
	h.enqueue("CK1")
	// Re-signed within the same attempt: two calls, no retry.
	if a := h.settled("CK1"); a.Action != worker.ActDone || a.Number != 1 || a.Calls != 2 {
		t.Fatalf("attempt %v", a)
	}
	if got := testutil.ToFloat64(w.Seller("default").Metrics().ClockResyncs); got != 1 {
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
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	bad := h.startWorker(func(c *worker.Config) {
		c.Sellers = worker.SingleSeller(h.client(testSecret+":wrongsalt"), 0, 0)
		c.Handler.ConfigFaultDelay = 500 * time.Millisecond
	})
	h.enqueue("CF1")
	// The breaker's probe keeps calling; wait for a second answer of the
	// same fault.
	held := h.attempts.Wait(t, "two config answers", 2, func(a attempt) bool {
		return a.PreStockinNo == "CF1" && a.Category == wdt.Config && a.Calls > 0
	})
	for _, a := range held {
		if a.Action != worker.ActHold || a.Number != 1 {
			t.Fatalf("config fault: %v", a)
		}
	}
	var rep worker.ReadyReport
	if code := getJSON(t, "http://"+bad.OpsAddr()+"/readyz", &rep); code != 503 || !strings.Contains(strings.Join(rep.Reasons, " "), "WDT_APPSECRET") {
		t.Fatalf("readyz %d %+v", code, rep)
	}
	if n := h.attempts.Count(func(a attempt) bool { return a.Action == worker.ActDead || a.Action == worker.ActRetry }); n != 0 {
		t.Fatalf("config fault used a retry or buried the task:\n%s", h.attempts.Dump())
	}
	if n, _ := bad.Seller("default").DLQ().Count(context.Background()); n != 0 {
		t.Fatal("config fault dead-lettered")
	}
	// One error line per distinct fault, however many attempts.
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
	if a := h.settled("CF1"); a.Worker != 2 || a.Action != worker.ActDone || a.Number != 1 {
		t.Fatalf("after the fix: %v", a)
	}
	if code := getJSON(t, "http://"+good.OpsAddr()+"/readyz", &rep); code != 200 || !rep.Ready {
		t.Fatalf("readyz after fix %d %+v", code, rep)
	}
}

func TestLostResponseMakesRejectionAmbiguous(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{LostResponseRate: 1})
	h.startWorker(nil)
	h.enqueue("LR1")
	// The first call is applied and its answer dropped; then the network heals.
	lost := h.attempts.Wait(t, "a lost response", 1, of("LR1"))[0]
	if lost.Action != worker.ActRetry || lost.Category != wdt.UnknownOutcome {
		t.Fatalf("first attempt %v", lost)
	}
	h.setFaults(sandbox.Faults{})
	if a := h.settled("LR1"); a.Action != worker.ActDead || a.Category != wdt.Rejected || !a.Ambiguous || a.Number < 2 {
		t.Fatalf("attempt %v", a)
	}
	info := h.waitTask("LR1", asynq.TaskStateArchived)
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
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"OK1": 20}})
	h.startWorker(nil)
	// Lose one response for another number: its memory must not leak to RK80.
	h.setFaults(sandbox.Faults{LostResponseRate: 1})
	h.enqueue("OK1")
	h.attempts.Wait(t, "OK1's lost response", 1, func(a attempt) bool { return a.PreStockinNo == "OK1" && a.Category == wdt.UnknownOutcome })
	h.setFaults(sandbox.Faults{})
	h.sb.SetOrder("RK80", 80)
	h.enqueue("RK80")
	if a := h.settled("RK80"); a.Action != worker.ActDead || a.Ambiguous {
		t.Fatalf("clean rejection: %v", a)
	}
	if rec := h.deadRecord("RK80"); rec.Ambiguous {
		t.Fatalf("clean rejection marked ambiguous: %+v", rec)
	}
}

func TestMalformedPayloadIsDeadInvalid(t *testing.T) {
	t.Parallel()
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
		if a := h.settled(p.id); a.Action != worker.ActDead || a.Category != wdt.Invalid || a.Calls != 0 || a.TaskID != p.id {
			t.Fatalf("%s: %v", p.id, a)
		}
		rec := h.deadRecord(p.id)
		if rec.Category != wdt.Invalid || rec.Payload != p.payload || rec.Attempts != 1 {
			t.Fatalf("%s: %+v", p.id, rec)
		}
	}
	if a := h.settled("GOOD1"); a.Action != worker.ActDone {
		t.Fatalf("GOOD1: %v", a)
	}
	if h.sb.Stats().Calls != 1 {
		t.Fatalf("invalid tasks reached WDT: %+v", h.sb.Stats())
	}
}

func TestServerErrorsRetriedThenCancelled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{FailRate: 1, Seed: 3})
	h.startWorker(nil)
	h.enqueue("S1")
	for _, a := range h.attempts.Wait(t, "three failed attempts", 3, of("S1")) {
		if a.Action != worker.ActRetry || a.Calls != 1 {
			t.Fatalf("failed attempt %v", a)
		}
	}
	h.setFaults(sandbox.Faults{})
	if a := h.settled("S1"); a.Action != worker.ActDone || a.Number < 4 {
		t.Fatalf("attempt %v, want done after at least 3 retries", a)
	}
	if o := h.order("S1"); o.Status != sandbox.StateCancelled {
		t.Fatalf("sandbox %+v", o)
	}
}

func TestExhaustedAfterMaxRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{FailRate: 1, Seed: 5})
	h.startWorker(func(c *worker.Config) { c.Handler.MaxRetry = 3 })
	h.enqueue("EX1")
	if a := h.settled("EX1"); a.Action != worker.ActDead || a.Category != wdt.Exhausted || a.Number != 3 {
		t.Fatalf("attempt %v", a)
	}
	rec := h.deadRecord("EX1")
	if rec.Category != wdt.Exhausted || rec.Attempts != 3 || !strings.Contains(rec.Error, "exhausted after 3 failed attempts") {
		t.Fatalf("record %+v", rec)
	}
	if n := h.sb.Stats().Calls; n != 3 {
		t.Fatalf("%d calls for 3 attempts", n)
	}
}

func TestDLQRequeueAfterArchiveTrimmed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"DQ1": 80, "DQ2": 80}})
	w := h.startWorker(nil)
	h.enqueue("DQ1", "DQ2")
	for _, no := range []string{"DQ1", "DQ2"} {
		if a := h.settled(no); a.Action != worker.ActDead {
			t.Fatalf("%s: %v", no, a)
		}
		// Requeue needs asynq to have archived the task.
		h.waitTask(no, asynq.TaskStateArchived)
	}
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
		if err := w.Seller("default").DLQ().Requeue(ctx, no); err != nil {
			t.Fatalf("requeue %s: %v", no, err)
		}
	}
	for _, no := range []string{"DQ1", "DQ2"} {
		h.attempts.Wait(t, no+" done after requeue", 1, ended(worker.ActDone, no))
		if o := h.order(no); o.Status != sandbox.StateCancelled || o.CancelCalls != 2 {
			t.Fatalf("%s: %+v", no, o)
		}
	}
	if n, _ := w.Seller("default").DLQ().Count(ctx); n != 0 {
		t.Fatalf("%d records left", n)
	}
	// Requeue of a number that is not dead.
	if err := w.Seller("default").DLQ().Requeue(ctx, "DQ1"); err == nil {
		t.Fatal("requeue of a non-dead number succeeded")
	}
}

func TestDLQRequeueRefusesSecondLiveTask(t *testing.T) {
	t.Parallel()
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

// TestShutdownLosesNothing holds every call in flight at the sandbox, so the
// test, not timing, decides what a shutdown finds: with a short timeout the
// calls in flight are cut and their tasks handed back; with a generous one
// they finish. Nothing is lost and no retry is used: every order ends
// cancelled at the sandbox, and every task done or, where WDT applied a cut
// call, dead as an ambiguous rejection; never a clean rejection.
func TestShutdownLosesNothing(t *testing.T) {
	t.Parallel()
	gate := newCallGate()
	h := newHarness(t, sandbox.Options{Latency: time.Hour, Sleep: gate.sleep})
	t.Cleanup(gate.close)
	var nos []string
	for i := 0; i < 12; i++ {
		nos = append(nos, fmt.Sprintf("SD%02d", i))
	}
	h.enqueue(nos...)
	four := func(c *worker.Config) {
		c.Concurrency = 4
		c.Breaker.Threshold = 100 // cut calls are not an outage
	}

	// A short shutdown timeout: the four calls in flight are cut. WDT
	// applies two of them anyway (their answers are lost) and never sees
	// the other two.
	w1 := h.startWorker(func(c *worker.Config) { four(c); c.ShutdownTimeout = 100 * time.Millisecond })
	for i := 0; i < 4; i++ {
		if c := gate.next(t); i < 2 {
			c.applyWhenCut()
		} else {
			c.dropWhenCut()
		}
	}
	w1.Shutdown()
	cut := h.attempts.Wait(t, "the four cut attempts", 4, func(a attempt) bool { return a.Worker == 1 })
	if n := h.attempts.Count(func(a attempt) bool { return a.Worker == 1 }); n != 4 {
		t.Fatalf("first worker made %d attempts, want the 4 it was cut in:\n%s", n, h.attempts.Dump())
	}
	wasCut := map[string]bool{}
	for _, a := range cut {
		if a.Category != wdt.UnknownOutcome || a.Calls != 1 {
			t.Fatalf("cut attempt %v", a)
		}
		wasCut[a.PreStockinNo] = true
	}
	testkit.Until(t, "WDT to apply the two cut calls", func() bool { return h.sb.Stats().Cancellations == 2 })

	// A generous timeout: shutdown begins with four calls in flight, and
	// they finish.
	w2 := h.startWorker(func(c *worker.Config) { four(c); c.ShutdownTimeout = testkit.Failsafe })
	inFlight := []*heldCall{gate.next(t), gate.next(t), gate.next(t), gate.next(t)}
	stopped := make(chan struct{})
	go func() { w2.Shutdown(); close(stopped) }()
	h.lines.Wait(t, "the second worker shutting down", 1, func(l logLine) bool {
		return l.Worker == 2 && strings.HasPrefix(l.Message, "shutting down")
	})
	gate.open()
	for _, c := range inFlight {
		c.release()
	}
	testkit.Recv(t, stopped, "the graceful shutdown to return")
	// Shutdown returned after the handlers, so their attempts are in.
	if n := h.attempts.Count(func(a attempt) bool { return a.Worker == 2 }); n < 4 {
		t.Fatalf("the second worker finished %d attempts, want the 4 in flight at least:\n%s", n, h.attempts.Dump())
	}
	if n := h.attempts.Count(func(a attempt) bool { return a.Worker == 2 && (a.Calls != 1 || a.Category == wdt.UnknownOutcome) }); n != 0 {
		t.Fatalf("a call in flight at a graceful shutdown was cut:\n%s", h.attempts.Dump())
	}

	// A third worker finishes the rest.
	h.startWorker(four)
	for _, no := range nos {
		a := h.settled(no)
		if a.Number != 1 {
			t.Errorf("%s used a retry: %v", no, a)
		}
		o := h.order(no)
		if o.Status != sandbox.StateCancelled {
			t.Fatalf("%s not cancelled at the sandbox: %+v", no, o)
		}
		// A call WDT applied after it was cut is the second call to reach
		// the order.
		applied := o.CancelCalls == 2
		if applied && !wasCut[no] {
			t.Fatalf("%s: two calls reached WDT but none was cut: %+v", no, o)
		}
		if applied != (a.Action == worker.ActDead) {
			t.Fatalf("%s: %v, sandbox %+v", no, a, o)
		}
		if a.Action == worker.ActDead {
			if rec := h.deadRecord(no); rec.Category != wdt.Rejected || !rec.Ambiguous {
				t.Fatalf("%s: cancelled at the sandbox but dead-lettered %+v", no, rec)
			}
		}
	}
	if n := h.sb.Stats().Cancellations; n != len(nos) {
		t.Fatalf("%d cancellations at the sandbox for %d orders", n, len(nos))
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
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"KM1": 10}})
	rdb := h.conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	// What the killed worker left behind (the order is already in state 10).
	rdb.Set(context.Background(), store.SentKey(tasks.DefaultQueue, "KM1"), "2026-11-27T00:00:00Z", time.Hour)
	h.startWorker(nil)
	h.enqueue("KM1")
	if a := h.settled("KM1"); a.Action != worker.ActDead || !a.Ambiguous {
		t.Fatalf("attempt %v", a)
	}
	if rec := h.deadRecord("KM1"); rec.Category != wdt.Rejected || !rec.Ambiguous {
		t.Fatalf("record %+v", rec)
	}
}

// TestRequeuedThenRejectedAgain: a re-driven number that WDT rejects
// again gets a fresh record. (The race where the rejection lands before
// requeue removes the old record is covered by TestDeleteIfUnchanged.)
func TestRequeuedThenRejectedAgain(t *testing.T) {
	t.Parallel()
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
	if a := h.settled("RQ1"); a.Action != worker.ActDead {
		t.Fatalf("attempt %v", a)
	}
	if rec := h.deadRecord("RQ1"); rec.Error == "old" || rec.Category != wdt.Rejected {
		t.Fatalf("record %+v", rec)
	}
}

// TestConfirmedEarlierIsDoneNotDead: an attempt got status 0 but asynq ran
// the task again (a shutdown handed it back just as the call succeeded).
// The rerun's rejection only says the order is already cancelled: done.
func TestConfirmedEarlierIsDoneNotDead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"CE1": 10}})
	rdb := h.conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	rdb.Set(context.Background(), store.ConfirmedKey(tasks.DefaultQueue, "CE1"), "2026-11-27T00:00:00Z", time.Hour)
	h.startWorker(nil)
	h.enqueue("CE1")
	if a := h.settled("CE1"); a.Action != worker.ActDone || a.Category != wdt.Cancelled || a.Calls != 1 {
		t.Fatalf("attempt %v", a)
	}
	if _, err := h.dlq.Get(context.Background(), "CE1"); err == nil {
		t.Fatal("a confirmed cancellation was dead-lettered")
	}
}

// TestDeadLetterWriteFailureKeepsTheTask: when the dead-letter record
// cannot be written, the task is not archived (asynq could trim it and lose
// the order) but snoozed as Redis trouble, and that attempt is reported
// like any other; once Redis takes the record, the task is dead-lettered.
func TestDeadLetterWriteFailureKeepsTheTask(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"DW1": 80}})
	ctx := context.Background()
	h.enqueue("DW1")
	// The dead-letter hash's key holds a string: every write to it fails.
	dlqKey := store.DeadLetterKey(tasks.DefaultQueue)
	if err := h.rdb.Set(ctx, dlqKey, "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	w := h.startWorker(nil)
	a := h.attempts.Wait(t, "DW1's first attempt", 1, of("DW1"))[0]
	if a.Action != worker.ActSnooze || a.Category != wdt.Redis || a.Calls != 1 || a.Number != 1 || !strings.Contains(fmt.Sprint(a.Err), "WRONGTYPE") {
		t.Fatalf("attempt with an unwritable dead-letter queue: %v", a)
	}
	if got := testutil.ToFloat64(w.Seller("default").Metrics().Outcomes.WithLabelValues(string(worker.ActSnooze), string(wdt.Redis))); got != 1 {
		t.Fatalf("snooze outcome metric %v", got)
	}
	if n := h.logs.FilterMessage("task snooze").Len(); n != 1 {
		t.Fatalf("%d task snooze log lines", n)
	}

	// Redis takes records again; the task runs now instead of after its
	// snooze, and is dead-lettered.
	h.rdb.Del(ctx, dlqKey)
	h.waitTask("DW1", asynq.TaskStateRetry)
	if err := h.insp.RunTask(tasks.DefaultQueue, "DW1"); err != nil {
		t.Fatal(err)
	}
	if a := h.settled("DW1"); a.Action != worker.ActDead || a.Category != wdt.Rejected || a.Number != 1 {
		t.Fatalf("after the fix: %v", a)
	}
	if rec := h.deadRecord("DW1"); rec.Category != wdt.Rejected {
		t.Fatalf("record %+v", rec)
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
	info := h.waitTask("SR1", asynq.TaskStateCompleted)
	if string(info.Result) != `{"category":"cancelled","calls":1,"attempt":1}` {
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
	h.waitTask("CR1", asynq.TaskStateCompleted)
	if _, err := h.dlq.Get(ctx, "CR1"); err == nil {
		t.Fatal("a cancellation confirmed by the task's result was dead-lettered")
	}
}

// setFaults sets the sandbox's fault rates while the test runs (every rate
// not given is off).
func (h *harness) setFaults(f sandbox.Faults) {
	h.t.Helper()
	if err := h.sb.SetFaultRates(f); err != nil {
		h.t.Fatalf("sandbox fault rates %+v: %v", f, err)
	}
}

package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestRedisLossIsNoticed: Redis comes back empty (FLUSHALL is what a
// restart without persistence leaves) under a running worker. Readiness
// turns red naming it, the gauge is 1, one log line says what to do, a
// rejection of an order that may have been called before is filed
// ambiguous, never clean, and an operator's acknowledgement turns it all
// back.
func TestRedisLossIsNoticed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"LW80": 80}})
	w := h.startWorker(func(c *worker.Config) { c.LossCheckInterval = 20 * time.Millisecond })
	ready := "http://" + w.OpsAddr() + "/readyz"
	var rep worker.ReadyReport
	if code := getJSON(t, ready, &rep); code != 200 {
		t.Fatalf("readyz before the loss: %d %+v", code, rep)
	}
	if got := lostGauge(t, w); got != 0 {
		t.Fatalf("wdtcancel_redis_writes_lost before the loss: %v", got)
	}

	lost := time.Now()
	if err := h.rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if !testkit.Poll(func() bool {
		return getJSON(t, ready, &rep) == 503 && rep.Redis == worker.RedisLostWrites
	}) {
		t.Fatalf("readyz never turned red after Redis lost its data: %+v", rep)
	}
	t.Logf("readiness red %s after the flush (check every 20 ms)", time.Since(lost).Round(time.Millisecond))
	reason := strings.Join(rep.Reasons, " ")
	for _, want := range []string{"came back empty", "re-enqueue", "redis-loss ack --yes"} {
		if !strings.Contains(reason, want) {
			t.Errorf("readyz reasons %q lack %q", reason, want)
		}
	}
	if got := lostGauge(t, w); got != 1 {
		t.Errorf("wdtcancel_redis_writes_lost after the loss: %v, want 1", got)
	}
	rec, err := store.ReadLoss(context.Background(), h.rdb, tasks.DefaultQueue)
	if err != nil || rec == nil || rec.Kind != store.LossEmpty || rec.LastSeenEpoch == 0 {
		t.Fatalf("loss record %+v, %v: want kind empty with the epoch last seen", rec, err)
	}

	// WDT answers "not editable": after a loss that proves nothing.
	h.enqueue("LW80")
	a := h.settled("LW80")
	if a.Action != worker.ActDead || !a.Ambiguous {
		t.Fatalf("rejection after the loss: %v, want dead and ambiguous", a)
	}
	if r := h.deadRecord("LW80"); !r.Ambiguous || !strings.Contains(r.AmbiguousReason, "Redis lost writes") {
		t.Errorf("dead-letter record %+v: want ambiguous because Redis lost writes", r)
	}
	h.lines.Wait(t, "the loss's log line", 1, func(l logLine) bool { return strings.HasPrefix(l.Message, "redis lost writes") })
	if n := h.lines.Count(func(l logLine) bool { return strings.HasPrefix(l.Message, "redis lost writes") }); n != 1 {
		t.Errorf("%d log lines about the loss, want 1 per detection", n)
	}

	// The operator acknowledges: readiness turns green again.
	if _, err := store.AckLoss(context.Background(), h.rdb, tasks.DefaultQueue, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !testkit.Poll(func() bool { return getJSON(t, ready, &rep) == 200 }) {
		t.Fatalf("readyz still red after the acknowledgement: %+v", rep)
	}
	if got := lostGauge(t, w); got != 0 {
		t.Errorf("wdtcancel_redis_writes_lost after the ack: %v, want 0", got)
	}
	if n := h.lines.Count(func(l logLine) bool { return strings.HasPrefix(l.Message, "redis lost writes") }); n != 1 {
		t.Errorf("%d log lines about the loss after the ack, want still 1", n)
	}
}

// TestRedisLossKnownAtStart: a worker started after another process
// recorded a loss reports it from its first /readyz.
func TestRedisLossKnownAtStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	if _, err := store.RecordLoss(context.Background(), h.rdb, store.Loss{Queue: tasks.DefaultQueue, Kind: store.LossOlderSnapshot, DetectedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	w := h.startWorker(nil)
	var rep worker.ReadyReport
	if code := getJSON(t, "http://"+w.OpsAddr()+"/readyz", &rep); code != 503 || rep.Redis != worker.RedisLostWrites ||
		!strings.Contains(strings.Join(rep.Reasons, " "), "older than writes it had acknowledged") {
		t.Fatalf("readyz of a worker started after a recorded loss: %d %+v", code, rep)
	}
	if got := lostGauge(t, w); got != 1 {
		t.Errorf("wdtcancel_redis_writes_lost: %v, want 1", got)
	}
}

func lostGauge(t *testing.T, w *worker.Worker) float64 {
	t.Helper()
	mfs, err := w.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "wdtcancel_redis_writes_lost" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == worker.SellerLabel && lp.GetValue() == tasks.DefaultSeller {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatal("no wdtcancel_redis_writes_lost{seller=\"default\"} series")
	return -1
}

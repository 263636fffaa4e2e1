package worker_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// unrecordedLine is the log message of an outcome decided but not recorded.
func unrecordedLine(action worker.Action) string {
	return "task not recorded (" + string(action) + "), will run again"
}

// TestUnrecordedDone: WDT answers 0 while Redis is down, so neither the
// confirmation nor asynq's completion can be written. The attempt is not
// logged or counted done: it says it was not recorded and will run again.
func TestUnrecordedDone(t *testing.T) {
	t.Parallel()
	var (
		h    *harness
		once sync.Once
	)
	h = newHarness(t, sandbox.Options{OnCall: func(no string) {
		if no == "UNREC1" {
			once.Do(func() {
				if err := h.redis.Stop(); err != nil {
					t.Error(err)
				}
			})
		}
	}})
	if !h.redis.Real {
		t.Skip("needs a real redis-server to stop (set WDTCANCEL_REQUIRE_REDIS_SERVER=1 to fail instead)")
	}
	w := h.startWorker(func(c *worker.Config) { c.Handler.ConfirmRetryWindow = time.Nanosecond })
	h.enqueue("UNREC1")
	a := h.attempts.Wait(t, "the attempt whose confirmation Redis missed", 1, func(a attempt) bool { return a.PreStockinNo == "UNREC1" })[0]
	if a.Action != worker.ActDone || !strings.Contains(a.NotRecorded, "confirmation could not be written") {
		t.Fatalf("attempt %+v", a.Attempt)
	}
	if h.lines.Count(func(l logLine) bool { return l.Message == unrecordedLine(worker.ActDone) }) != 1 ||
		h.lines.Count(func(l logLine) bool { return l.Message == "task done" }) != 0 {
		t.Fatalf("log: %s", h.lines.Dump())
	}
	m := metricsText(t, w)
	if !strings.Contains(m, `wdtcancel_task_outcomes_unrecorded_total{action="done",seller="default"} 1`) ||
		strings.Contains(m, `wdtcancel_task_outcomes_total{action="done"`) {
		t.Fatalf("metrics count an unrecorded done as done:\n%s", m)
	}
	if err := h.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	// The worker's clients redial (go-redis retries a failed dial in the
	// background, once a second, until one succeeds): wait until they
	// have, so no redial outlives the test.
	testkit.Until(t, "the worker to reach Redis again", func() bool {
		_, rep := readyz(t, w)
		return rep.Redis != "unreachable"
	})
	testkit.Until(t, "the worker's Redis clients to redial", func() bool {
		return !strings.Contains(string(goroutineStacks()), "(*ConnPool).tryDial")
	})
}

// goroutineStacks is every goroutine's stack.
func goroutineStacks() []byte {
	buf := make([]byte, 1<<20)
	return buf[:runtime.Stack(buf, true)]
}

// TestUnrecordedRetry: a worker stalled past its lease (SIGSTOP) finds the
// task taken over and dead-lettered by another worker when it resumes; its
// retry is not asynq's to record, and it says so instead of "task retry".
func TestUnrecordedRetry(t *testing.T) {
	t.Parallel()
	var (
		h    *harness
		once sync.Once
	)
	h = newHarness(t, sandbox.Options{OnCall: func(no string) {
		// Once: asynq retries the task (its hash says archived, its lists
		// do not), and a second call may come while the test is cleaning
		// up, its context cancelled (a flake, 1 in 20 runs).
		if no == "UNREC2" {
			once.Do(func() {
				// What another worker's dead-lettering leaves in asynq's
				// task hash while this one is mid-call.
				key := "asynq:{" + tasks.DefaultQueue + "}:t:UNREC2"
				if err := h.rdb.HSet(context.Background(), key, "state", "archived").Err(); err != nil {
					t.Error(err)
				}
			})
		}
	}})
	h.setFaults(sandbox.Faults{ApplyFailRate: 1}) // applied, then garbled: unknown outcome, a retry
	w := h.startWorker(nil)
	h.enqueue("UNREC2")
	a := h.attempts.Wait(t, "the attempt of the task taken over", 1, func(a attempt) bool { return a.PreStockinNo == "UNREC2" })[0]
	if a.Action != worker.ActRetry || !strings.Contains(a.NotRecorded, "archived") {
		t.Fatalf("attempt %+v", a.Attempt)
	}
	if h.lines.Count(func(l logLine) bool { return l.Message == unrecordedLine(worker.ActRetry) }) != 1 ||
		h.lines.Count(func(l logLine) bool { return l.Message == "task retry" }) != 0 {
		t.Fatalf("log: %s", h.lines.Dump())
	}
	if m := metricsText(t, w); !strings.Contains(m, `wdtcancel_task_outcomes_unrecorded_total{action="retry",seller="default"} 1`) {
		t.Fatalf("metrics:\n%s", m)
	}
}

// TestOnlyARecordedDoneStartsWithTaskDone: an operator's grep or alert on
// "task done" counts recorded dones only; the unrecorded and unconfirmed
// messages started "task done ..." and were counted with them.
func TestOnlyARecordedDoneStartsWithTaskDone(t *testing.T) {
	for _, a := range []worker.Action{worker.ActDone, worker.ActDead, worker.ActRetry} {
		for _, msg := range []string{worker.UnrecordedMessage(a), worker.UnconfirmedMessage(a)} {
			if strings.HasPrefix(msg, "task done") || !strings.Contains(msg, "("+string(a)+")") {
				t.Errorf("%q: must not start with \"task done\", and must name the action %s", msg, a)
			}
		}
	}
}

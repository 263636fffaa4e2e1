package worker_test

import (
	"fmt"
	"testing"

	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestWaitingForSlotsIsFree: at quota with a backlog, a task waits in the
// worker for its reserved slot instead of going back to the queue. Fifteen
// workers at 300 calls a minute reserve slots up to three seconds ahead,
// beyond the two seconds tasks used to be allowed to wait: then every task
// past that horizon was refused and rescheduled, and the freed worker
// dequeued the next task only to refuse it too, over a thousand times a
// second. Now not one task is sent back while the backlog drains at the
// rate, and no task line is logged but the one of each call.
func TestWaitingForSlotsIsFree(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{RatePerMinute: 300})
	var nos []string
	for i := 0; i < 40; i++ {
		nos = append(nos, fmt.Sprintf("SW%03d", i))
	}
	h.enqueue(nos...)
	h.startWorker(func(c *worker.Config) { c.Sellers[0].RatePerMinute = 300; c.Concurrency = 15 })
	h.attempts.Wait(t, "20 cancellations", 20, func(a attempt) bool { return a.Action == worker.ActDone })
	if n := h.attempts.Count(func(a attempt) bool { return a.Action != worker.ActDone }); n != 0 {
		t.Fatalf("%d attempts ended without a call while tasks waited for slots; attempts:\n%s", n, h.attempts.Dump())
	}
	if st := h.sb.Stats(); st.ByStatus["100"] != 0 {
		t.Fatalf("%d rate-limit answers", st.ByStatus["100"])
	}
	if n := h.lines.Count(func(l logLine) bool { return l.Message == "task snooze" }); n != 0 {
		t.Fatalf("%d snooze lines logged", n)
	}
}

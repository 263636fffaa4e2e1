package worker_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestTasksAreFetchedBySlot: a worker of several sellers fetches a paced
// seller's task only when its slot is near (pacing.go). Seller "slow" may
// call once a minute and has three tasks; seller "free" has no limit and
// twenty. With two workers, "slow"'s first task goes at once and "free"'s
// twenty run; "slow"'s other two stay in Redis, pending, instead of each
// holding a worker for its seller's slot a minute away (asynq alone
// fetches them at random as soon as a worker is free, and they wait in
// hand or go back to wait again: fetched either way).
func TestTasksAreFetchedBySlot(t *testing.T) {
	h := newSellersHarness(t, map[string]sandbox.Options{"slow": {}, "free": {}})
	slow, free := h.lane("slow", ""), h.lane("free", "")
	slow.RatePerMinute = 1
	w := h.start([]worker.SellerLane{slow, free}, nil)
	var frees []string
	for i := range 20 {
		frees = append(frees, fmt.Sprintf("F%02d", i))
	}
	h.enqueue("slow", "S1", "S2", "S3")
	h.enqueue("free", frees...)
	h.done("free", frees...)
	settled := h.attempts.Wait(t, "one of slow's tasks settled", 1, func(a attempt) bool {
		return a.Seller == "slow" && (a.Action == worker.ActDone || a.Action == worker.ActDead)
	})
	if settled[0].Category != "cancelled" {
		t.Fatalf("slow's first task: %v", settled[0])
	}
	q, err := h.insp.GetQueueInfo(tasks.QueueFor(tasks.DefaultQueue, "slow"))
	if err != nil {
		t.Fatal(err)
	}
	if q.Pending != 2 || q.Active != 0 || q.Scheduled != 0 {
		t.Fatalf("slow's queue: %d pending, %d active, %d scheduled; want 2 pending and none fetched before its slot", q.Pending, q.Active, q.Scheduled)
	}
	series := `wdtcancel_rate_limit_waits_total{reason="rate",seller="slow"} `
	for _, line := range strings.Split(metricsText(t, w), "\n") {
		if strings.HasPrefix(line, series) && line != series+"0" {
			t.Fatalf("a task of slow was fetched and sent back to wait for its slot: %s", line)
		}
	}
}

package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestGroupCommitMarksBeforeEveryCall: with the marks and results of
// concurrent calls group-committed (a linger, so that batches form), WDT
// sees no call whose sent mark is not in Redis at that moment, every task
// completes, and no mark is left once the results are written.
func TestGroupCommitMarksBeforeEveryCall(t *testing.T) {
	var (
		mu       sync.Mutex
		unmarked []string
		h        *harness
	)
	h = newHarness(t, sandbox.Options{OnCall: func(no string) {
		if h.rdb.Exists(context.Background(), store.SentKey(tasks.DefaultQueue, no)).Val() != 1 {
			mu.Lock()
			unmarked = append(unmarked, no)
			mu.Unlock()
		}
	}})
	h.startWorker(func(c *worker.Config) {
		c.Concurrency = 8
		c.GroupCommitLinger = 2 * time.Millisecond
	})
	var nos []string
	for i := range 40 {
		nos = append(nos, fmt.Sprintf("GC%03d", i))
	}
	h.enqueue(nos...)
	h.attempts.Wait(t, "40 cancellations", len(nos), func(a attempt) bool { return a.Action == worker.ActDone })
	mu.Lock()
	defer mu.Unlock()
	if len(unmarked) > 0 {
		t.Errorf("WDT was called for %v before their sent marks were in Redis", unmarked)
	}
	for _, no := range nos {
		if n := h.rdb.Exists(context.Background(), store.SentKey(tasks.DefaultQueue, no), store.UnknownKey(tasks.DefaultQueue, no)).Val(); n != 0 {
			t.Errorf("%s: %d mark(s) left after its result was written", no, n)
		}
	}
}

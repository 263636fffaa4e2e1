package enqueue

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// TestStatusCountsAttemptsLikeTheWorker: a first-try success showed
// "attempts 0 of 25" and a dead letter whose record said 3 attempts showed 2,
// while the worker stopped at 20. Status now counts the attempt that ended
// the task, takes a dead number's count from its record, and the budget is
// tasks.DefaultMaxRetry, the worker's default too.
func TestStatusCountsAttemptsLikeTheWorker(t *testing.T) {
	c, r := newClient(t)
	ctx := context.Background()
	opt, _ := asynq.ParseRedisURI(r.URL())
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: 2, Queues: map[string]int{tasks.DefaultQueue: 1},
		TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel,
	})
	if err := srv.Start(asynq.HandlerFunc(func(_ context.Context, task *asynq.Task) error {
		if p, _ := tasks.DecodePayload(task.Payload()); strings.HasPrefix(p.PreStockinNo, "GONE") {
			return fmt.Errorf("rejected: %w", asynq.SkipRetry)
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	for _, no := range []string{"OK1", "GONE1"} {
		if _, err := c.Cancel(ctx, no); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(no string, state asynq.TaskState) {
		t.Helper()
		testkit.Until(t, fmt.Sprintf("%s %v", no, state), func() bool {
			info, err := c.insp.GetTaskInfo(c.queue, no)
			return err == nil && info.State == state
		})
	}
	wait("OK1", asynq.TaskStateCompleted)
	st, err := c.Status(ctx, "OK1")
	if err != nil || st.Attempts != 1 || st.MaxRetry != tasks.DefaultMaxRetry {
		t.Fatalf("first-try success: %+v %v, want attempts 1 of %d", st, err, tasks.DefaultMaxRetry)
	}

	wait("GONE1", asynq.TaskStateArchived)
	if err := store.NewDLQ(c.rdb, c.queue).Put(ctx, store.Record{PreStockinNo: "GONE1", Category: "rejected", Attempts: 3}); err != nil {
		t.Fatal(err)
	}
	st, err = c.Status(ctx, "GONE1")
	if err != nil || st.State != StateDead || st.Attempts != 3 {
		t.Fatalf("dead letter: %+v %v, want the record's 3 attempts", st, err)
	}
}

// TestStatusShowsTheWorkersBudget: a worker started with a smaller
// --max-retry publishes it, and status shows the budget the worker really
// applies ("3 of 20" next to a dead letter exhausted after 3 was the trap).
func TestStatusShowsTheWorkersBudget(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	if _, err := c.Cancel(ctx, "MR1"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ published, want int }{
		{0, tasks.DefaultMaxRetry},  // no worker published one
		{3, 3},                      // the worker stops earlier
		{50, tasks.DefaultMaxRetry}, // the task's own budget is smaller
	} {
		if tt.published > 0 {
			if err := store.PublishMaxRetry(ctx, c.rdb, c.queue, tt.published); err != nil {
				t.Fatal(err)
			}
		}
		st, err := c.Status(ctx, "MR1")
		if err != nil || st.MaxRetry != tt.want {
			t.Fatalf("published %d: max_retry %d (%v), want %d", tt.published, st.MaxRetry, err, tt.want)
		}
	}
}

package store

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestActiveLeasesAgainstAsynq pins asynq's lease layout: a task an asynq
// server is running counts as Live with the clock of now, and as Gone (its
// expiry the lease asynq wrote, within asynq's 30 s) with a clock past the
// lease, as when the server was killed and nobody extends it any more. A
// queue without active tasks counts nothing.
func TestActiveLeasesAgainstAsynq(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	const q = "lease-q"
	if got, err := ReadActiveLeases(ctx, rdb, q, time.Now()); err != nil || got != (ActiveLeases{}) {
		t.Fatalf("empty queue: %+v %v", got, err)
	}
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.TaskID("RUN")); err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: r.Addr}, asynq.Config{Concurrency: 1, Queues: map[string]int{q: 1}, LogLevel: asynq.FatalLevel})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	defer close(release)
	testkit.Recv(t, started, "the server running the task")

	before := time.Now()
	live, err := ReadActiveLeases(ctx, rdb, q, before)
	if err != nil || live != (ActiveLeases{Live: 1}) {
		t.Fatalf("running task: %+v %v, want Live 1", live, err)
	}
	later := before.Add(time.Hour)
	gone, err := ReadActiveLeases(ctx, rdb, q, later)
	if err != nil || gone.Live != 0 || gone.Gone != 1 {
		t.Fatalf("past the lease: %+v %v, want Gone 1", gone, err)
	}
	if gone.GoneSince.Before(before.Add(-time.Second)) || gone.GoneSince.After(before.Add(time.Minute)) {
		t.Errorf("lease expiry %s, want within a minute of %s (asynq's lease is 30 s)", gone.GoneSince, before)
	}
}

package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestActivityKeysAgainstAsynq pins the asynq keys the activity index reads
// (queueWorkKeys) against tasks asynq itself put in each state: pending,
// scheduled, retry and active. If an asynq upgrade moves one, RetireQueue
// would take a queue with tasks for an empty one, and this fails.
func TestActivityKeysAgainstAsynq(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(rdb)
	cases := []struct {
		queue string
		put   func(q string) error
		key   func(q string) string
	}{
		{"kp", func(q string) error {
			_, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.TaskID("P"))
			return err
		}, AsynqPendingKey},
		{"ks", func(q string) error {
			_, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.TaskID("S"), asynq.ProcessIn(time.Hour))
			return err
		}, asynqScheduledKey},
		{"kr", func(q string) error {
			// asynq moves a failed task to its retry set; the inspector
			// cannot, so a one-shot server fails it once.
			return failOnce(t, rdb, q)
		}, asynqRetryKey},
	}
	for _, c := range cases {
		if err := c.put(c.queue); err != nil {
			t.Fatalf("%s: %v", c.queue, err)
		}
		if n, err := rdb.Exists(ctx, c.key(c.queue)).Result(); err != nil || n != 1 {
			t.Errorf("queue %s: key %s does not exist (%d, %v): asynq's layout moved; fix queueWorkKeys", c.queue, c.key(c.queue), n, err)
		}
		res, err := queueWorkCmd.Run(ctx, rdb, queueWorkKeys(c.queue)).Text()
		if err != nil || res == "-1" {
			t.Errorf("queue %s with a task reads as empty (%q, %v)", c.queue, res, err)
		}
	}
	if q, s, ok := AsynqQueueKeySuffix(AsynqPendingKey("wdt-cancel:a}:b")); !ok || q != "wdt-cancel:a}:b" || s != "pending" {
		t.Errorf("AsynqQueueKeySuffix: %q %q %v", q, s, ok)
	}
}

// failOnce puts one task of queue in asynq's retry set the way asynq
// does: a server runs it and its handler fails.
func failOnce(t *testing.T, rdb redis.UniversalClient, queue string) error {
	t.Helper()
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(queue), asynq.TaskID("R"), asynq.MaxRetry(5)); err != nil {
		return err
	}
	failed := make(chan struct{}, 1)
	var once sync.Once
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{queue: 1}, LogLevel: asynq.FatalLevel,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour }})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		once.Do(func() { failed <- struct{}{} })
		return fmt.Errorf("fail once")
	})); err != nil {
		return err
	}
	defer srv.Shutdown()
	testkit.Recv(t, failed, "the task of "+queue+" run")
	testkit.Until(t, "the failed task of "+queue+" in the retry set", func() bool {
		n, _ := rdb.ZCard(context.Background(), asynqRetryKey(queue)).Result()
		return n == 1
	})
	return nil
}

// TestRetireQueueNeverStrandsATask drives every interleaving of a
// producer (enqueue, then MarkActive) with a worker's RetireQueue (ZREM,
// read, re-add): whatever the order, a queue holding a task ends in the
// index, and one holding only a delayed task ends there with its due time
// unless a producer said "now".
func TestRetireQueueNeverStrandsATask(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(rdb)
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	enqueue := func(q, id string, at time.Time) {
		t.Helper()
		opts := []asynq.Option{asynq.Queue(q), asynq.TaskID(id)}
		if !at.IsZero() {
			opts = append(opts, asynq.ProcessAt(at))
		}
		if _, err := client.Enqueue(asynq.NewTask("t", nil), opts...); err != nil {
			t.Fatal(err)
		}
	}
	mark := func(q string) {
		t.Helper()
		if err := MarkActive(ctx, rdb, q); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		// before runs before RetireQueue, between after its ZREM and
		// before its read, after once it returned.
		before, between, after func(q string)
		kept                   bool
		score                  float64 // in the index at the end; -1: absent
	}{
		{name: "empty queue is retired", kept: false, score: -1},
		{name: "enqueue and mark between remove and read",
			between: func(q string) { enqueue(q, "A", time.Time{}); mark(q) }, kept: true, score: 0},
		{name: "enqueue between, mark after the retire",
			between: func(q string) { enqueue(q, "A", time.Time{}) }, after: mark, kept: true, score: 0},
		{name: "enqueue after the read, mark after the retire",
			after: func(q string) { enqueue(q, "A", time.Time{}); mark(q) }, kept: false, score: 0},
		{name: "a pending task before",
			before: func(q string) { enqueue(q, "A", time.Time{}) }, kept: true, score: 0},
		{name: "only a delayed task: due time",
			before: func(q string) { enqueue(q, "L", later) }, kept: true, score: float64(later.UnixMilli())},
		{name: "a delayed task and a producer's mark between: now wins",
			before: func(q string) { enqueue(q, "L", later) }, between: mark, kept: true, score: 0},
		{name: "a delayed task and an enqueue+mark after: now wins",
			before: func(q string) { enqueue(q, "L", later) }, after: func(q string) { enqueue(q, "A", time.Time{}); mark(q) }, kept: true, score: 0},
	}
	for i, c := range cases {
		q := fmt.Sprintf("retire-%d", i)
		mark(q) // it was active
		if c.before != nil {
			c.before(q)
		}
		var between func()
		if c.between != nil {
			between = func() { c.between(q) }
		}
		kept, err := retireQueue(ctx, rdb, q, between)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.after != nil {
			c.after(q)
		}
		if kept != c.kept {
			t.Errorf("%s: kept %v, want %v", c.name, kept, c.kept)
		}
		score, err := rdb.ZScore(ctx, ActiveQueuesKey, q).Result()
		switch {
		case err == redis.Nil && c.score != -1:
			t.Errorf("%s: the queue left the index: its task is stranded", c.name)
		case err == nil && c.score == -1:
			t.Errorf("%s: an empty queue stayed in the index (score %v)", c.name, score)
		case err == nil && score != c.score:
			t.Errorf("%s: score %v, want %v", c.name, score, c.score)
		case err != nil && err != redis.Nil:
			t.Fatal(err)
		}
	}
}

// TestSweepFindsTasksOutsideTheIndex: a task enqueued without MarkActive
// (an old producer, plain asynq, a producer that died before its mark) is
// found by the sweep; queues already indexed or empty are not touched.
func TestSweepFindsTasksOutsideTheIndex(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(rdb)
	for _, q := range []string{"sw-plain", "sw-indexed"} {
		if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.TaskID("A")); err != nil {
			t.Fatal(err)
		}
	}
	if err := MarkActive(ctx, rdb, "sw-indexed"); err != nil {
		t.Fatal(err)
	}
	idx, err := ActiveQueues(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	found, err := SweepQueues(ctx, rdb, []string{"sw-empty", "sw-indexed", "sw-plain"}, idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0] != "sw-plain" {
		t.Fatalf("sweep found %v, want [sw-plain]", found)
	}
	idx, _ = ActiveQueues(ctx, rdb)
	if _, ok := idx["sw-plain"]; !ok {
		t.Fatalf("sw-plain not in the index after the sweep: %v", idx)
	}
	if _, ok := idx["sw-empty"]; ok {
		t.Fatalf("an empty queue was indexed: %v", idx)
	}
	// One sweep per interval across workers of the same sellers.
	qs := []string{"sw-plain"}
	if ok, err := TrySweepLock(ctx, rdb, qs, time.Minute, "a"); !ok || err != nil {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	if ok, err := TrySweepLock(ctx, rdb, qs, time.Minute, "b"); ok || err != nil {
		t.Fatalf("second lock within the interval: %v %v", ok, err)
	}
}

// TestActivityMarkerSharesRounds: concurrent marks of many queues all end
// in the index, every caller is answered, and they share ZADDs.
func TestActivityMarkerSharesRounds(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	m := NewActivityMarker(rdb)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- m.Mark(ctx, fmt.Sprintf("mk-%d", i%20))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c, err := rdb.ZCard(ctx, ActiveQueuesKey).Result(); err != nil || c != 20 {
		t.Fatalf("index holds %d queues (%v), want 20", c, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running || m.next != nil {
		t.Fatalf("marker not idle after every call returned: running %v, next %v", m.running, m.next)
	}
}

package store

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// newRedis is a client on a Redis of the test's own.
func newRedis(t *testing.T) *redis.Client {
	t.Helper()
	r := testkit.NewRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestOutcomeMemory walks one number through what the worker records
// around its calls, and checks each step against what Recall reports and
// which keys exist.
func TestOutcomeMemory(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	const q, no = "q", "N1"
	m := NewOutcomeMemory(rdb, q)
	at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

	exists := func(key string) bool { return rdb.Exists(ctx, key).Val() == 1 }
	recall := func(step string, wantConfirmed, wantUnknown bool) {
		t.Helper()
		confirmed, unknown, err := m.Recall(ctx, no)
		if err != nil || confirmed != wantConfirmed || unknown != wantUnknown {
			t.Fatalf("%s: recall confirmed=%v unknown=%v err=%v, want %v %v", step, confirmed, unknown, err, wantConfirmed, wantUnknown)
		}
	}

	recall("nothing yet", false, false)
	if died, err := m.Begin(ctx, no, at); err != nil || died {
		t.Fatalf("first begin: died=%v %v", died, err)
	}
	if !exists(SentKey(q, no)) {
		t.Fatal("no sent mark after Begin")
	}
	if ttl := rdb.TTL(ctx, SentKey(q, no)).Val(); ttl <= 29*24*time.Hour {
		t.Fatalf("sent mark TTL %v, want 30 days", ttl)
	}
	if err := m.Answered(ctx, no); err != nil || exists(SentKey(q, no)) {
		t.Fatalf("answered: %v, sent mark still there: %v", err, exists(SentKey(q, no)))
	}
	recall("definite answer", false, false)

	// A worker killed mid-call leaves the sent mark; the next Begin finds it.
	m.Begin(ctx, no, at)
	if died, err := m.Begin(ctx, no, at.Add(time.Minute)); err != nil || !died {
		t.Fatalf("begin after a killed attempt: died=%v %v", died, err)
	}
	recall("killed attempt", false, true)
	if got := rdb.Get(ctx, UnknownKey(q, no)).Val(); got != at.Format(time.RFC3339Nano) {
		t.Fatalf("unknown mark %q keeps the killed attempt's time", got)
	}

	if err := m.Cancelled(ctx, no); err != nil {
		t.Fatal(err)
	}
	recall("cancelled", true, false)
	if exists(SentKey(q, no)) || exists(UnknownKey(q, no)) || !exists(ConfirmedKey(q, no)) {
		t.Fatal("cancelled keeps only the confirmed mark")
	}

	m.Begin(ctx, no, at)
	if err := m.Unknown(ctx, no, at); err != nil || exists(SentKey(q, no)) {
		t.Fatalf("unknown: %v", err)
	}
	recall("unknown outcome after a confirmation", true, true)
	// A second unknown outcome keeps the first one's time. (SET NX finds
	// the mark and answers nil: that is not an error.)
	if err := m.Unknown(ctx, no, at.Add(time.Hour)); err != nil {
		t.Fatalf("second unknown outcome: %v", err)
	}
	if got := rdb.Get(ctx, UnknownKey(q, no)).Val(); got != at.Format(time.RFC3339Nano) {
		t.Fatalf("unknown mark %q, want the first outcome's time", got)
	}
	if err := m.Forget(ctx, no); err != nil {
		t.Fatal(err)
	}
	recall("forgotten", false, false)
	if n := rdb.Exists(ctx, SentKey(q, no), UnknownKey(q, no), ConfirmedKey(q, no)).Val(); n != 0 {
		t.Fatalf("%d marks left after Forget", n)
	}
}

// TestClearLater: marks queued for clearing are gone once Close returns,
// and a ClearLater after Close clears at once.
func TestClearLater(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	const q = "q"
	m := NewOutcomeMemory(rdb, q)
	at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for _, no := range []string{"A", "B", "C"} {
		m.Begin(ctx, no, at)
		m.ClearLater(ctx, no)
	}
	m.Close()
	m.Begin(ctx, "D", at)
	m.ClearLater(ctx, "D")
	for _, no := range []string{"A", "B", "C", "D"} {
		if n := rdb.Exists(ctx, SentKey(q, no), UnknownKey(q, no)).Val(); n != 0 {
			t.Fatalf("%s: %d marks left", no, n)
		}
	}
	m.Close() // twice is fine
}

// TestConfirmInTaskOnlyIntoALiveTask: the result goes into asynq's task hash
// while asynq holds the task, and never creates one (a failover that lost
// the task would otherwise leave a hash asynq cannot read, and the number
// could never be enqueued again).
func TestConfirmInTaskOnlyIntoALiveTask(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	const q = "confirm-in-task"
	if _, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.TaskID("LIVE")); err != nil {
		t.Fatal(err)
	}
	m := NewOutcomeMemory(rdb, q)
	defer m.Close()
	for _, tt := range []struct {
		id   string
		want bool
	}{{"LIVE", true}, {"GONE", false}} {
		ok, err := m.ConfirmInTask(ctx, tt.id, []byte(`{"category":"cancelled"}`))
		if err != nil || ok != tt.want {
			t.Fatalf("%s: %v, %v; want %v", tt.id, ok, err, tt.want)
		}
	}
	if got := rdb.HGet(ctx, asynqTaskKey(q, "LIVE"), "result").Val(); got != `{"category":"cancelled"}` {
		t.Fatalf("live task's result %q", got)
	}
	if n := rdb.Exists(ctx, asynqTaskKey(q, "GONE")).Val(); n != 0 {
		t.Fatal("a hash was created for a task asynq does not hold")
	}
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(q, "LIVE")
	if err != nil || string(info.Result) != `{"category":"cancelled"}` {
		t.Fatalf("asynq reads the result as %q, %v", info.Result, err)
	}
}

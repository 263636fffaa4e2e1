package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

func newClient(t testing.TB, opts ...ClientOption) (*Client, *testkit.Redis) {
	t.Helper()
	r := testkit.NewRedis(t)
	opt, err := asynq.ParseRedisURI(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(opt, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, r
}

// startServer runs an asynq server on the queue whose handler acts by the
// number's prefix, to put tasks into every state. It sends each number on
// started as its handler begins.
func startServer(t *testing.T, r *testkit.Redis, started chan<- string, release <-chan struct{}) {
	t.Helper()
	opt, _ := asynq.ParseRedisURI(r.URL())
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: 4, Queues: map[string]int{tasks.DefaultQueue: 1},
		TaskCheckInterval: 10 * time.Millisecond,
		RetryDelayFunc:    func(int, error, *asynq.Task) time.Duration { return time.Hour },
		LogLevel:          asynq.FatalLevel,
	})
	h := asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		p, _ := tasks.DecodePayload(task.Payload())
		started <- p.PreStockinNo
		switch {
		case strings.HasPrefix(p.PreStockinNo, "ACTIVE"):
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		case strings.HasPrefix(p.PreStockinNo, "RETRY"):
			return errors.New("try later")
		case strings.HasPrefix(p.PreStockinNo, "ARCHIVED"):
			return fmt.Errorf("no: %w", asynq.SkipRetry)
		}
		return nil
	})
	if err := srv.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

// waitState waits until no's status is want. asynq records a task's new
// state after its handler returns, with no event to wait on, so this polls.
func waitState(t *testing.T, c *Client, no, want string) {
	t.Helper()
	if !testkit.Poll(func() bool {
		st, err := c.Status(context.Background(), no)
		return err == nil && st.State == want
	}) {
		st, err := c.Status(context.Background(), no)
		t.Fatalf("%s never reached %s: %+v %v", no, want, st, err)
	}
}

func TestCancelDuplicatesInEveryState(t *testing.T) {
	t.Parallel()
	c, r := newClient(t, WithSource("test"))
	ctx := context.Background()
	started := make(chan string, 8)
	release := make(chan struct{})
	defer close(release)

	// Scheduled and pending need no server; enqueue them first.
	if res, err := c.Cancel(ctx, "SCHED1", asynq.ProcessIn(time.Hour)); err != nil || res.Result != Enqueued {
		t.Fatalf("%+v %v", res, err)
	}
	startServer(t, r, started, release)
	for _, no := range []string{"ACTIVE1", "RETRY1", "ARCHIVED1", "DONE1"} {
		if res, err := c.Cancel(ctx, no); err != nil || res.Result != Enqueued {
			t.Fatalf("%s: %+v %v", no, res, err)
		}
	}
	// Every handler has begun (ACTIVE1's holds until the test ends); the
	// others' tasks change state once their handlers return.
	ran := map[string]bool{}
	for range 4 {
		ran[testkit.Recv(t, started, "a handler to begin")] = true
	}
	if !ran["ACTIVE1"] {
		t.Fatalf("handlers began for %v", ran)
	}
	waitState(t, c, "ACTIVE1", StateActive)
	waitState(t, c, "RETRY1", StateRetry)
	waitState(t, c, "ARCHIVED1", StateArchived)
	waitState(t, c, "DONE1", StateCompleted)
	// A dead-letter record with no asynq task left: the archive was trimmed.
	if err := c.rdb.HSet(ctx, store.DeadLetterKey(c.queue), "DEAD1", `{"category":"rejected"}`).Err(); err != nil {
		t.Fatal(err)
	}

	tests := []struct{ no, state string }{
		{"SCHED1", StateScheduled}, {"ACTIVE1", StateActive}, {"RETRY1", StateRetry},
		{"ARCHIVED1", StateArchived}, {"DONE1", StateCompleted}, {"DEAD1", StateDead},
	}
	for _, tt := range tests {
		res, err := c.Cancel(ctx, " "+tt.no+" ")
		if err != nil || res.Result != Duplicate || res.State != tt.state || res.PreStockinNo != tt.no {
			t.Errorf("%s: %+v %v, want duplicate %s", tt.no, res, err, tt.state)
		}
	}
	// The dead number was not silently re-enqueued.
	if _, err := c.insp.GetTaskInfo(c.queue, "DEAD1"); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("dead number got a live task: %v", err)
	}
	st, err := c.Status(ctx, "RETRY1")
	if err != nil || st.LastError != "try later" || st.NextAttemptAt == nil || st.Attempts != 1 {
		t.Fatalf("retry status %+v %v", st, err)
	}
	st, err = c.Status(ctx, "DEAD1")
	if err != nil || st.State != StateDead || string(st.DeadLetter) != `{"category":"rejected"}` {
		t.Fatalf("dead status %+v %v", st, err)
	}
	if _, err := c.Status(ctx, "NEVER1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown number: %v", err)
	}
}

// TestStatusJSONShowsRecordAsStored: `wdtcancel status --json` and
// GET /v1/cancellations/{no} print the dead-letter record byte for byte as
// stored. Decoding it into a store.Record and encoding it again would not
// (their encoders leave "<" and "&" unescaped), so Status keeps the raw
// JSON.
func TestStatusJSONShowsRecordAsStored(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	dlq := store.NewDLQ(c.rdb, c.queue)
	st100 := 100
	rec := store.Record{PreStockinNo: "DEAD2", Category: "rejected", WDTStatus: &st100, Message: "单据不存在",
		Error: "rejected: WDT status 100: 单据不存在", Attempts: 1, Source: "erp <nightly> & co",
		DeadLetteredAt: time.Date(2026, 11, 27, 0, 5, 0, 0, time.UTC)}
	if err := dlq.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	stored := c.rdb.HGet(ctx, store.DeadLetterKey(c.queue), "DEAD2").Val()
	st, err := c.Status(ctx, "DEAD2")
	if err != nil {
		t.Fatal(err)
	}
	// As the CLI and the HTTP API encode it.
	encode := func(v any) string {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		return b.String()
	}
	want := `{"pre_stockin_no":"DEAD2","state":"dead","queue":"wdt-cancel","seller":"default","attempts":1,"dead_letter":` + stored + "}\n"
	if got := encode(st); got != want {
		t.Fatalf("status JSON\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(stored, `erp \u003cnightly\u003e \u0026 co`) {
		t.Fatalf("stored record %s", stored)
	}
	typed, err := dlq.Get(ctx, "DEAD2")
	if err != nil {
		t.Fatal(err)
	}
	if again := encode(typed); again == stored+"\n" {
		t.Fatal("the typed record encodes as stored: Status could carry a store.Record")
	}
}

func TestCancelInvalid(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	for _, no := range []string{"", "RK 1", strings.Repeat("x", 65), "退货"} {
		res, err := c.Cancel(context.Background(), no)
		if res.Result != Invalid || !errors.Is(err, tasks.ErrInvalid) {
			t.Errorf("%q: %+v %v", no, res, err)
		}
	}
}

func TestCancelRedisDown(t *testing.T) {
	t.Parallel()
	opt, _ := asynq.ParseRedisURI("redis://127.0.0.1:1/0")
	c, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Cancel(context.Background(), "RK1")
	if res.Result != Failed || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%+v %v", res, err)
	}
	if err := c.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ping: %v", err)
	}
}

func TestCancelManyBulk(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	var nos []string
	for i := 0; i < 10000; i++ {
		switch {
		case i%1000 == 7:
			nos = append(nos, fmt.Sprintf("BAD %d", i))
		case i%1000 == 9:
			nos = append(nos, fmt.Sprintf("RK%06d", i-1)) // repeats the previous number
		default:
			nos = append(nos, fmt.Sprintf("RK%06d", i))
		}
	}
	var progress atomic.Int64
	results, err := c.CancelSlice(context.Background(), nos, ManyOptions{Parallelism: 16, Progress: func(Result) { progress.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	sum := Summarize(results, false)
	if sum.Enqueued != 9980 || sum.Invalid != 10 || sum.Duplicate != 10 || sum.Failed != 0 || progress.Load() != 10000 {
		t.Fatalf("summary %+v progress %d", sum, progress.Load())
	}
	if len(sum.Items) != 20 {
		t.Fatalf("items %d", len(sum.Items))
	}
	for i, r := range results {
		want := strings.TrimSpace(nos[i])
		if r.PreStockinNo != want {
			t.Fatalf("result %d is for %q, want %q (order lost)", i, r.PreStockinNo, want)
		}
	}
	q, err := c.insp.GetQueueInfo(c.queue)
	if err != nil || q.Pending != 9980 {
		t.Fatalf("queue %+v %v", q, err)
	}
	// The same batch again: everything already known.
	results, _ = c.CancelSlice(context.Background(), nos, ManyOptions{})
	if s := Summarize(results, false); s.Enqueued != 0 || s.Duplicate != 9990 {
		t.Fatalf("second run %+v", s)
	}
}

func TestCancelManyStopsOnContextCancel(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	var done atomic.Int64
	sixteen := make(chan struct{})
	seq := func(yield func(string) bool) {
		for i := 0; i < 1000; i++ {
			if i == 100 {
				// Cancel once the first numbers have really been handled.
				select {
				case <-sixteen:
				case <-time.After(testkit.Failsafe):
					t.Error("the first 16 numbers were never handled")
				}
				cancel()
			}
			if !yield(fmt.Sprintf("RK%d", i)) {
				return
			}
		}
	}
	results, err := c.CancelMany(ctx, seq, ManyOptions{Parallelism: 4, Progress: func(Result) {
		if done.Add(1) == 16 {
			close(sixteen)
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if len(results) != 1000 {
		t.Fatalf("%d results for 1000 inputs", len(results))
	}
	sum := Summarize(results, false)
	if sum.Enqueued < 16 || sum.Enqueued > 200 || sum.Enqueued+sum.Failed != 1000 {
		t.Fatalf("enqueued %d, failed %d: want some work done before the cancel at item 100, the rest reported failed", sum.Enqueued, sum.Failed)
	}
	// Every enqueued result is really in Redis: nothing claimed that was not done.
	q, _ := c.insp.GetQueueInfo(c.queue)
	if q.Pending != sum.Enqueued {
		t.Fatalf("pending %d, enqueued %d", q.Pending, sum.Enqueued)
	}
}

func BenchmarkEnqueue(b *testing.B) {
	c, _ := newClient(b)
	ctx := context.Background()
	b.Run("one-by-one", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, err := c.Cancel(ctx, fmt.Sprintf("ONE%d", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	round := 0
	b.Run("CancelMany", func(b *testing.B) {
		round++
		nos := make([]string, b.N)
		for i := range nos {
			nos[i] = fmt.Sprintf("MANY%d-%d", round, i)
		}
		b.ResetTimer()
		res, _ := c.CancelSlice(ctx, nos, ManyOptions{})
		if s := Summarize(res, false); s.Enqueued != b.N {
			b.Fatalf("%+v", s)
		}
	})
}

func TestCancelManyRepeatedInvalidStaysInvalid(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	results, err := c.CancelSlice(context.Background(), []string{"RK 1", "RK 1", "RK1", " RK1 ", ""}, ManyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Outcome{Invalid, Invalid, Enqueued, Duplicate, Invalid}
	for i, r := range results {
		if r.Result != want[i] {
			t.Errorf("item %d %q: %s, want %s", i, r.PreStockinNo, r.Result, want[i])
		}
	}
	if results[3].State != StateInBatch {
		t.Errorf("repeat state %q", results[3].State)
	}
}

package worker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// pollRecorder records which of asynq's polling scripts (classify) a
// client sent, per queue.
type pollRecorder struct {
	mu   sync.Mutex
	seen map[asynqPoll]map[string]bool
}

func (p *pollRecorder) DialHook(next redis.DialHook) redis.DialHook { return next }
func (p *pollRecorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (p *pollRecorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if kind, q := classify(cmd); kind != notPoll {
			if kind == pollDequeue && !dequeueLayout(cmd, q) {
				kind = notPoll // seen, but not as redirect expects it
			}
			p.mu.Lock()
			if p.seen[kind] == nil {
				p.seen[kind] = map[string]bool{}
			}
			p.seen[kind][q] = true
			p.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

// dequeueLayout reports whether a dequeue of q has the keys and task
// prefix activity.redirect rewrites.
func dequeueLayout(cmd redis.Cmder, q string) bool {
	args := cmd.Args()
	if len(args) != 9 || args[8] != store.AsynqTaskKeyPrefix(q) {
		return false
	}
	for i, k := range store.AsynqDequeueKeys(q) {
		if args[3+i] != k {
			return false
		}
	}
	return true
}

func (p *pollRecorder) saw(kind asynqPoll, q string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[kind][q]
}

// TestActivityHookSeesAsynqScripts pins classify against the scripts the
// asynq version in go.mod really sends: a server polling one queue must
// be seen dequeuing, forwarding, scanning leases, reclaiming aggregation
// sets and running its janitor on that queue, each recognised by its first
// key and key count. An asynq upgrade that changes one fails here, instead
// of silently polling every idle queue again (or, worse, being answered
// for a queue with work).
func TestActivityHookSeesAsynqScripts(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	conn, _ := asynq.ParseRedisURI(r.URL())
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	rec := &pollRecorder{seen: map[asynqPoll]map[string]bool{}}
	rdb.AddHook(rec)
	const q = "pin"
	ran := make(chan struct{}, 1)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{q: 1}, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 20 * time.Millisecond, DelayedTaskCheckInterval: 50 * time.Millisecond, JanitorInterval: 50 * time.Millisecond})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		select {
		case ran <- struct{}{}:
		default:
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.ProcessIn(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	testkit.Recv(t, ran, "the scheduled task run")
	for kind, name := range map[asynqPoll]string{pollDequeue: "dequeue", pollForward: "forward", pollLease: "lease-expiry scan",
		pollReclaim: "aggregation-set reclaim", pollJanitor: "janitor"} {
		testkit.Until(t, "asynq's "+name+" script on queue "+q+" recognised", func() bool { return rec.saw(kind, q) })
	}
}

// dequeueCmd builds the command asynq's dequeue of queue sends (the
// layout TestActivityHookSeesAsynqScripts pins).
func dequeueCmd(queue string) *redis.Cmd {
	k := store.AsynqDequeueKeys(queue)
	return redis.NewCmd(context.Background(), "evalsha", "0123", 4, k[0], k[1], k[2], k[3], time.Now().Unix(), store.AsynqTaskKeyPrefix(queue))
}

// TestClosedDequeueGoesToAnOpenQueue: in a round of asynq's dequeues, the
// first dequeue, of a closed queue, is sent to the open queue instead (its
// keys and task prefix), and the later ones of the round, the open
// queue's own included (it was just tried), are answered "no task"
// without Redis.
func TestClosedDequeueGoesToAnOpenQueue(t *testing.T) {
	a := newActivity(nil, []string{"c1", "c2", "c3", "open"}, ActivityOptions{}, zap.NewNop())
	a.byQ["open"].open.Store(true)
	a.byQ["open"].last.Store(time.Now().UnixNano())
	a.setOpen([]string{"open"})
	a.anyOpen.Store(true)
	var sent []string // queue of each command that reached "Redis"
	next := func(_ context.Context, cmd redis.Cmder) error {
		q, _, _ := store.AsynqQueueKeySuffix(cmd.Args()[3].(string))
		if got := cmd.Args()[8]; got != store.AsynqTaskKeyPrefix(q) {
			t.Errorf("redirected dequeue to %s carries task prefix %v", q, got)
		}
		sent = append(sent, q)
		cmd.SetErr(redis.Nil)
		return redis.Nil
	}
	for _, q := range []string{"c2", "c1", "open", "c3"} { // one round, asynq's shuffled order
		if err := a.dequeue(context.Background(), dequeueCmd(q), q, next); err != redis.Nil {
			t.Fatalf("dequeue %s: %v, want redis.Nil", q, err)
		}
	}
	if want := []string{"open"}; fmt.Sprint(sent) != fmt.Sprint(want) {
		t.Fatalf("commands sent to Redis went to %v, want %v (c2 redirected, the rest answered)", sent, want)
	}
	if a.pos.Load() != 0 {
		t.Fatalf("round not over after every queue: pos %d", a.pos.Load())
	}
	// A command of another layout is never rewritten.
	odd := redis.NewCmd(context.Background(), "evalsha", "0123", 4, "asynq:{c1}:pending", "x", "y", "z", 1, "p")
	sent = nil
	a.dequeue(context.Background(), odd, "c1", next)
	if len(sent) != 0 {
		t.Fatalf("a dequeue of an unexpected layout was sent as %v", sent)
	}
}

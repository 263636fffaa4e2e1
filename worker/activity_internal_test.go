package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

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

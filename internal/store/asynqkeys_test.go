package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// TestAsynqKeysAgainstAsynq checks the exported asynq key names against
// tasks asynq itself enqueued: AsynqTaskKey is the task's hash, and
// AsynqQueuePattern finds every key asynq made for the queue and none of a
// queue whose name starts the same or holds glob characters.
func TestAsynqKeysAgainstAsynq(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(rdb)
	queues := []string{"ak", "ak2", "ak*", "[ak]"}
	for _, q := range queues {
		// One pending task and one scheduled: asynq keeps them in different keys.
		for id, when := range map[string]time.Duration{"NOW": 0, "LATER": time.Hour} {
			if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.TaskID(id), asynq.ProcessIn(when)); err != nil {
				t.Fatalf("enqueue %s into %q: %v", id, q, err)
			}
		}
	}
	for _, q := range []string{"ak", "ak*", "[ak]"} {
		want := map[string]bool{AsynqTaskKey(q, "NOW"): false, AsynqTaskKey(q, "LATER"): false, AsynqPendingKey(q): false, "asynq:{" + q + "}:scheduled": false}
		iter := rdb.Scan(ctx, 0, AsynqQueuePattern(q), 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			if !strings.HasPrefix(k, "asynq:{"+q+"}:") {
				t.Errorf("queue %q: pattern %q matched %q of another queue", q, AsynqQueuePattern(q), k)
			}
			if _, ok := want[k]; ok {
				want[k] = true
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		for k, found := range want {
			if !found {
				t.Errorf("queue %q: pattern %q did not find %q", q, AsynqQueuePattern(q), k)
			}
		}
		if n, err := rdb.HExists(ctx, AsynqTaskKey(q, "NOW"), "msg").Result(); err != nil || !n {
			t.Errorf("queue %q: %s holds no task message (%v, %v): asynq's layout moved", q, AsynqTaskKey(q, "NOW"), n, err)
		}
	}
}

package main

import (
	"context"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestAPIGuardLogsEachChangeOnce: the api's periodic check notices a Redis
// that stops keeping writes across a crash, and that it is fixed, logging
// each change once, and the gauge follows.
func TestAPIGuardLogsEachChangeOnce(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	if !r.Real {
		t.Skip("persistence needs a real redis-server")
	}
	opt, _ := asynq.ParseRedisURI(r.URL())
	c, err := enqueue.New(opt, enqueue.WithWaitReplicas(enqueue.AutoReplicas, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.CheckRedis(ctx); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	g := &apiGuard{c: c, log: zap.New(core), interval: apiRedisCheckInterval}
	g.record()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()

	steps := []struct {
		appendonly string // "" leaves it
		wantLogs   int    // lines logged so far
		durable    int32
	}{
		{"", 0, 1},
		{"no", 1, 0},
		{"", 1, 0}, // unchanged: not logged again
		{"yes", 2, 1},
		{"", 2, 1},
	}
	for i, s := range steps {
		if s.appendonly != "" {
			if err := rdb.ConfigSet(ctx, "appendonly", s.appendonly).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if s.appendonly == "yes" {
			waitAOFWritten(t, rdb)
		}
		g.check(ctx)
		if n := logs.Len(); n != s.wantLogs || g.durable.Load() != s.durable {
			t.Fatalf("step %d (appendonly %q): %d log lines, want %d; durable %d, want %d: %v", i, s.appendonly, n, s.wantLogs, g.durable.Load(), s.durable, logs.All())
		}
	}
	if e := logs.All()[0]; e.Level != zap.ErrorLevel || e.ContextMap()["redis_problem"] == nil {
		t.Fatalf("first change logged as %+v", e)
	}
}

// waitAOFWritten waits until the AOF rewrite that CONFIG SET appendonly yes
// starts has finished: redis-server refuses to shut down while it writes
// the initial AOF, and the test kit's Stop would wait 10 s for it.
func waitAOFWritten(t *testing.T, rdb *redis.Client) {
	t.Helper()
	testkit.Until(t, "the initial AOF to be written", func() bool {
		info, err := rdb.Info(context.Background(), "persistence").Result()
		return err == nil && strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0")
	})
}

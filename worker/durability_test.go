package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zapcore"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/redisguard"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker"
)

// snapshotOnly is redis-server as its stock configuration ships: no AOF,
// RDB snapshots (issue 20: killed -9, it filed 453 of 1800 cancelled
// orders as clean rejections).
var snapshotOnly = testkit.RedisOptions{NoAOF: true, Save: "3600 1 300 100 60 10000"}

func TestVolatileRedisRefusedAtStart(t *testing.T) {
	t.Parallel()
	g := newGuardSetup(t, snapshotOnly, "a snapshot-only redis-server")
	g.cfg.RedisWaitReplicas = worker.AutoReplicas
	w, err := worker.New(g.cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Start(context.Background())
	w.Close()
	var ve *redisguard.VolatileError
	if !errors.As(err, &ve) || !errors.Is(err, redisguard.ErrVolatile) {
		t.Fatalf("started on a snapshot-only Redis: %v", err)
	}
	for _, want := range []string{"aof_enabled:0", "CONFIG SET appendonly yes", "CONFIG REWRITE", "--allow-volatile-redis"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if w.OpsAddr() != "" {
		t.Fatalf("ops port bound by a refused worker: %s", w.OpsAddr())
	}
}

// TestVolatileRedisAllowedShowsTheGap: with AllowVolatileRedis the worker
// runs, stays ready (the operator chose it) and shows the gap in /readyz's
// durability detail, the gauge and one warning.
func TestVolatileRedisAllowedShowsTheGap(t *testing.T) {
	t.Parallel()
	g := newGuardSetup(t, snapshotOnly, "a snapshot-only redis-server")
	g.cfg.AllowVolatileRedis = true
	g.cfg.RedisWaitReplicas = worker.AutoReplicas
	w := g.start(t)
	code, rep := readyz(t, w)
	if code != 200 || !rep.Ready || rep.Durability == nil || rep.Durability.State != worker.DurableVolatile || !rep.Durability.Allowed ||
		!strings.Contains(rep.Durability.Detail, "--allow-volatile-redis") || !strings.Contains(rep.Durability.Detail, "CONFIG SET appendonly yes") {
		t.Fatalf("readyz %d %+v %+v", code, rep, rep.Durability)
	}
	if body := metricsText(t, w); !strings.Contains(body, "wdtcancel_redis_durable 0") {
		t.Fatalf("metrics lack wdtcancel_redis_durable 0")
	}
	if err := w.CheckRedis(context.Background()); err != nil {
		t.Fatalf("check of an allowed volatile Redis: %v", err)
	}
	if n := g.countLogs(zapcore.WarnLevel, "--allow-volatile-redis"); n != 1 {
		t.Fatalf("%d warnings, want 1 (once per change): %v", n, g.logs.All())
	}

	// The fix, applied while it runs, is noticed at the next check.
	if err := g.rdb.ConfigSet(context.Background(), "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	waitAOFWritten(t, g.rdb)
	if err := w.CheckRedis(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, rep := readyz(t, w); rep.Durability == nil || rep.Durability.State != worker.DurableOK || rep.Durability.Allowed {
		t.Fatalf("after CONFIG SET appendonly yes: %+v", rep.Durability)
	}
	if body := metricsText(t, w); !strings.Contains(body, "wdtcancel_redis_durable 1") {
		t.Fatalf("metrics lack wdtcancel_redis_durable 1")
	}
}

// TestRedisBecomesVolatileTurnsReadinessRed: a Redis durable at start
// whose AOF is turned off later is not ready, with the fix.
func TestRedisBecomesVolatileTurnsReadinessRed(t *testing.T) {
	t.Parallel()
	g := newGuardSetup(t, testkit.RedisOptions{}, "AOF")
	g.cfg.RedisWaitReplicas = worker.AutoReplicas
	w := g.start(t)
	if code, rep := readyz(t, w); code != 200 || rep.Durability == nil || rep.Durability.State != worker.DurableOK {
		t.Fatalf("readyz on AOF everysec: %d %+v", code, rep.Durability)
	}
	if err := g.rdb.ConfigSet(context.Background(), "appendonly", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.CheckRedis(context.Background()); !errors.Is(err, redisguard.ErrVolatile) {
		t.Fatalf("check after appendonly no: %v", err)
	}
	code, rep := readyz(t, w)
	if code != 503 || rep.Ready || !strings.Contains(strings.Join(rep.Reasons, " "), "CONFIG SET appendonly yes") {
		t.Fatalf("readyz after appendonly no: %d %+v", code, rep)
	}
}

// TestReplicaWaitUnmetTurnsReadinessRed: a wait that cannot be met (one
// replica asked of a Redis that has none) turns /readyz red once it has
// failed for longer than the bound, naming the reason; the writes it
// guards are unknown outcomes meanwhile.
func TestReplicaWaitUnmetTurnsReadinessRed(t *testing.T) {
	t.Parallel()
	g := newGuardSetup(t, testkit.RedisOptions{}, "WAIT")
	g.cfg.RedisWaitReplicas = 1
	g.cfg.RedisWaitTimeout = 20 * time.Millisecond
	g.cfg.RedisWaitUnmetBound = 300 * time.Millisecond
	w := g.start(t)
	if code, _ := readyz(t, w); code != 200 {
		t.Fatalf("readyz before any wait: %d", code)
	}
	p, err := enqueue.New(g.cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Cancel(context.Background(), "UW1"); err != nil {
		t.Fatal(err)
	}
	g.attempts.Wait(t, "an attempt whose sent mark was not replicated", 1, func(attempt) bool { return true })
	var rep worker.ReadyReport
	testkit.Until(t, "readiness to turn red for the unmet wait", func() bool {
		var code int
		code, rep = readyz(t, w)
		return code == 503
	})
	if rep.Durability == nil || len(rep.Durability.WaitUnmet) != 1 || !strings.Contains(strings.Join(rep.Reasons, " "), "replica wait has not been met") ||
		!strings.Contains(rep.Durability.WaitUnmet[0], "0 of 1 replicas") {
		t.Fatalf("readyz %+v %+v", rep, rep.Durability)
	}
	if body := metricsText(t, w); !strings.Contains(body, "wdtcancel_redis_wait_unmet 1") {
		t.Fatal("metrics lack wdtcancel_redis_wait_unmet 1")
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

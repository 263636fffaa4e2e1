package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// TestRedisLossCommand: what an operator sees and does after the workers
// recorded a Redis loss: `status` of a lost number, `redis-loss show`, and
// `redis-loss ack`, which needs --yes without a terminal.
func TestRedisLossCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testkit.NewRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()

	out, _, code := runCmd(t, ctx, "", "redis-loss", "show", "--redis-url", r.URL())
	if code != 0 || !strings.Contains(out, "no unacknowledged Redis loss") {
		t.Fatalf("show with no loss: exit %d %q", code, out)
	}
	out, _, code = runCmd(t, ctx, "", "status", "--redis-url", r.URL(), "RKL1")
	if code != 1 || !strings.Contains(out, "never enqueued") {
		t.Fatalf("status with no loss: exit %d %q", code, out)
	}

	detected := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	if _, err := store.RecordLoss(ctx, rdb, store.Loss{Queue: tasks.DefaultQueue, Kind: store.LossEmpty, DetectedAt: detected,
		LastSeenEpoch: 420, FoundEpoch: 1, OldRunID: "aaa", NewRunID: "bbb", DetectedBy: "host pid 1"}); err != nil {
		t.Fatal(err)
	}
	out, _, code = runCmd(t, ctx, "", "status", "--redis-url", r.URL(), "RKL1")
	if code != 1 || strings.Contains(out, "never enqueued") || !strings.Contains(out, "may have been enqueued and lost") || !strings.Contains(out, "re-enqueue it") {
		t.Errorf("status during a loss: exit %d %q", code, out)
	}
	out, _, code = runCmd(t, ctx, "", "status", "--redis-url", r.URL(), "--json", "RKL1")
	var st struct {
		State     string      `json:"state"`
		RedisLoss *store.Loss `json:"redis_loss"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 1 || st.State != "unknown" || st.RedisLoss == nil || st.RedisLoss.Kind != store.LossEmpty {
		t.Errorf("status --json during a loss: exit %d %q (%v)", code, out, err)
	}
	out, _, code = runCmd(t, ctx, "", "redis-loss", "show", "--redis-url", r.URL())
	for _, want := range []string{"REDIS LOST WRITES", "came back empty", "2026-12-06T10:00:00Z", "last seen 420, found 1", "aaa -> bbb", "redis-loss ack --yes"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("show: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}

	if _, errOut, code := runCmd(t, ctx, "", "redis-loss", "ack", "--redis-url", r.URL()); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("ack without --yes and without a terminal: exit %d %q", code, errOut)
	}
	if l, _ := store.ReadLoss(ctx, rdb, tasks.DefaultQueue); l == nil {
		t.Fatal("ack without --yes removed the record")
	}
	out, _, code = runCmd(t, ctx, "", "redis-loss", "ack", "--yes", "--redis-url", r.URL())
	if code != 0 || !strings.Contains(out, "acknowledged the Redis loss of queue wdt-cancel") {
		t.Fatalf("ack: exit %d %q", code, out)
	}
	out, _, code = runCmd(t, ctx, "", "redis-loss", "show", "--json", "--redis-url", r.URL())
	var shown struct {
		Queue string      `json:"queue"`
		Loss  *store.Loss `json:"loss"`
		Acked *store.Loss `json:"last_acknowledged"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || code != 0 || shown.Loss != nil || shown.Acked == nil || shown.Acked.AckedAt == nil {
		t.Errorf("show --json after the ack: exit %d %q (%v)", code, out, err)
	}
	out, _, code = runCmd(t, ctx, "", "redis-loss", "ack", "--yes", "--redis-url", r.URL())
	if code != 0 || !strings.Contains(out, "nothing to acknowledge") {
		t.Errorf("second ack: exit %d %q", code, out)
	}
	if out, _, code = runCmd(t, ctx, "", "status", "--redis-url", r.URL(), "RKL1"); code != 1 || !strings.Contains(out, "never enqueued") {
		t.Errorf("status after the ack: exit %d %q", code, out)
	}
	if _, errOut, code := runCmd(t, ctx, "", "redis-loss", "show", "--seller", "Bad!", "--redis-url", r.URL()); code != 2 || !strings.Contains(errOut, "--seller") {
		t.Errorf("bad --seller: exit %d %q", code, errOut)
	}
}

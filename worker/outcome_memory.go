package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// outcomeMemoryTTL bounds how long an unknown outcome is remembered: well
// beyond any retry schedule and the task retention.
const outcomeMemoryTTL = 30 * 24 * time.Hour

// outcomeMemory remembers, per number and in Redis (so it survives retries
// and worker restarts), that an attempt was sent and its answer lost.
type outcomeMemory struct {
	rdb    redis.UniversalClient
	prefix string
}

func newOutcomeMemory(rdb redis.UniversalClient, queue string) *outcomeMemory {
	return &outcomeMemory{rdb: rdb, prefix: "wdtcancel:{" + queue + "}:unknown:"}
}

// Remember notes an unknown outcome; the first one's time is kept.
func (m *outcomeMemory) Remember(ctx context.Context, no string, at time.Time) error {
	if err := m.rdb.SetArgs(ctx, m.prefix+no, at.UTC().Format(time.RFC3339Nano), redis.SetArgs{Mode: "NX", TTL: outcomeMemoryTTL}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("remember unknown outcome of %s: %w", no, err)
	}
	return nil
}

// Recall reports whether an unknown outcome is remembered.
func (m *outcomeMemory) Recall(ctx context.Context, no string) (bool, error) {
	n, err := m.rdb.Exists(ctx, m.prefix+no).Result()
	if err != nil {
		return false, fmt.Errorf("recall unknown outcome of %s: %w", no, err)
	}
	return n == 1, nil
}

// Forget drops the memory once the outcome is known to be a success.
func (m *outcomeMemory) Forget(ctx context.Context, no string) error {
	if err := m.rdb.Del(ctx, m.prefix+no).Err(); err != nil {
		return fmt.Errorf("forget unknown outcome of %s: %w", no, err)
	}
	return nil
}

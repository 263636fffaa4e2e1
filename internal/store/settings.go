package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// PublishMaxRetry records the retry budget a worker of queue applies, so the
// producers' views (status, the HTTP GET) show the number the worker really
// stops at, not only the task's own.
func PublishMaxRetry(ctx context.Context, rdb redis.UniversalClient, queue string, n int) error {
	if err := rdb.HSet(ctx, SettingsKey(queue), "max_retry", n).Err(); err != nil {
		return fmt.Errorf("publish max_retry of %s: %w", queue, err)
	}
	return nil
}

// WorkerMaxRetry is the budget the workers of queue published, 0 when none
// did (no worker has started on this Redis since the setting existed).
func WorkerMaxRetry(ctx context.Context, rdb redis.UniversalClient, queue string) (int, error) {
	n, err := rdb.HGet(ctx, SettingsKey(queue), "max_retry").Int()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read max_retry of %s: %w", queue, err)
	}
	return n, nil
}

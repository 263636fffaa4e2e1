package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// asynqLeaseKey is asynq's sorted set of a queue's active task IDs scored
// by their lease expiry (unix seconds; internal/base of asynq v0.26,
// pinned by TestActiveLeasesAgainstAsynq). A running server extends the
// leases of the tasks it runs every few seconds; once a lease has expired
// no live process holds the task, and only asynq's recoverer of a server
// that fetches from the queue moves it back (to retry).
func asynqLeaseKey(queue string) string { return "asynq:{" + queue + "}:lease" }

// ActiveLeases splits a queue's active tasks by their lease.
type ActiveLeases struct {
	// Live are active tasks whose lease has not expired (or that have no
	// lease, which asynq never leaves): a process is running them.
	Live int
	// Gone are active tasks whose lease expired: the process that took
	// them is gone (killed without shutdown), and they stay active until a
	// server fetching from the queue recovers them.
	Gone int
	// GoneSince is the latest lease expiry among Gone (zero when none).
	GoneSince time.Time
}

// ReadActiveLeases reads queue's active tasks and their leases, comparing
// the expiry with now (the caller's clock: asynq scores leases with the
// server's, and extends a live one to 30 s ahead every few seconds, so a
// skew of a few seconds does not call a live task gone).
func ReadActiveLeases(ctx context.Context, rdb redis.UniversalClient, queue string, now time.Time) (ActiveLeases, error) {
	var out ActiveLeases
	ids, err := rdb.LRange(ctx, asynqActiveKey(queue), 0, -1).Result()
	if err != nil {
		return out, fmt.Errorf("read the active tasks of %s: %w", queue, err)
	}
	if len(ids) == 0 {
		return out, nil
	}
	leases, err := rdb.ZRangeWithScores(ctx, asynqLeaseKey(queue), 0, -1).Result()
	if err != nil {
		return out, fmt.Errorf("read the leases of %s's active tasks: %w", queue, err)
	}
	expiry := make(map[string]float64, len(leases))
	for _, z := range leases {
		if id, ok := z.Member.(string); ok {
			expiry[id] = z.Score
		}
	}
	for _, id := range ids {
		score, ok := expiry[id]
		at := time.Unix(int64(score), 0)
		if !ok || !at.Before(now) {
			out.Live++
			continue
		}
		out.Gone++
		if at.After(out.GoneSince) {
			out.GoneSince = at
		}
	}
	return out, nil
}

package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// AnnounceTTL is how long a worker's announcement that it serves a queue
// lasts. Workers refresh it every seller check (15 s), so it only runs out
// when no worker has served the queue for that long: long enough that a
// rollout, a weekend outage or a Redis failover does not make producers
// refuse a real seller, short enough that a seller removed from every
// sellers file stops being accepted the next day.
const AnnounceTTL = 24 * time.Hour

// Announce records that a worker serves each of queues (ServedKey). Each key
// is under its queue's hash tag, so on a cluster they are set one by one.
func Announce(ctx context.Context, rdb redis.UniversalClient, queues ...string) error {
	for _, q := range queues {
		if err := rdb.Set(ctx, ServedKey(q), time.Now().UTC().Format(time.RFC3339), AnnounceTTL).Err(); err != nil {
			return fmt.Errorf("announce queue %s: %w", q, err)
		}
	}
	return nil
}

// Announced says whether a worker has served queue within AnnounceTTL.
func Announced(ctx context.Context, rdb redis.UniversalClient, queue string) (bool, error) {
	n, err := rdb.Exists(ctx, ServedKey(queue)).Result()
	if err != nil {
		return false, fmt.Errorf("read whether a worker serves queue %s: %w", queue, err)
	}
	return n > 0, nil
}

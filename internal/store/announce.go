package store

import (
	"context"
	"fmt"
	"strings"
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

// Announce records that a worker serves each of queues (ServedKey), and,
// for good, that a worker has served a queue of each one's base queue
// (KnownBaseKey). Each key is under its queue's hash tag, so on a cluster
// they are set one by one.
func Announce(ctx context.Context, rdb redis.UniversalClient, queues ...string) error {
	bases := map[string]bool{}
	for _, q := range queues {
		if err := rdb.Set(ctx, ServedKey(q), time.Now().UTC().Format(time.RFC3339), AnnounceTTL).Err(); err != nil {
			return fmt.Errorf("announce queue %s: %w", q, err)
		}
		base, _, _ := strings.Cut(q, ":")
		bases[base] = true
	}
	for base := range bases {
		if err := rdb.Set(ctx, KnownBaseKey(base), "1", 0).Err(); err != nil {
			return fmt.Errorf("announce base queue %s: %w", base, err)
		}
	}
	return nil
}

// KnownBaseKey exists, without expiry, once a worker has announced any
// seller's queue of base queue base ("wdt-cancel" for "wdt-cancel:acme").
// Producers refuse the seller "default" of a base queue without it and
// without a live announcement of the base queue itself: a typo'd --queue,
// whose tasks no worker would ever fetch.
func KnownBaseKey(base string) string { return queuePrefix(base) + "known" }

// BaseKnown says whether a worker has ever served a queue of base queue
// base, or serves the base queue itself (announced by a worker of an older
// version, which writes no KnownBaseKey). One EXISTS: both keys share the
// base queue's hash tag.
func BaseKnown(ctx context.Context, rdb redis.UniversalClient, base string) (bool, error) {
	n, err := rdb.Exists(ctx, KnownBaseKey(base), ServedKey(base)).Result()
	if err != nil {
		return false, fmt.Errorf("read whether a worker serves base queue %s: %w", base, err)
	}
	return n > 0, nil
}

// Announced says whether a worker has served queue within AnnounceTTL.
func Announced(ctx context.Context, rdb redis.UniversalClient, queue string) (bool, error) {
	n, err := rdb.Exists(ctx, ServedKey(queue)).Result()
	if err != nil {
		return false, fmt.Errorf("read whether a worker serves queue %s: %w", queue, err)
	}
	return n > 0, nil
}

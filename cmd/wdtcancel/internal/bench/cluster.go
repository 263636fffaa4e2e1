package bench

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// On a Redis Cluster (--redis-cluster) a key scan and INFO each see one
// node, so the bench asks every master and adds up: cleanup must find a
// queue's keys wherever its slot lives, and INFO commandstats must count
// the commands of every node.

// scan hands fn the keys matching pattern, in batches of at most 500,
// each with the client of the node that holds them (a batch of one
// queue's keys shares its hash tag, so one multi-key command takes it).
// Calls of fn do not overlap.
func (r *runner) scan(ctx context.Context, pattern string, fn func(c redis.Cmdable, keys []string)) {
	var mu sync.Mutex
	each := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		var keys []string
		flush := func() {
			if len(keys) > 0 {
				mu.Lock()
				fn(c, keys)
				mu.Unlock()
				keys = nil
			}
		}
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 500 {
				flush()
			}
		}
		flush()
		return iter.Err()
	}
	switch c := r.rdb.(type) {
	case *redis.ClusterClient:
		c.ForEachMaster(ctx, each)
	case *redis.Client:
		each(ctx, c)
	}
}

// redisInfo is INFO of the given sections, of every master on a Cluster
// one after the other (commandCalls adds them up).
func (r *runner) redisInfo(ctx context.Context, sections ...string) (string, error) {
	c, ok := r.rdb.(*redis.ClusterClient)
	if !ok {
		return r.rdb.Info(ctx, sections...).Result()
	}
	var mu sync.Mutex
	var all strings.Builder
	err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		info, err := n.Info(ctx, sections...).Result()
		mu.Lock()
		defer mu.Unlock()
		all.WriteString(info + "\n")
		return err
	})
	return all.String(), err
}

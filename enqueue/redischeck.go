package enqueue

import (
	"context"
	"errors"

	"github.com/wdtcancel/wdtcancel/internal/redisguard"
)

// ErrEviction matches (errors.Is) the error CheckRedis returns for a Redis
// whose maxmemory-policy evicts keys.
var ErrEviction = redisguard.ErrEviction

// CheckRedis checks that Redis answers, will not evict what is enqueued
// and keeps it across a crash: its maxmemory-policy must be noeviction, or
// an evicting Redis silently drops queued tasks under memory pressure while
// every enqueue reports success; and every data node must have AOF on
// (appendfsync always or everysec), or replicas the client waits for all of
// (WithWaitReplicas(AutoReplicas, ...)). It returns the policy it read and:
//
//   - nil for noeviction (or a policy not reported, ""; e.g. an embedded
//     miniredis, or a managed Redis that disables INFO) on a durable Redis;
//   - an error matching ErrEviction, whose message names the policy and the
//     fix, for any other policy;
//   - an error matching ErrVolatile, whose message says what Redis reported
//     and the fix, for a Redis that is not durable or will not say, unless
//     WithAllowVolatileRedis (Durability then shows the gap);
//   - an error matching ErrUnavailable when Redis cannot be reached.
//
// It also reads how many replicas each master has, for AutoReplicas.
//
// New does not call it, so that constructing a client stays free of network
// calls; call it once at start-up, as `wdtcancel enqueue` and `wdtcancel
// api` do, and decide what to do with an evicting Redis.
func (c *Client) CheckRedis(ctx context.Context) (policy string, err error) {
	policy, err = redisguard.CheckNoEviction(ctx, c.rdb)
	if err != nil && !errors.Is(err, ErrEviction) {
		return policy, unavailable(err)
	}
	if derr := c.checkDurable(ctx); derr != nil {
		if err == nil || !errors.Is(derr, ErrVolatile) {
			return policy, derr
		}
		return policy, errors.Join(err, derr)
	}
	return policy, err
}

package enqueue

import (
	"context"
	"errors"

	"github.com/wdtcancel/wdtcancel/internal/redisguard"
)

// ErrEviction matches (errors.Is) the error CheckRedis returns for a Redis
// whose maxmemory-policy evicts keys.
var ErrEviction = redisguard.ErrEviction

// CheckRedis checks that Redis answers and will not evict what is enqueued:
// its maxmemory-policy must be noeviction, or an evicting Redis silently
// drops queued tasks under memory pressure while every enqueue reports
// success. It returns the policy it read and:
//
//   - nil for noeviction, or when Redis does not report its policy (policy
//     ""; e.g. an embedded miniredis, or a managed Redis that disables INFO);
//   - an error matching ErrEviction, whose message names the policy and the
//     fix, for any other policy;
//   - an error matching ErrUnavailable when Redis cannot be reached.
//
// New does not call it, so that constructing a client stays free of network
// calls; call it once at start-up, as `wdtcancel enqueue` and `wdtcancel
// api` do, and decide what to do with an evicting Redis.
func (c *Client) CheckRedis(ctx context.Context) (policy string, err error) {
	policy, err = redisguard.CheckNoEviction(ctx, c.rdb)
	if err != nil && !errors.Is(err, ErrEviction) {
		return policy, unavailable(err)
	}
	return policy, err
}

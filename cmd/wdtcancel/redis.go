package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/config"
)

// openProducer connects an enqueue client and checks Redis answers, so an
// unreachable Redis is one clear line (password masked) and exit 2.
func openProducer(ctx context.Context, r *config.Redis, opts ...enqueue.ClientOption) (*enqueue.Client, error) {
	conn, err := r.ConnOpt()
	if err != nil {
		return nil, usageErr(err)
	}
	c, err := enqueue.New(conn, opts...)
	if err != nil {
		return nil, usageErr(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx); err != nil {
		c.Close()
		return nil, usageErr(fmt.Errorf("cannot reach Redis at %s: %v: start Redis or point REDIS_URL / --redis-url at it", r, err))
	}
	return c, nil
}

// checkEviction refuses (exit 2) a Redis whose maxmemory-policy evicts,
// with the fix, unless allow; then warn is told the policy and it goes on.
// It returns the policy read, "" when Redis does not report it.
func checkEviction(ctx context.Context, c *enqueue.Client, allow bool, warn func(policy string)) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	policy, err := c.CheckRedis(cctx)
	switch {
	case err == nil:
		return policy, nil
	case allow && errors.Is(err, enqueue.ErrEviction):
		warn(policy)
		return policy, nil
	default:
		return policy, usageErr(err)
	}
}

package enqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/redisurl"
)

// DefaultRedisURL is the CLI's --redis-url default (a local Redis, db 0);
// a test in cmd/wdtcancel keeps the two equal.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// ParseRedisURL reads a Redis URL as the CLI's --redis-url (REDIS_URL) does:
// redis://[user:password@]host:port/db, rediss://... (TLS), or
// redis-sentinel://[[user]:password@]host:port[,host:port...][/db]?master=NAME[&sentinel_password=PW],
// where the password is the data nodes' and sentinel_password the
// sentinels'. "" is DefaultRedisURL. Errors never show a password.
func ParseRedisURL(url string) (asynq.RedisConnOpt, error) {
	if url == "" {
		url = DefaultRedisURL
	}
	return redisurl.Parse(url)
}

// ParseRedisCluster reads Redis Cluster node addresses as the CLI's
// --redis-cluster (REDIS_CLUSTER) does: host:port, optionally
// [user:password@]host:port; the client re-reads the slot map every second,
// so a failover is noticed within it.
func ParseRedisCluster(addrs ...string) (asynq.RedisConnOpt, error) {
	if len(addrs) == 0 {
		return nil, errors.New("redis cluster: no node address: give host:port of at least one node")
	}
	return redisurl.Cluster(addrs)
}

// WithAllowEviction makes Open accept a Redis whose maxmemory-policy evicts
// keys (--allow-eviction): under memory pressure it silently deletes tasks.
func WithAllowEviction() ClientOption { return func(c *Client) { c.allowEviction = true } }

// openPingTimeout bounds Open's first contact with Redis when ctx has no
// deadline of its own.
const openPingTimeout = 5 * time.Second

// Open is a producer as `wdtcancel enqueue` and `wdtcancel api` make it:
// url parsed as ParseRedisURL (the CLI's --redis-url), the replica wait on
// AutoReplicas, and, before it returns, Redis reached and checked as the CLI
// checks it at start (CheckRedis): an evicting maxmemory-policy is refused
// (ErrEviction) unless WithAllowEviction, a Redis that does not keep writes
// across a crash (ErrVolatile) unless WithAllowVolatileRedis, an unreachable
// one is ErrUnavailable. opts apply after those defaults, so
// WithWaitReplicas(0, 0) turns the wait off. On error nothing stays open.
//
// New is the same without the URL and without the checks (no network call).
func Open(ctx context.Context, url string, opts ...ClientOption) (*Client, error) {
	conn, err := ParseRedisURL(url)
	if err != nil {
		return nil, err
	}
	return OpenConn(ctx, conn, opts...)
}

// OpenConn is Open for a connection option already made (ParseRedisCluster,
// or asynq's own).
func OpenConn(ctx context.Context, conn asynq.RedisConnOpt, opts ...ClientOption) (*Client, error) {
	c, err := New(conn, opts...)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, openPingTimeout)
		defer cancel()
	}
	if err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("open: %w: start Redis or correct the URL", err)
	}
	if _, err := c.CheckRedis(ctx); err != nil && !(c.allowEviction && onlyEviction(err)) {
		c.Close()
		return nil, fmt.Errorf("open: %w", err)
	}
	return c, nil
}

// onlyEviction says err is ErrEviction and nothing else (CheckRedis joins
// an eviction and a durability error).
func onlyEviction(err error) bool {
	return errors.Is(err, ErrEviction) && !errors.Is(err, ErrVolatile) && !errors.Is(err, ErrUnavailable)
}

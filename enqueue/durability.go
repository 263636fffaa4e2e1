package enqueue

import (
	"context"
	"errors"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/redisguard"
	"github.com/wdtcancel/wdtcancel/internal/store"
)

// AutoReplicas, as WithWaitReplicas's n, waits for every replica the
// master of the seller's queue reports online, re-read with each wait
// (--redis-wait-replicas auto, the CLI's and the api's default): 0 where
// the master has none. See store.AutoReplicas.
const AutoReplicas = store.AutoReplicas

// ErrVolatile matches (errors.Is) the error CheckRedis returns for a Redis
// that does not keep writes across a crash (no AOF with appendfsync always
// or everysec, and replicas not all waited for), or will not say (INFO
// restricted): an acknowledged enqueue may vanish in a crash.
var ErrVolatile = redisguard.ErrVolatile

// ErrReplicasPending matches (errors.Is) the error CheckRedis returns for
// a master without AOF whose replicas are not online yet but re-attaching
// (a failover in progress): transient, retry in a few seconds; enqueues
// made meanwhile report unknown (safe to repeat).
var ErrReplicasPending = redisguard.ErrReplicasPending

// WithAllowVolatileRedis makes CheckRedis accept a Redis that does not keep
// writes across a crash, or will not say (--allow-volatile-redis). Its
// Durability report still shows the gap.
func WithAllowVolatileRedis() ClientOption { return func(c *Client) { c.allowVolatile = true } }

// Durability is what CheckRedis last found about Redis keeping writes.
type Durability struct {
	// Checked is false before CheckRedis read it (or Redis was
	// unreachable).
	Checked bool
	// Durable: AOF always/everysec on every data node, or every replica
	// waited for.
	Durable bool
	// Allowed: not durable, accepted because of WithAllowVolatileRedis
	// (or an embedded test Redis).
	Allowed bool
	// Problem is the reason it is not durable, with the fix; nil when
	// durable.
	Problem error
	// FsyncUnread names the nodes whose appendfsync could not be read
	// (CONFIG GET denied): everysec, the default, was assumed.
	FsyncUnread []string
}

// checkDurable reads every data node, feeds auto's replica counts and
// decides; it returns an error matching ErrVolatile unless allowed, and
// ErrUnavailable when Redis cannot be asked.
func (c *Client) checkDurable(ctx context.Context) error {
	nodes, err := redisguard.CheckDurable(ctx, c.rdb, redisguard.Wait{Auto: c.waitReplicas == AutoReplicas, Count: max(c.waitReplicas, 0)})
	if errors.Is(err, ErrReplicasPending) {
		// A failover in progress: transient, not a configuration error
		// (the enqueues are refused as not replicated until a replica is
		// online, each safe to repeat).
		c.replicas.Observe(nodes...)
		d := Durability{Checked: true, Problem: err}
		c.durability.Store(&d)
		return err
	}
	if err != nil && !errors.Is(err, ErrVolatile) {
		return unavailable(err)
	}
	c.replicas.Observe(nodes...)
	allowed := c.allowVolatile || redisguard.IsEmbedded(c.rdb)
	d := Durability{Checked: true, Durable: err == nil, Problem: err, Allowed: err != nil && allowed, FsyncUnread: redisguard.FsyncUnread(nodes)}
	c.durability.Store(&d)
	if err != nil && !allowed {
		return err
	}
	return nil
}

// Durability is what the last CheckRedis found about Redis keeping
// writes across a crash.
func (c *Client) Durability() Durability {
	if d := c.durability.Load(); d != nil {
		return *d
	}
	return Durability{}
}

// WaitUnmet describes each Redis master whose replica waits have all failed
// for at least bound (store.DefaultUnmetBound when 0): enqueues there are
// reported unknown until the replicas are back. nil when waits are met.
func (c *Client) WaitUnmet(bound time.Duration) []string { return c.replicas.Unmet(bound) }

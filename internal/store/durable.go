package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Durable makes the writes that must survive a failover wait for replicas.
//
// Redis replicates asynchronously: a master acknowledges a write before any
// replica has it, and when Sentinel or a Cluster promotes a replica after the
// master died, what the replica had not received is gone although the
// client was told it was written. For most of wdtcancel's state that costs
// a task run twice. For four writes it costs more (README, "Redis
// topologies and failover"):
//
//   - the sent mark, written before each call: lost, a rerun after a lost
//     answer cannot know the order may be cancelled, and files WDT's
//     rejection as a clean one;
//   - the confirmation (the task's result): lost, a rerun reads the
//     rejection of a cancelled order as ambiguous instead of done;
//   - the dead-letter record, written before asynq archives the task;
//   - the enqueue acknowledgement: the producer drops a number Redis lost.
//
// Sync, called right after such a write, makes it durable: it writes the
// queue's probe key and sends WAIT on the same connection, in one round trip
// to the master of the queue's hash slot. Replication is one ordered stream
// per master, so a replica that has the probe has every write the master
// acknowledged before it, whichever connection made it, asynq's included.
// On a Cluster every key of the queue (wdtcancel's and asynq's) is in that
// slot, so the same master.
//
// Off (the zero value, or replicas 0) it does nothing and costs nothing.
type Durable struct {
	rdb      redis.UniversalClient
	key      string
	replicas int
	timeout  time.Duration
}

// DefaultWaitTimeout is how long Sync waits for replicas by default. On a
// healthy replica the WAIT returns in well under a millisecond (the master
// asks the replicas for their offset at once); the timeout only matters when
// no replica answers, and then it is what each critical write costs.
const DefaultWaitTimeout = 200 * time.Millisecond

// MaxWaitTimeout bounds the timeout: WAIT blocks the connection, and go-redis
// gives up reading an answer after 3 s by default.
const MaxWaitTimeout = 2 * time.Second

// NewDurable waits for replicas replicas (0: off) for up to timeout after
// each critical write of queue.
func NewDurable(rdb redis.UniversalClient, queue string, replicas int, timeout time.Duration) (*Durable, error) {
	if replicas < 0 {
		return nil, fmt.Errorf("replicas to wait for must be 0 (off) or more, not %d", replicas)
	}
	if replicas > 0 && (timeout <= 0 || timeout > MaxWaitTimeout) {
		return nil, fmt.Errorf("replica wait timeout %s: use a duration above 0 and at most %s", timeout, MaxWaitTimeout)
	}
	return &Durable{rdb: rdb, key: ProbeKey(queue), replicas: replicas, timeout: timeout}, nil
}

// Enabled reports whether Sync waits for replicas.
func (d *Durable) Enabled() bool { return d != nil && d.replicas > 0 }

// Replicas is how many replicas Sync waits for.
func (d *Durable) Replicas() int {
	if d == nil {
		return 0
	}
	return d.replicas
}

// ErrNotReplicated means fewer replicas than required acknowledged a
// critical write within the timeout: the write is on the master, and a
// failover now could lose it.
var ErrNotReplicated = errors.New("not acknowledged by enough replicas")

// Sync returns once Replicas replicas have every write the queue's master
// acknowledged before the call, or an error wrapping ErrNotReplicated when
// fewer did within the timeout (or another error when the master could not
// be asked). It is a no-op when off.
func (d *Durable) Sync(ctx context.Context) error {
	if !d.Enabled() {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	var node redis.Cmdable = d.rdb
	if cc, ok := d.rdb.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, d.key)
		if err != nil {
			return fmt.Errorf("find the master to wait on: %w", err)
		}
		node = m
	}
	// One pipeline is one connection: WAIT counts the replicas that have
	// this connection's last write, the probe.
	pipe := node.Pipeline()
	pipe.Set(ctx, d.key, time.Now().UTC().Format(time.RFC3339Nano), 5*time.Second)
	wait := pipe.Do(ctx, "WAIT", d.replicas, d.timeout.Milliseconds())
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("wait for %d replicas: %w", d.replicas, err)
	}
	n, err := wait.Int()
	if err != nil {
		return fmt.Errorf("wait for %d replicas: %w", d.replicas, err)
	}
	if n < d.replicas {
		return fmt.Errorf("%w: %d of %d replicas within %s", ErrNotReplicated, n, d.replicas, d.timeout)
	}
	return nil
}

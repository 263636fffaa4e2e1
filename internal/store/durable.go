package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/redisinfo"
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
// With AutoReplicas it waits for every replica the queue's master reports
// online, re-read on the same connection with each wait (see Replicas for
// when a lower count is believed).
type Durable struct {
	rdb      redis.UniversalClient
	key      string
	replicas int // AutoReplicas, or a fixed count
	timeout  time.Duration
	tracker  *Replicas
	// storeKey is ReplicasKey(queue); lastStored what this Durable last
	// read or wrote there (concurrent Syncs may both write: the same
	// value, or the newer decision of the shared tracker).
	storeKey   string
	lastStored atomic.Pointer[string]
}

// DefaultWaitTimeout is how long Sync waits for replicas by default. On a
// healthy replica the WAIT returns in well under a millisecond (the master
// asks the replicas for their offset at once); the timeout only matters when
// no replica answers, and then it is what each critical write costs.
const DefaultWaitTimeout = 200 * time.Millisecond

// MaxWaitTimeout bounds the timeout: WAIT blocks the connection, and go-redis
// gives up reading an answer after 3 s by default.
const MaxWaitTimeout = 2 * time.Second

// NewDurable waits for replicas replicas (0: off; AutoReplicas: every
// replica the master reports) for up to timeout after each critical write
// of queue. Its replica counts are its own; NewTrackedDurable shares them.
func NewDurable(rdb redis.UniversalClient, queue string, replicas int, timeout time.Duration) (*Durable, error) {
	return NewTrackedDurable(rdb, NewReplicas(0), queue, replicas, timeout)
}

// NewTrackedDurable is NewDurable keeping replica counts and unmet waits in
// tracker, shared by every Durable of a client (each queue's, each
// seller's), so that one periodic read serves them all and readiness sees
// every wait.
func NewTrackedDurable(rdb redis.UniversalClient, tracker *Replicas, queue string, replicas int, timeout time.Duration) (*Durable, error) {
	if replicas < AutoReplicas {
		return nil, fmt.Errorf("replicas to wait for must be auto, 0 (off) or more, not %d", replicas)
	}
	if replicas != 0 && (timeout <= 0 || timeout > MaxWaitTimeout) {
		return nil, fmt.Errorf("replica wait timeout %s: use a duration above 0 and at most %s", timeout, MaxWaitTimeout)
	}
	if tracker == nil {
		tracker = NewReplicas(0)
	}
	return &Durable{rdb: rdb, key: ProbeKey(queue), replicas: replicas, timeout: timeout, tracker: tracker, storeKey: ReplicasKey(queue)}, nil
}

// Enabled reports whether Sync waits for replicas (a fixed count above 0,
// or auto).
func (d *Durable) Enabled() bool { return d != nil && d.replicas != 0 }

// Auto reports whether the count follows the replicas the master reports.
func (d *Durable) Auto() bool { return d != nil && d.replicas == AutoReplicas }

// Replicas is how many replicas Sync waits for: the fixed count, or for
// auto the count last read for the queue's master (0 before the first
// Sync).
func (d *Durable) Replicas() int {
	if d == nil {
		return 0
	}
	if d.Auto() {
		n, _ := d.tracker.Count(d.masterAddr())
		return n
	}
	return d.replicas
}

// masterAddr is the address Replicas keys the queue's master by, without
// asking Redis: on a Cluster the last master known for the slot.
func (d *Durable) masterAddr() string {
	if cc, ok := d.rdb.(*redis.ClusterClient); ok {
		if m, err := cc.MasterForKey(context.Background(), d.key); err == nil {
			return m.Options().Addr
		}
		return ""
	}
	if c, ok := d.rdb.(*redis.Client); ok {
		return c.Options().Addr
	}
	return ""
}

// ErrNotReplicated means fewer replicas than required acknowledged a
// critical write within the timeout: the write is on the master, and a
// failover now could lose it.
var ErrNotReplicated = errors.New("not acknowledged by enough replicas")

// Sync returns once the required replicas have every write the queue's
// master acknowledged before the call, or an error wrapping
// ErrNotReplicated when fewer did within the timeout (or another error when
// the master could not be asked). It is a no-op when off, and with auto on
// a master that has no replica.
func (d *Durable) Sync(ctx context.Context) error {
	if !d.Enabled() {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	var node redis.Cmdable = d.rdb
	addr := ""
	switch c := d.rdb.(type) {
	case *redis.ClusterClient:
		m, err := c.MasterForKey(ctx, d.key)
		if err != nil {
			return fmt.Errorf("find the master to wait on: %w", err)
		}
		node, addr = m, m.Options().Addr
	case *redis.Client:
		addr = c.Options().Addr
	}
	want := d.replicas
	if d.Auto() {
		n, known := d.tracker.Count(addr)
		if !known {
			// First wait on this master: what it reports, and what the
			// last client stored (Replicas.seed says why).
			pipe := node.Pipeline()
			infoCmd := pipe.Info(ctx, "replication")
			storedCmd := pipe.Get(ctx, d.storeKey)
			pipe.Exec(ctx)
			info, err := infoCmd.Result()
			var reply redis.Error
			switch {
			case errors.As(err, &reply):
				// INFO denied or not implemented (miniredis): no replica
				// is known to wait for. The durability check refuses
				// such a Redis unless --allow-volatile-redis.
				d.tracker.noReplication(addr)
			case err != nil:
				return fmt.Errorf("read the replicas to wait for (INFO replication): %w", err)
			default:
				st := storedCmd.Val()
				d.lastStored.Store(&st)
				d.tracker.seed(redisinfo.ParseInfo(info, addr), st)
			}
			n, _ = d.tracker.Count(addr)
		}
		if want = n; want == 0 {
			d.tracker.met(addr)
			return nil
		}
	}
	// One pipeline is one connection: WAIT counts the replicas that have
	// this connection's last write, the probe, and INFO reads the same
	// master right after.
	pipe := node.Pipeline()
	pipe.Set(ctx, d.key, time.Now().UTC().Format(time.RFC3339Nano), 5*time.Second)
	wait := pipe.Do(ctx, "WAIT", want, d.timeout.Milliseconds())
	var info *redis.StringCmd
	if d.Auto() {
		info = pipe.Info(ctx, "replication")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("wait for %d replicas: %w", want, err)
	}
	acked, err := wait.Int()
	if err != nil {
		return fmt.Errorf("wait for %d replicas: %w", want, err)
	}
	if info != nil {
		// The master's replicas now: more are waited for from the next
		// write on; fewer (a replica went away, or this is a new master)
		// as Replicas decides. What it decided is stored for the clients
		// that start later.
		d.tracker.Observe(redisinfo.ParseInfo(info.Val(), addr))
		if st := d.tracker.stored(addr); st != "" && (d.lastStored.Load() == nil || st != *d.lastStored.Load()) {
			if node.Set(ctx, d.storeKey, st, 0).Err() == nil {
				d.lastStored.Store(&st)
			}
		}
	}
	if acked >= want {
		d.tracker.met(addr)
		return nil
	}
	if info != nil {
		if n, _ := d.tracker.Count(addr); n < want && acked >= n {
			d.tracker.met(addr)
			return nil
		}
	}
	how := fmt.Sprintf("%d of %d replicas within %s", acked, want, d.timeout)
	d.tracker.failed(addr, how)
	return fmt.Errorf("%w: %s", ErrNotReplicated, how)
}

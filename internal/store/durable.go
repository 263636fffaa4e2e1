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
// a task run twice. For four writes it costs more (docs/operations.md, "Redis
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
	// node is, on Sentinel, the master (CLIENT INFO's laddr) the last
	// wait reached: its replica count is the one the next wait uses.
	node atomic.Pointer[string]
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
		if isFailoverClient(c) {
			return d.lastNode()
		}
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
// a single Redis that has no replica.
//
// witnesses name the writes the caller relies on (Witness says why): each
// must be on the master the wait reached, or the write may be on another
// master (a failover under way) and Sync reports ErrNotReplicated. On a
// Sentinel client Sync also checks that the wait reached the master whose
// replica count it used (CLIENT INFO's laddr, Redis 6.2+): a client's
// connections can reach the old and the new master at once.
func (d *Durable) Sync(ctx context.Context, witnesses ...Witness) error {
	if !d.Enabled() {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	t, err := d.target(ctx)
	if err != nil {
		return err
	}
	want, done, err := d.want(ctx, &t)
	if done || err != nil {
		return err
	}
	r, err := d.waitOn(ctx, t, want, witnesses)
	if err != nil {
		return err
	}
	return d.judge(ctx, t, want, witnesses, r)
}

// syncTarget is the node a wait goes to: the queue's slot master on a
// Cluster; on Sentinel the master the last wait reached (addr, "" before
// the first), which the wait verifies.
type syncTarget struct {
	node     redis.Cmdable
	addr     string
	sentinel bool
}

func (d *Durable) target(ctx context.Context) (syncTarget, error) {
	t := syncTarget{node: d.rdb}
	switch c := d.rdb.(type) {
	case *redis.ClusterClient:
		m, err := c.MasterForKey(ctx, d.key)
		if err != nil {
			return t, fmt.Errorf("find the master to wait on: %w", err)
		}
		t.node, t.addr = m, m.Options().Addr
	case *redis.Client:
		t.addr = c.Options().Addr
		if t.sentinel = isFailoverClient(c); t.sentinel {
			t.addr = d.lastNode()
		}
	}
	return t, nil
}

// want is how many replicas to wait for on t (seeding the tracker on a
// master's first use); done when there is nothing to wait for or check.
func (d *Durable) want(ctx context.Context, t *syncTarget) (int, bool, error) {
	if !d.Auto() {
		return d.replicas, false, nil
	}
	n, known := d.tracker.Count(t.addr)
	if !known {
		addr, err := d.seed(ctx, t.node, t.sentinel)
		if err != nil {
			return 0, true, err
		}
		t.addr = addr
		n, _ = d.tracker.Count(addr)
	}
	// No replica: nothing to wait for. On Sentinel the node is still
	// checked: a new master that has no replica online yet is believed
	// only for writes that are on it.
	if n == 0 && !t.sentinel {
		d.tracker.met(t.addr)
		return 0, true, nil
	}
	return n, false, nil
}

// waitReplies are the answers of one wait's pipeline.
type waitReplies struct {
	client       *redis.Cmd
	have         []*redis.IntCmd
	wait         *redis.Cmd
	info, stored *redis.StringCmd
}

// waitOn sends the wait. One pipeline is one connection: CLIENT INFO names
// the node, the witnesses are read there, WAIT counts the replicas that
// have this connection's last write, the probe (so every write the node
// took before it, whichever connection made it), and INFO reads the same
// node right after.
func (d *Durable) waitOn(ctx context.Context, t syncTarget, want int, witnesses []Witness) (waitReplies, error) {
	var r waitReplies
	pipe := t.node.Pipeline()
	if t.sentinel {
		r.client = pipe.Do(ctx, "CLIENT", "INFO")
	}
	r.have = make([]*redis.IntCmd, len(witnesses))
	for i, w := range witnesses {
		r.have[i] = w.queue(ctx, pipe)
	}
	pipe.Set(ctx, d.key, time.Now().UTC().Format(time.RFC3339Nano), 5*time.Second)
	if want > 0 {
		r.wait = pipe.Do(ctx, "WAIT", want, d.timeout.Milliseconds())
	}
	if d.Auto() {
		r.info = pipe.Info(ctx, "replication")
		r.stored = pipe.Get(ctx, d.storeKey)
	}
	_, err := pipe.Exec(ctx)
	var reply redis.Error
	// redis.Nil: no stored count; CLIENT INFO refused: Redis before 6.2.
	if err != nil && !errors.Is(err, redis.Nil) && (r.client == nil || !errors.As(r.client.Err(), &reply)) {
		return r, fmt.Errorf("wait for %d replicas: %w", want, err)
	}
	if r.wait != nil && r.wait.Err() != nil {
		return r, fmt.Errorf("wait for %d replicas: %w", want, r.wait.Err())
	}
	return r, nil
}

// judge decides a wait from its replies.
func (d *Durable) judge(ctx context.Context, t syncTarget, want int, witnesses []Witness, r waitReplies) error {
	addr := t.addr
	reached := addr
	if r.client != nil {
		// Redis before 6.2 has no CLIENT INFO: the node is then told
		// apart by its replication ID alone.
		if txt, err := r.client.Text(); err == nil && laddr(txt) != "" {
			reached = laddr(txt)
		}
	}
	if r.info != nil {
		if err := d.observeReached(ctx, t, want, reached, r); err != nil {
			return err
		}
	}
	for i, h := range r.have {
		if h.Val() != 1 {
			return d.notReplicated(addr, fmt.Sprintf("%s is not on the master the wait reached (%s): the write went to another master (a failover under way)", witnesses[i], orUnknown(reached)))
		}
	}
	acked := 0
	if r.wait != nil {
		acked, _ = r.wait.Int()
	}
	if acked >= want {
		d.tracker.met(addr)
		return nil
	}
	if r.info != nil {
		if n, _ := d.tracker.Count(addr); n < want && acked >= n {
			d.tracker.met(addr)
			return nil
		}
	}
	return d.notReplicated(addr, fmt.Sprintf("%d of %d replicas within %s", acked, want, d.timeout))
}

// observeReached checks that the wait reached the master whose count it
// used, and feeds what that master reports to the tracker (storing its
// decision for the clients that start later).
func (d *Durable) observeReached(ctx context.Context, t syncTarget, want int, reached string, r waitReplies) error {
	addr := t.addr
	n := redisinfo.ParseInfo(r.info.Val(), reached)
	if n.Role != "" && n.Role != "master" {
		d.tracker.forget(reached)
		d.setNode("")
		return fmt.Errorf("%w: the node reached (%s) is a %s now, not a master (a failover under way)", ErrNotReplicated, orUnknown(reached), n.Role)
	}
	if reached != addr || !d.tracker.sameMaster(addr, n) {
		// Another node than the one whose replica count was used: what
		// it reports (with the count stored there) is used from the next
		// write on; this one is not known to be replicated as required.
		d.tracker.seed(n, r.stored.Val())
		d.setNode(reached)
		return d.notReplicated(reached, fmt.Sprintf("the wait reached master %s, not %s whose %d replicas it expected (a failover under way)", orUnknown(reached), orUnknown(addr), want))
	}
	// The master's replicas now: more are waited for from the next write
	// on; fewer (a replica went away, or this is a new master) as
	// Replicas decides. What it decided is stored for the clients that
	// start later.
	d.tracker.Observe(n)
	if st := d.tracker.stored(addr); st != "" && st != r.stored.Val() && (d.lastStored.Load() == nil || st != *d.lastStored.Load()) {
		if t.node.Set(ctx, d.storeKey, st, 0).Err() == nil {
			d.lastStored.Store(&st)
		}
	}
	return nil
}

// notReplicated records a failed wait on the master at addr.
func (d *Durable) notReplicated(addr, how string) error {
	d.tracker.failed(addr, how)
	return fmt.Errorf("%w: %s", ErrNotReplicated, how)
}

// seed reads, on first use of a master, what it reports and what the last
// client stored (Replicas.seed says why), and returns the master's
// address (on Sentinel, the node CLIENT INFO names).
func (d *Durable) seed(ctx context.Context, node redis.Cmdable, sentinel bool) (string, error) {
	pipe := node.Pipeline()
	var client *redis.Cmd
	if sentinel {
		client = pipe.Do(ctx, "CLIENT", "INFO")
	}
	infoCmd := pipe.Info(ctx, "replication")
	storedCmd := pipe.Get(ctx, d.storeKey)
	pipe.Exec(ctx)
	addr := d.masterAddr()
	if client != nil {
		if txt, err := client.Text(); err == nil && laddr(txt) != "" {
			addr = laddr(txt)
		}
	}
	info, err := infoCmd.Result()
	var reply redis.Error
	switch {
	case errors.As(err, &reply):
		// INFO denied or not implemented (miniredis): no replica is
		// known to wait for. The durability check refuses such a Redis
		// unless --allow-volatile-redis.
		d.tracker.noReplication(addr)
	case err != nil:
		return "", fmt.Errorf("read the replicas to wait for (INFO replication): %w", err)
	default:
		st := storedCmd.Val()
		d.lastStored.Store(&st)
		d.tracker.seed(redisinfo.ParseInfo(info, addr), st)
	}
	d.setNode(addr)
	return addr, nil
}

// lastNode is the master a Sentinel client's last wait reached, "" before
// the first.
func (d *Durable) lastNode() string {
	if p := d.node.Load(); p != nil {
		return *p
	}
	return ""
}

func (d *Durable) setNode(addr string) { d.node.Store(&addr) }

func orUnknown(addr string) string {
	if addr == "" {
		return "unknown"
	}
	return addr
}

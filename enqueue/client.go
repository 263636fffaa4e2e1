package enqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// Outcome is what happened to one number.
type Outcome string

// The outcomes, as printed by `wdtcancel enqueue --json` and the HTTP API.
const (
	Enqueued  Outcome = "enqueued"
	Duplicate Outcome = "duplicate" // a task for the number already exists; State says where
	Invalid   Outcome = "invalid"   // the number was refused; Err says why
	Failed    Outcome = "failed"    // never sent to Redis (or refused); retry later
	// Unknown: the enqueue was sent but Redis did not answer, even when
	// asked again; it may be queued. `wdtcancel status NO` tells, and
	// enqueueing it again is safe.
	Unknown Outcome = "unknown"
)

// States a duplicate can be in. They are asynq's task states, with the
// dead-letter queue as "dead" and a repeat within one batch as "in_batch".
const (
	StatePending   = "pending"
	StateActive    = "active"
	StateScheduled = "scheduled"
	StateRetry     = "retry"
	StateArchived  = "archived" // in asynq's archive; see also StateDead
	StateDead      = "dead"     // has a dead-letter record
	StateCompleted = "completed"
	StateInBatch   = "in_batch" // the same number appeared earlier in the input
)

// ErrUnavailable wraps every failure to reach Redis.
var ErrUnavailable = errors.New("redis unavailable")

// Result is the fate of one number. All four JSON keys are always present
// (docs/architecture.md, "Enqueue results"); state and error are "" when
// they do not apply.
type Result struct {
	PreStockinNo string  `json:"pre_stockin_no"`
	Result       Outcome `json:"result"`
	State        string  `json:"state"`
	Error        string  `json:"error"`
	Err          error   `json:"-"`
}

// Client enqueues cancellations of one seller's orders (docs/sellers.md):
// into the seller's queue, with the seller in the payload. ForSeller gives a
// client of another seller on the same connection. It is safe for
// concurrent use.
type Client struct {
	asynq  *asynq.Client
	insp   *asynq.Inspector
	rdb    redis.UniversalClient
	dlq    *store.DLQ // of queue: dead numbers are refused
	base   string     // the base queue (WithQueue)
	seller string
	queue  string // tasks.QueueFor(base, seller)
	source string
	now    func() time.Time
	// owner is false for a client made by ForSeller: the connection is
	// the original client's, and only its Close closes it.
	owner bool

	waitReplicas int
	waitTimeout  time.Duration
	durable      *store.Durable // of queue, after each enqueue; AutoReplicas unless WithWaitReplicas
	// replicas is the replica wait's per-master state, shared with every
	// client ForSeller makes; allowVolatile and durability are
	// CheckRedis's (durability.go).
	replicas      *store.Replicas
	allowVolatile bool
	durability    *atomic.Pointer[Durability]
	// allowUnknown and announced are CheckSeller's (announced.go).
	allowUnknown bool
	announced    *announcements
	// allowEviction is Open's (open.go).
	allowEviction bool
	// marker tells the workers, after each enqueue, that the seller's
	// queue has work (store's activity index; shared by ForSeller's
	// clients, so concurrent enqueues share its ZADD).
	marker *store.ActivityMarker
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithQueue sets the base queue (tasks.DefaultQueue by default): the
// default seller's queue, under which every other seller has its own
// (tasks.QueueFor).
func WithQueue(q string) ClientOption { return func(c *Client) { c.base = q } }

// WithSeller enqueues for a seller (tasks.DefaultSeller by default): into
// its queue, with its name in the payload. New refuses an invalid name.
func WithSeller(name string) ClientOption { return func(c *Client) { c.seller = name } }

// WithSource labels every task with the producer's name.
func WithSource(s string) ClientOption { return func(c *Client) { c.source = s } }

// WithWaitReplicas makes each enqueue wait until n replicas have it (Redis
// WAIT, up to timeout; store.DefaultWaitTimeout when 0), so a failover
// cannot lose an acknowledged enqueue. A number enqueued on the master but
// not acknowledged by n replicas in time is reported Unknown (enqueue it
// again: safe), not Enqueued. n = 0 is off; AutoReplicas, the default of
// New and Open as of the CLI and the api, waits for every replica the
// master reports (none on a master without replicas).
func WithWaitReplicas(n int, timeout time.Duration) ClientOption {
	return func(c *Client) { c.waitReplicas, c.waitTimeout = n, timeout }
}

// New connects to Redis (lazily: the first call or Ping dials).
func New(r asynq.RedisConnOpt, opts ...ClientOption) (*Client, error) {
	rdb, ok := r.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("unsupported redis connection option %T", r)
	}
	// go-redis re-sends a command whose answer timed out; for an enqueue
	// that had landed, the re-send answers "task ID conflict" and a fresh
	// number would be reported a duplicate. enqueueTask re-checks a lost
	// answer itself, knowing what it sent. (A cluster client's node options
	// are fixed when it is made; its retries stay.)
	// And every call is bounded by its context's deadline (ManyOptions'
	// timeouts), not only by the read and write timeouts.
	if cl, ok := rdb.(*redis.Client); ok {
		// 0, not -1: the -1 that means "no retry" is translated only by
		// NewClient; set afterwards, go-redis's pipeline loop runs -1+1
		// times, so every pipeline silently did nothing (the replica
		// wait's WAIT answered nil).
		cl.Options().MaxRetries = 0
		cl.Options().ContextTimeoutEnabled = true
	}
	c := &Client{
		asynq: asynq.NewClientFromRedisClient(rdb),
		insp:  asynq.NewInspectorFromRedisClient(rdb),
		rdb:   rdb, base: tasks.DefaultQueue, seller: tasks.DefaultSeller, now: time.Now, owner: true,
		waitReplicas: AutoReplicas, // the CLI's and the api's default
		replicas:     store.NewReplicas(0), durability: new(atomic.Pointer[Durability]),
		announced: &announcements{seen: map[string]time.Time{}},
		marker:    store.NewActivityMarker(rdb),
	}
	for _, o := range opts {
		o(c)
	}
	if c.waitTimeout == 0 {
		c.waitTimeout = store.DefaultWaitTimeout
	}
	_, err := store.NewDurable(nil, c.base, c.waitReplicas, c.waitTimeout)
	if err != nil {
		err = fmt.Errorf("--redis-wait-replicas: %w", err)
	}
	if err == nil {
		err = tasks.ValidateSource(c.source)
	}
	if err == nil {
		err = c.setSeller(c.seller)
	}
	if err != nil {
		rdb.Close() // nobody else holds it
		return nil, err
	}
	return c, nil
}

// setSeller points c at seller's queue and dead letters.
func (c *Client) setSeller(seller string) error {
	dlq, err := store.NewSellerDLQ(c.rdb, c.base, seller)
	if err != nil {
		return err // it names the seller and the problem
	}
	c.seller, c.queue, c.dlq = seller, dlq.Queue(), dlq
	// Settings checked in New; the wait goes to this queue's master.
	c.durable, _ = store.NewTrackedDurable(c.rdb, c.replicas, c.queue, c.waitReplicas, c.waitTimeout)
	return nil
}

// ForSeller is a client for another seller with everything else of c (base
// queue, source, task options) on c's Redis connection: cheap enough to
// make per request. Its Close does nothing; closing c closes the connection
// of both. An invalid name is an error wrapping tasks.ErrInvalid.
func (c *Client) ForSeller(name string) (*Client, error) {
	cc := *c
	cc.owner = false
	if err := cc.setSeller(name); err != nil {
		return nil, err
	}
	return &cc, nil
}

// Close releases the Redis connections (of every client ForSeller made from
// this one too). On a client made by ForSeller it does nothing.
func (c *Client) Close() error {
	if !c.owner {
		return nil
	}
	return c.rdb.Close()
}

// Queue is the queue this client enqueues into: the seller's queue.
func (c *Client) Queue() string { return c.queue }

// Seller is the seller this client enqueues for.
func (c *Client) Seller() string { return c.seller }

// Ping checks that Redis answers.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Cancel enqueues one number. The returned error is non-nil exactly when
// Result is Invalid (errors.Is(err, tasks.ErrInvalid)), Failed or Unknown
// (errors.Is(err, ErrUnavailable) for Redis faults).
func (c *Client) Cancel(ctx context.Context, no string, opts ...asynq.Option) (Result, error) {
	r := c.cancel(ctx, no, opts)
	return r, r.Err
}

func (c *Client) cancel(ctx context.Context, raw string, opts []asynq.Option) Result {
	no, err := tasks.NormalizeNo(raw)
	if err != nil {
		return Result{PreStockinNo: raw, Result: Invalid, Error: err.Error(), Err: err}
	}
	fail := func(err error) Result {
		return Result{PreStockinNo: no, Result: Failed, Error: err.Error(), Err: err}
	}
	if err := c.CheckSeller(ctx); err != nil {
		return fail(err)
	}
	// A dead number stays dead until an operator re-drives it, even after
	// asynq trimmed its archived task and freed the task ID.
	dead, err := c.dlq.Dead(ctx, []string{no})
	if err != nil {
		return fail(unavailable(err))
	}
	if dead[0] {
		return Result{PreStockinNo: no, Result: Duplicate, State: StateDead}
	}
	return c.enqueueTask(ctx, no, opts, DefaultRecheckTimeout)
}

// enqueueTask enqueues a valid number already checked against the
// dead-letter queue. A number dead-lettered since the check still has its
// archived task, so asynq refuses it as a duplicate.
//
// A failed enqueue may have been applied (the answer was lost to a
// timeout, a reset or ctx ending, or go-redis retried a timed-out EVAL
// that had landed), so no error is reported as Failed: the same task is
// sent again within recheck, even when ctx has ended, and a conflict with a
// task carrying this very payload is this enqueue. Only if that too gets
// no answer is the result Unknown.
func (c *Client) enqueueTask(ctx context.Context, no string, opts []asynq.Option, recheck time.Duration) Result {
	r := c.enqueueOnce(ctx, no, opts, recheck)
	if r.Result == Enqueued || r.Result == Unknown {
		// After the enqueue, never before (store.MarkActive): a worker
		// that serves many sellers polls only the queues in the index.
		// A failure strands nothing: the workers' sweep finds the task
		// (docs/sellers.md, "Idle sellers cost nothing").
		_ = c.marker.Mark(context.WithoutCancel(ctx), c.queue)
	}
	if r.Result != Enqueued {
		return r
	}
	// The task hash witnesses the enqueue: the wait must reach the master
	// that holds it (store.Witness).
	if err := c.durable.Sync(ctx, store.TaskWitness(c.queue, no)); err != nil {
		err = fmt.Errorf("%w: enqueued on the Redis master but not known to be on %d replica(s) (%v): a failover now could lose it; enqueue it again (safe) or see `wdtcancel status %s`", ErrUnavailable, c.durable.Replicas(), err, no)
		return Result{PreStockinNo: no, Result: Unknown, Error: err.Error(), Err: err}
	}
	return r
}

// enqueueOnce is enqueueTask without the wait for replicas.
func (c *Client) enqueueOnce(ctx context.Context, no string, opts []asynq.Option, recheck time.Duration) Result {
	all := append([]asynq.Option{asynq.Queue(c.queue)}, opts...)
	task, err := tasks.NewCancelTaskFor(c.seller, no, c.source, c.now(), all...)
	if err != nil {
		return Result{PreStockinNo: no, Result: Invalid, Error: err.Error(), Err: err}
	}
	_, err = c.asynq.EnqueueContext(ctx, task)
	var first error // the enqueue's own error when its answer was lost
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		first = err
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recheck)
		defer cancel()
		_, err = c.asynq.EnqueueContext(rctx, task)
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			err = fmt.Errorf("%w: no answer to the enqueue (%v) nor to its re-check (%v): it may be queued; see `wdtcancel status %s%s`, or enqueue it again (safe)", ErrUnavailable, first, err, no, c.sellerFlag())
			return Result{PreStockinNo: no, Result: Unknown, Error: err.Error(), Err: err}
		}
	}
	switch {
	case err == nil:
		return Result{PreStockinNo: no, Result: Enqueued, State: StatePending}
	case first == nil:
		// A definite conflict: the task was there before this enqueue.
		return c.conflict(no, nil)
	}
	return c.conflict(no, task.Payload())
}

// conflict reports a task ID conflict: a duplicate with its state, or,
// when ours is the payload of an enqueue whose answer was lost, this very
// enqueue if the task holds exactly that payload (the command landed). The state is "unknown" if the task vanished
// between the conflict and the look-up (e.g. its retention just ran out).
func (c *Client) conflict(no string, payload []byte) Result {
	info, err := c.insp.GetTaskInfo(c.queue, no)
	if err != nil {
		return Result{PreStockinNo: no, Result: Duplicate, State: "unknown"}
	}
	if payload != nil && bytes.Equal(info.Payload, payload) {
		return Result{PreStockinNo: no, Result: Enqueued, State: stateName(info.State)}
	}
	return Result{PreStockinNo: no, Result: Duplicate, State: stateName(info.State)}
}

func stateName(s asynq.TaskState) string {
	switch s {
	case asynq.TaskStatePending:
		return StatePending
	case asynq.TaskStateActive:
		return StateActive
	case asynq.TaskStateScheduled:
		return StateScheduled
	case asynq.TaskStateRetry:
		return StateRetry
	case asynq.TaskStateArchived:
		return StateArchived
	case asynq.TaskStateCompleted:
		return StateCompleted
	}
	return s.String()
}

func unavailable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// sellerFlag is the --seller a command about this client's numbers needs,
// "" for the default seller.
func (c *Client) sellerFlag() string {
	if c.seller == tasks.DefaultSeller {
		return ""
	}
	return " --seller " + c.seller
}

package enqueue

import (
	"context"
	"errors"
	"fmt"
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
	Failed    Outcome = "failed"    // Redis did not take it; retry later
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

// Client enqueues cancellations. It is safe for concurrent use.
type Client struct {
	asynq  *asynq.Client
	insp   *asynq.Inspector
	rdb    redis.UniversalClient
	dlq    *store.DLQ // of queue: dead numbers are refused
	queue  string
	source string
	opts   []asynq.Option
	now    func() time.Time
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithQueue enqueues into another queue than tasks.DefaultQueue.
func WithQueue(q string) ClientOption { return func(c *Client) { c.queue = q } }

// WithSource labels every task with the producer's name.
func WithSource(s string) ClientOption { return func(c *Client) { c.source = s } }

// WithTaskOptions overrides task defaults (max retry, timeout, retention).
func WithTaskOptions(o ...asynq.Option) ClientOption {
	return func(c *Client) { c.opts = append(c.opts, o...) }
}

// New connects to Redis (lazily: the first call or Ping dials).
func New(r asynq.RedisConnOpt, opts ...ClientOption) (*Client, error) {
	rdb, ok := r.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("unsupported redis connection option %T", r)
	}
	c := &Client{
		asynq: asynq.NewClientFromRedisClient(rdb),
		insp:  asynq.NewInspectorFromRedisClient(rdb),
		rdb:   rdb, queue: tasks.DefaultQueue, now: time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	if err := tasks.ValidateSource(c.source); err != nil {
		return nil, err
	}
	c.dlq = store.NewDLQ(rdb, c.queue)
	return c, nil
}

// Close releases the Redis connections.
func (c *Client) Close() error { return c.rdb.Close() }

// Queue is the queue this client enqueues into.
func (c *Client) Queue() string { return c.queue }

// Ping checks that Redis answers.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Cancel enqueues one number. The returned error is non-nil exactly when
// Result is Invalid (errors.Is(err, tasks.ErrInvalid)) or Failed
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
	// A dead number stays dead until an operator re-drives it, even after
	// asynq trimmed its archived task and freed the task ID.
	dead, err := c.dlq.Dead(ctx, []string{no})
	if err != nil {
		return fail(unavailable(err))
	}
	if dead[0] {
		return Result{PreStockinNo: no, Result: Duplicate, State: StateDead}
	}
	return c.enqueueChecked(ctx, no, opts)
}

// enqueueChecked enqueues a valid number already checked against the
// dead-letter queue. A number dead-lettered since the check still has its
// archived task, so asynq refuses it as a duplicate.
func (c *Client) enqueueChecked(ctx context.Context, no string, opts []asynq.Option) Result {
	fail := func(err error) Result {
		return Result{PreStockinNo: no, Result: Failed, Error: err.Error(), Err: err}
	}
	all := append([]asynq.Option{asynq.Queue(c.queue)}, c.opts...)
	all = append(all, opts...)
	task, err := tasks.NewCancelTask(no, c.source, c.now(), all...)
	if err != nil {
		return Result{PreStockinNo: no, Result: Invalid, Error: err.Error(), Err: err}
	}
	_, err = c.asynq.EnqueueContext(ctx, task)
	switch {
	case err == nil:
		return Result{PreStockinNo: no, Result: Enqueued, State: StatePending}
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return Result{PreStockinNo: no, Result: Duplicate, State: c.stateOf(ctx, no)}
	default:
		return fail(unavailable(err))
	}
}

// stateOf reads where an existing task stands; "unknown" if it vanished
// between the conflict and the look-up (e.g. its retention just ran out).
func (c *Client) stateOf(ctx context.Context, no string) string {
	info, err := c.insp.GetTaskInfo(c.queue, no)
	if err != nil {
		return "unknown"
	}
	return stateName(info.State)
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

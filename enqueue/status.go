package enqueue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// ErrNotFound means wdtcancel knows nothing of a number: never enqueued,
// or done longer ago than the retention.
var ErrNotFound = errors.New("no task and no dead-letter record for this number")

// ErrMaybeLost is wrapped beside ErrNotFound while Redis is known to have
// lost writes of the queue (store.Loss, `wdtcancel redis-loss show`): a
// number wdtcancel cannot find may have been enqueued and lost with them.
var ErrMaybeLost = errors.New("redis lost writes of this queue, so it may have been enqueued and lost: re-enqueue it " +
	"(safe: the number is the task ID, and a number still queued is refused as a duplicate)")

// ErrCorruptRecord is wrapped when a number's dead-letter record is not a
// record (store.ErrCorrupt).
var ErrCorruptRecord = store.ErrCorrupt

// Status is where one number stands, as `wdtcancel status --json` and
// `GET /v1/cancellations/{no}` show it. DeadLetter is the number's
// dead-letter record exactly as stored (a store.Record as JSON), not decoded
// and encoded again: that would change what both print (the record's "<",
// ">" and "&" are stored escaped, which those encoders do not do, and a
// record written by another version would lose or gain fields).
type Status struct {
	PreStockinNo  string          `json:"pre_stockin_no"`
	State         string          `json:"state"`
	Queue         string          `json:"queue"`
	Seller        string          `json:"seller"`
	Attempts      int             `json:"attempts"`
	MaxRetry      int             `json:"max_retry,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	LastFailedAt  *time.Time      `json:"last_failed_at,omitempty"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	CompletedAt   *time.Time      `json:"completed_at,omitempty"`
	DeadLetter    json.RawMessage `json:"dead_letter,omitempty"`
	// Result is a completed task's result as the worker wrote it (one JSON
	// object: category, calls, attempt and, when the order lookup settled
	// it, looked_up); absent for other states or a result that is not JSON.
	Result json.RawMessage `json:"result,omitempty"`
	// RedisLoss is the unacknowledged record of writes Redis lost, given
	// with a number that is not found: it may have been lost with them.
	RedisLoss *store.Loss `json:"redis_loss,omitempty"`
}

// Status looks a number of the client's seller up in asynq and in the
// dead-letter queue, both the seller's (another seller's task for the same
// number is another task). A
// dead-letter record makes the state "dead" whether or not asynq still holds
// the archived task. A record that does not decode is an error wrapping
// ErrCorruptRecord.
func (c *Client) Status(ctx context.Context, raw string) (Status, error) {
	no, err := tasks.NormalizeNo(raw)
	if err != nil {
		return Status{}, err
	}
	st := Status{PreStockinNo: no, Queue: c.queue, Seller: c.seller}
	rec, err := c.dlq.Raw(ctx, no)
	switch {
	case errors.Is(err, store.ErrNotDead):
	case err != nil:
		return Status{}, unavailable(err)
	default:
		// A record this version cannot read is shown byte for byte, but a
		// value that is not a record at all cannot be: it would break the
		// JSON of the answer. Say so instead (store.ErrCorrupt).
		if err := store.CheckRaw(no, rec); err != nil {
			return Status{PreStockinNo: no, Queue: c.queue, Seller: c.seller, State: StateDead}, err
		}
		st.DeadLetter = rec
	}
	info, err := c.insp.GetTaskInfo(c.queue, no)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		if st.DeadLetter == nil {
			return c.notFound(ctx, st)
		}
	case err != nil:
		return Status{}, unavailable(err)
	default:
		st.State = stateName(info.State)
		st.Attempts = attemptsOf(info) // attempts.go
		st.MaxRetry = info.MaxRetry
		// The worker's smaller --max-retry wins: show the budget it applies.
		if n, werr := store.WorkerMaxRetry(ctx, c.rdb, c.queue); werr == nil && n > 0 && n < st.MaxRetry {
			st.MaxRetry = n
		}
		st.LastError = info.LastErr
		st.LastFailedAt = timePtr(info.LastFailedAt)
		st.CompletedAt = timePtr(info.CompletedAt)
		st.Result = completedResult(info)
		if info.State == asynq.TaskStateRetry || info.State == asynq.TaskStateScheduled {
			st.NextAttemptAt = timePtr(info.NextProcessAt)
		}
	}
	if st.DeadLetter != nil {
		st.State = StateDead
		st.Attempts = deadAttempts(st.DeadLetter, st.Attempts) // attempts.go
	}
	return st, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ofSeller names a seller other than the default in a message about one of
// its numbers.
func (c *Client) ofSeller() string {
	if c.seller == tasks.DefaultSeller {
		return ""
	}
	return " of seller " + c.seller
}

// notFound is the answer for a number wdtcancel knows nothing of: never
// enqueued, done longer ago than the retention, or, while Redis is known to
// have lost writes, lost with them (ErrMaybeLost, and Status.RedisLoss).
func (c *Client) notFound(ctx context.Context, st Status) (Status, error) {
	loss, err := store.ReadLoss(ctx, c.rdb, c.queue)
	if err != nil && !errors.Is(err, store.ErrCorrupt) {
		return Status{}, unavailable(err)
	}
	if loss != nil {
		st.RedisLoss = loss
		return st, fmt.Errorf("%s%s: %w; %w (detected %s)", st.PreStockinNo, c.ofSeller(), ErrNotFound, ErrMaybeLost, loss.DetectedAt.UTC().Format(time.RFC3339))
	}
	return st, fmt.Errorf("%s%s: %w", st.PreStockinNo, c.ofSeller(), ErrNotFound)
}

// completedResult is a completed task's result when it is a JSON object
// (what the worker writes), nil otherwise.
func completedResult(info *asynq.TaskInfo) json.RawMessage {
	if info.State != asynq.TaskStateCompleted || !bytes.HasPrefix(info.Result, []byte("{")) || !json.Valid(info.Result) {
		return nil
	}
	return json.RawMessage(info.Result)
}

package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// outcomeMemoryTTL bounds how long an unknown outcome is remembered: well
// beyond any retry schedule and the task retention.
const outcomeMemoryTTL = 30 * 24 * time.Hour

// OutcomeMemory remembers, per number and in Redis (so it survives retries,
// worker restarts and crashes), whether an attempt may have reached WDT
// without its answer being known. Three keys per number:
//
//   - sent: written just before a call and deleted once the call has a
//     definite answer. Finding it still there at the next attempt means the
//     previous attempt died mid-call (SIGKILL, OOM, power loss): its outcome
//     is unknown.
//   - unknown: the number had at least one attempt with an unknown outcome.
//     A later rejection is then ambiguous.
//   - confirmed: WDT answered 0 for this number. asynq may still run the task
//     again (a shutdown that hands back a task whose call had just succeeded),
//     and that rerun's rejection then only confirms the cancellation. The
//     worker normally records a success as the task's own result instead
//     (kept with the task, 48 bytes) and writes this key only when asynq
//     refuses the result write; Recall still reads it.
//
// The worker writes it around each call and reads it before deciding; the
// DLQ forgets a number's marks on Purge.
type OutcomeMemory struct {
	rdb   redis.UniversalClient
	queue string
	// caps is this process's copy of the events stream's caps
	// (eventcaps.go).
	caps eventCaps

	// Marks to clear after confirmed cancellations, batched (ClearLater).
	mu      sync.Mutex
	pending []string
	closed  bool
	wake    chan struct{}
	done    chan struct{}
	started sync.Once
}

// NewOutcomeMemory opens the outcome memory of queue.
func NewOutcomeMemory(rdb redis.UniversalClient, queue string) *OutcomeMemory {
	return &OutcomeMemory{rdb: rdb, queue: queue}
}

func (m *OutcomeMemory) sentKey(no string) string      { return SentKey(m.queue, no) }
func (m *OutcomeMemory) unknownKey(no string) string   { return UnknownKey(m.queue, no) }
func (m *OutcomeMemory) confirmedKey(no string) string { return ConfirmedKey(m.queue, no) }

// Begin marks a call to WDT as about to be sent. It reports whether an
// earlier attempt died mid-call. One plain SET ... GET (Redis 6.2+), not a
// script: it writes the mark and returns the one it replaced in one round
// trip. Only when an earlier mark was there (an attempt died mid-call, rare)
// does a second command promote it to an unknown outcome; dying between the
// two leaves this attempt's own sent mark, which the next Begin promotes.
func (m *OutcomeMemory) Begin(ctx context.Context, no string, at time.Time) (bool, error) {
	prev, err := m.rdb.SetArgs(ctx, m.sentKey(no), at.UTC().Format(time.RFC3339Nano), redis.SetArgs{TTL: outcomeMemoryTTL, Get: true}).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mark call of %s as sent: %w", no, err)
	}
	if err := m.rdb.SetArgs(ctx, m.unknownKey(no), prev, redis.SetArgs{Mode: "NX", TTL: outcomeMemoryTTL}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return true, fmt.Errorf("remember unknown outcome of %s: %w", no, err)
	}
	return true, nil
}

// Answered records that the call got a definite answer that did not
// cancel: only the sent mark goes.
func (m *OutcomeMemory) Answered(ctx context.Context, no string) error {
	if err := m.rdb.Del(context.WithoutCancel(ctx), m.sentKey(no)).Err(); err != nil {
		return fmt.Errorf("clear sent mark of %s: %w", no, err)
	}
	return nil
}

// Unknown records an unknown outcome of the call just made. An earlier
// unknown outcome's mark is kept as it is.
func (m *OutcomeMemory) Unknown(ctx context.Context, no string, at time.Time) error {
	ctx = context.WithoutCancel(ctx)
	var del *redis.IntCmd
	// A pipeline, not a transaction: applied alone, either command leaves
	// a state the next attempt reads as unknown (an unknown mark, or a
	// sent mark that Begin promotes).
	_, err := m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SetArgs(ctx, m.unknownKey(no), at.UTC().Format(time.RFC3339Nano), redis.SetArgs{Mode: "NX", TTL: outcomeMemoryTTL})
		del = p.Del(ctx, m.sentKey(no))
		return nil
	})
	if errors.Is(err, redis.Nil) {
		// SET NX found the earlier mark and answered nil; the transaction
		// ran, so only the DEL can have failed.
		err = del.Err()
	}
	if err != nil {
		return fmt.Errorf("remember unknown outcome of %s: %w", no, err)
	}
	return nil
}

// Cancelled records that WDT confirmed the cancellation and drops the
// other marks.
func (m *OutcomeMemory) Cancelled(ctx context.Context, no string) error {
	ctx = context.WithoutCancel(ctx)
	_, err := m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, m.confirmedKey(no), time.Now().UTC().Format(time.RFC3339Nano), outcomeMemoryTTL)
		p.Del(ctx, m.sentKey(no), m.unknownKey(no))
		return nil
	})
	if err != nil {
		return fmt.Errorf("record confirmed cancellation of %s: %w", no, err)
	}
	return nil
}

// ClearLater drops the sent and unknown marks of no in the background,
// batched with other numbers' into one DEL per clearLinger. The caller has
// already recorded the confirmation elsewhere (the task's result), so the
// marks only cost memory now: a crash before the batch is written leaves a
// sent mark, which at worst makes a later rejection of this number
// ambiguous, the same as a crash mid-call. After Close it clears at once.
func (m *OutcomeMemory) ClearLater(ctx context.Context, no string) {
	m.started.Do(m.startClearer)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.rdb.Del(context.WithoutCancel(ctx), m.sentKey(no), m.unknownKey(no))
		return
	}
	m.pending = append(m.pending, m.sentKey(no), m.unknownKey(no))
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// clearLinger is how long the clearer waits for more numbers before it
// writes a batch; clearBatch caps the keys of one DEL.
const (
	clearLinger = 2 * time.Millisecond
	clearBatch  = 512
)

func (m *OutcomeMemory) startClearer() {
	m.wake, m.done = make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(m.done)
		for range m.wake {
			time.Sleep(clearLinger)
			m.mu.Lock()
			keys, closed := m.pending, m.closed
			m.pending = nil
			m.mu.Unlock()
			for len(keys) > 0 {
				n := min(len(keys), clearBatch)
				// Best effort: a mark left behind only errs on ambiguous.
				m.rdb.Del(context.Background(), keys[:n]...)
				keys = keys[n:]
			}
			if closed {
				return
			}
		}
	}()
}

// Close writes the marks still waiting to be cleared and stops the
// background clearer. Call it before closing the Redis client.
func (m *OutcomeMemory) Close() {
	// Either the clearer was started (and this waits for that), or it
	// never will be: ClearLater after Close clears at once.
	m.started.Do(func() {})
	m.mu.Lock()
	if m.closed || m.wake == nil {
		m.closed = true
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	<-m.done
}

// Recall reports whether the number's cancellation was confirmed by an
// earlier answer, and whether an unknown outcome is remembered.
func (m *OutcomeMemory) Recall(ctx context.Context, no string) (confirmed, unknown bool, err error) {
	vals, err := m.rdb.MGet(ctx, m.confirmedKey(no), m.unknownKey(no)).Result()
	if err != nil {
		return false, false, fmt.Errorf("recall outcome memory of %s: %w", no, err)
	}
	return vals[0] != nil, vals[1] != nil, nil
}

// Forget drops every mark (dlq purge).
func (m *OutcomeMemory) Forget(ctx context.Context, no string) error {
	if err := m.rdb.Del(context.WithoutCancel(ctx), m.sentKey(no), m.unknownKey(no), m.confirmedKey(no)).Err(); err != nil {
		return fmt.Errorf("forget outcome memory of %s: %w", no, err)
	}
	return nil
}

// ConfirmInTask writes result as the result of asynq's task id of this
// queue, but only while asynq still holds the task. asynq's own ResultWriter
// writes the field unconditionally: after a Redis failover that lost the
// task, that created a hash holding only a result, which asynq can read as
// no state at all ("" is not supported task state), so `status` failed and
// the number could never be enqueued again. false means the task is gone:
// the caller keeps the confirmation elsewhere (Cancelled).
func (m *OutcomeMemory) ConfirmInTask(ctx context.Context, id string, result []byte) (bool, error) {
	n, err := writeResultIfTask.Run(ctx, m.rdb, []string{asynqTaskKey(m.queue, id)}, result).Int()
	if err != nil {
		return false, fmt.Errorf("write the result of %s: %w", id, err)
	}
	return n == 1, nil
}

// writeResultIfTask sets the result field of an existing task hash.
var writeResultIfTask = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then
  return 0
end
redis.call("HSET", KEYS[1], "result", ARGV[1])
return 1
`)

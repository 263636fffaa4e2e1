package store

import (
	"context"
	"errors"
	"fmt"
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
//     and that rerun's rejection then only confirms the cancellation.
//
// The worker writes it around each call and reads it before deciding; the
// DLQ forgets a number's marks on Purge.
type OutcomeMemory struct {
	rdb   redis.UniversalClient
	queue string
}

// NewOutcomeMemory opens the outcome memory of queue.
func NewOutcomeMemory(rdb redis.UniversalClient, queue string) *OutcomeMemory {
	return &OutcomeMemory{rdb: rdb, queue: queue}
}

func (m *OutcomeMemory) sentKey(no string) string      { return SentKey(m.queue, no) }
func (m *OutcomeMemory) unknownKey(no string) string   { return UnknownKey(m.queue, no) }
func (m *OutcomeMemory) confirmedKey(no string) string { return ConfirmedKey(m.queue, no) }

// beginScript: KEYS sent, unknown. ARGV now, ttl seconds. Marks a call as
// sent; a mark left by an earlier attempt is promoted to an unknown outcome.
var beginScript = redis.NewScript(`
local prev = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if prev then
  redis.call('SET', KEYS[2], prev, 'NX', 'EX', ARGV[2])
  return 1
end
return 0
`)

// Begin marks a call to WDT as about to be sent. It reports whether an
// earlier attempt died mid-call.
func (m *OutcomeMemory) Begin(ctx context.Context, no string, at time.Time) (bool, error) {
	n, err := beginScript.Run(ctx, m.rdb, []string{m.sentKey(no), m.unknownKey(no)},
		at.UTC().Format(time.RFC3339Nano), int64(outcomeMemoryTTL/time.Second)).Int()
	if err != nil {
		return false, fmt.Errorf("mark call of %s as sent: %w", no, err)
	}
	return n == 1, nil
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
	_, err := m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
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

package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
)

// HeldPrefix starts the last error of every held task (a configuration fault
// or an open circuit breaker). asynq keeps a task's last error with it in the
// retry set, so held tasks can be found without any state of our own, and
// asynqmon shows why a task waits.
const HeldPrefix = "held: "

// heldError is a hold: a snooze whose text says so.
func heldError(err error) error { return fmt.Errorf("%s%w", HeldPrefix, err) }

// IsHeld reports whether a task's last error says it is held.
func IsHeld(lastErr string) bool { return strings.HasPrefix(lastErr, HeldPrefix) }

// RunHeld moves every held task of queue from the retry set to pending, so it
// runs now instead of after its hold delay. It is what the worker does when
// the breaker closes and what `wdtcancel retry --held` does after an operator
// fixed the configuration. It returns how many tasks it released; a task
// that left the retry set meanwhile is skipped.
func RunHeld(ctx context.Context, rdb redis.UniversalClient, queue string) (int, error) {
	return runHeld(ctx, rdb, queue, 0)
}

// RunOneHeld releases one held task (the breaker's probe); it reports
// whether there was one.
func RunOneHeld(ctx context.Context, rdb redis.UniversalClient, queue string) (bool, error) {
	n, err := runHeld(ctx, rdb, queue, 1)
	return n > 0, err
}

// runHeld releases up to limit held tasks (0: all).
func runHeld(ctx context.Context, rdb redis.UniversalClient, queue string, limit int) (int, error) {
	insp := asynq.NewInspectorFromRedisClient(rdb)
	const pageSize = 500
	var held []string
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		infos, err := insp.ListRetryTasks(queue, asynq.PageSize(pageSize), asynq.Page(page))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("list retry tasks of %s: %w", queue, err)
		}
		for _, ti := range infos {
			if IsHeld(ti.LastErr) {
				held = append(held, ti.ID)
			}
		}
		if len(infos) < pageSize || (limit > 0 && len(held) >= limit) {
			break
		}
	}
	n := 0
	for _, id := range held {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		// Re-check just before: RunTask would also revive an archived
		// (dead-lettered) task, and a held task may have been dead-lettered
		// since it was listed.
		ti, err := insp.GetTaskInfo(queue, id)
		if err != nil || ti.State != asynq.TaskStateRetry || !IsHeld(ti.LastErr) {
			continue
		}
		err = insp.RunTask(queue, id)
		switch {
		case err == nil:
			// Pending now: tell the workers, which poll only queues in
			// the activity index (a failed mark is found by their sweep).
			_ = store.MarkActive(ctx, rdb, queue)
			n++
			if limit > 0 && n >= limit {
				return n, nil
			}
		case errors.Is(err, asynq.ErrTaskNotFound), isNotRunnable(err):
			// Already running, done or re-held with a new error: skip.
		default:
			return n, fmt.Errorf("run held task %s: %w", id, err)
		}
	}
	return n, nil
}

// isNotRunnable matches asynq's error for a task that is already pending or
// active ("task is already running", "task is already in pending state"): it has no exported
// sentinel for it.
func isNotRunnable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "already running") || strings.Contains(msg, "already in pending")
}

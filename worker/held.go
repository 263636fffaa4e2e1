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
	held, err := listHeld(ctx, insp, queue, limit)
	if err != nil || len(held) == 0 {
		return 0, err
	}
	n := 0
	for _, id := range held {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		ran, err := runIfHeld(insp, queue, id)
		if err != nil {
			return n, err
		}
		if ran {
			// Pending now: tell the workers, which poll only queues in
			// the activity index (a failed mark is found by their sweep).
			_ = store.MarkActive(ctx, rdb, queue)
			n++
			if limit > 0 && n >= limit {
				return n, nil
			}
		}
	}
	return n, nil
}

// listHeld pages through the queue's retry tasks and returns the IDs of the
// held ones, stopping once it has limit (0: all). A queue asynq does not
// know holds none.
func listHeld(ctx context.Context, insp *asynq.Inspector, queue string, limit int) ([]string, error) {
	const pageSize = 500
	var held []string
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		infos, err := insp.ListRetryTasks(queue, asynq.PageSize(pageSize), asynq.Page(page))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list retry tasks of %s: %w", queue, err)
		}
		for _, ti := range infos {
			if IsHeld(ti.LastErr) {
				held = append(held, ti.ID)
			}
		}
		if len(infos) < pageSize || (limit > 0 && len(held) >= limit) {
			return held, nil
		}
	}
}

// runIfHeld runs task id now if it is still held; it reports whether it
// ran it. It re-checks just before: RunTask would also revive an archived
// (dead-lettered) task, and a held task may have been dead-lettered since
// it was listed. A task already running, done or re-held with a new error
// is skipped, not an error.
func runIfHeld(insp *asynq.Inspector, queue, id string) (bool, error) {
	ti, err := insp.GetTaskInfo(queue, id)
	if err != nil || ti.State != asynq.TaskStateRetry || !IsHeld(ti.LastErr) {
		return false, nil
	}
	err = insp.RunTask(queue, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, asynq.ErrTaskNotFound), isNotRunnable(err):
		return false, nil
	default:
		return false, fmt.Errorf("run held task %s: %w", id, err)
	}
}

// isNotRunnable matches asynq's error for a task that is already pending or
// active ("task is already running", "task is already in pending state"): it has no exported
// sentinel for it.
func isNotRunnable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "already running") || strings.Contains(msg, "already in pending")
}

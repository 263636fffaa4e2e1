package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// An attempt's outcome is recorded in Redis, partly by the worker, partly
// by asynq after the handler returns: a confirmation is the task's result
// (or the outcome memory's mark), a dead letter the record bury writes; a
// completion, a retry, a snooze or a hold is asynq's own write, made only
// while this process still holds the task's lease. The log line and
// wdtcancel_task_outcomes_total must not claim an outcome that was not
// recorded: the task then runs again, and is counted when that run's
// outcome is. What the handler can observe:
//
//   - the confirmation write failed (Redis down when WDT answered 0): the
//     completion cannot be recorded either, and the rerun no longer knows
//     WDT said 0;
//   - the task's context ended before the handler returns (shutdown, or the
//     lease expired and asynq cancelled it): asynq writes nothing of this
//     attempt, the task is handed back or recovered;
//   - for a retry, the task is no longer active in Redis (this worker was
//     stopped, e.g. SIGSTOP, past its lease, and another worker took the
//     task over and settled it).
//
// What remains unobservable: asynq's own completion write after a handler
// that returned nil, which asynq retries until the lease ends; if Redis
// stays down that long, the task runs again although it was logged done.
// That rerun finds the confirmation (the task's result or the outcome
// memory) and completes without a call. A snooze or hold of a task another
// worker took over is not checked (it costs a read on every rate-limit
// wait); asynq does not write it.

// checkRecorded sets at.unrecorded when the decided action will not be
// recorded (see above). Done and dead are recorded by the worker's own
// writes, checked where they are made.
func (h *Handler) checkRecorded(ctx context.Context, at *attempt, action Action) {
	if at.unrecorded != "" || action == ActDone || action == ActDead {
		return
	}
	if ctx.Err() != nil {
		at.unrecorded = "the task's run ended before its outcome was recorded (shutdown, or this worker stalled past the task's lease): asynq hands it back"
		return
	}
	if action != ActRetry || h.insp == nil || at.id == "" {
		return
	}
	info, err := h.insp.GetTaskInfo(h.queue, at.id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound):
		at.unrecorded = "the task is no longer in Redis: another worker settled it after this worker's lease ran out"
	case err == nil && info.State != asynq.TaskStateActive:
		at.unrecorded = fmt.Sprintf("the task is %s, no longer this worker's: another worker took it over after this worker's lease ran out", info.State)
	}
}

// finishUnrecorded is finish for an outcome not recorded: a warning that
// says so, counted apart from the recorded outcomes.
func (h *Handler) finishUnrecorded(at *attempt, action Action, cat wdt.Category, err error, extra ...zap.Field) {
	h.metrics.Unrecorded.WithLabelValues(string(action)).Inc()
	took := time.Since(at.start)
	status := wdt.NoStatus
	var we *wdt.Error
	if errors.As(err, &we) {
		status = we.Status
	} else if err == nil && cat == wdt.Cancelled {
		status = 0 // the call succeeded: WDT said 0
	}
	fields := append([]zap.Field{
		zap.String("pre_stockin_no", at.no), zap.String("task_id", at.id), zap.Int("attempt", at.retried+1),
		zap.String("category", string(cat)), zap.String("wdt_status", wdt.StatusText(status)),
		zap.Duration("duration", took), zap.Int("calls", at.calls),
		zap.String("not_recorded", at.unrecorded),
	}, extra...)
	if err != nil {
		fields = append(fields, zap.String("error", errString(err)))
	}
	h.log.Warn("task "+string(action)+" not recorded, will run again", fields...)
	if h.onAttempt != nil {
		h.onAttempt(Attempt{
			TaskID: at.id, PreStockinNo: at.no, Seller: h.seller, Number: at.retried + 1,
			Action: action, Category: cat, Calls: at.calls, WDTStatus: status, Err: err, Duration: took,
			NotRecorded: at.unrecorded,
		})
	}
}

// settleCall records the call's outcome (settle). One that cannot be
// recorded is logged; the sent mark stays, so a later rejection errs on
// ambiguous; and a confirmation that cannot be recorded makes the attempt's
// done unrecorded.
func (h *Handler) settleCall(ctx context.Context, at *attempt, cat wdt.Category) {
	merr := h.settle(ctx, at, cat)
	if merr == nil {
		return
	}
	h.log.Warn("cannot record call outcome", zap.String("pre_stockin_no", at.no), zap.Error(merr))
	if cat == wdt.Cancelled {
		at.unrecorded = "WDT answered 0 but the confirmation could not be written to Redis (" + merr.Error() + "); asynq cannot record the completion either"
	}
}

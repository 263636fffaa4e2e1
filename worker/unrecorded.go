package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// An attempt's outcome is recorded in Redis, partly by the worker, partly
// by asynq after the handler returns: a confirmation is the task's result
// (or the outcome memory's mark), a dead letter the record bury writes; a
// completion, a retry, a snooze or a hold is asynq's own write, made only
// while this process still holds the task's lease. The log line and
// wdtcancel_task_outcomes_total must not claim an outcome that was not
// recorded: nothing is logged "task done" unless its confirmation was
// written, and no other message starts with "task done". What the handler can observe:
//
//   - the confirmation write failed: Redis refused it or could not be
//     reached (unrecorded: the task runs again, unless asynq's completion,
//     which its processor retries until the lease ends, lands first once
//     Redis is back; then the task is complete, counted in neither), or
//     Redis did not answer in time (unconfirmed: the write may have
//     landed, or not, and either way asynq's completion may land: an
//     outside tester stalled Redis for 20 s and every such task ended
//     completed, never ran again and was counted nowhere, 296 of 300,
//     under "not recorded, will run again"; TestUnconfirmedDone's 3 s
//     stall loses the write and still completes the task). Such an
//     attempt is counted in wdtcancel_task_outcomes_unconfirmed_total
//     only: whether its completion or a rerun follows is asynq's to
//     decide after the handler returned. The sent mark stays, so a rerun
//     that WDT answers "not editable" is filed ambiguous, never clean;
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

// unconfirmedNote starts at.unrecorded when Redis did not answer the
// confirmation write (writeUnanswered): finishUnrecorded then logs and
// counts the attempt as unconfirmed, not as unrecorded.
const unconfirmedNote = "Redis did not answer the confirmation write in time"

// writeUnanswered says a failed write may still have landed: it was sent
// and no answer came (a timeout, a connection closed under it). A refusal
// (an error reply), a connection never made, a closed client or an empty
// pool mean it was not written.
func writeUnanswered(err error) bool {
	var rerr redis.Error
	var op *net.OpError
	switch {
	case errors.As(err, &rerr),
		errors.As(err, &op) && op.Op == "dial",
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, redis.ErrClosed),
		errors.Is(err, redis.ErrPoolTimeout):
		return false
	}
	return true
}

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

// UnrecordedMessage is the log message of an attempt whose outcome was
// decided but not recorded.
func UnrecordedMessage(action Action) string {
	return "task not recorded (" + string(action) + "), will run again"
}

// UnconfirmedMessage is the log message of an attempt whose outcome write
// Redis did not answer.
func UnconfirmedMessage(action Action) string {
	return "task unconfirmed (" + string(action) + "): Redis did not answer the outcome write; the task ends completed if asynq's completion lands, else it runs again"
}

// finishUnrecorded is finish for an outcome not recorded, or not known to
// be (unconfirmedNote): a warning that says which, counted apart from the
// recorded outcomes.
func (h *Handler) finishUnrecorded(at *attempt, action Action, cat wdt.Category, err error, extra ...zap.Field) {
	// The action goes in brackets, never right after "task ": an
	// operator's grep or alert on "task done" must count recorded dones
	// only.
	msg := UnrecordedMessage(action)
	if strings.HasPrefix(at.unrecorded, unconfirmedNote) {
		h.metrics.Unconfirmed.WithLabelValues(string(action)).Inc()
		msg = UnconfirmedMessage(action)
	} else {
		h.metrics.Unrecorded.WithLabelValues(string(action)).Inc()
	}
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
	h.log.Warn(msg, fields...)
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
	began := time.Now()
	merr := h.settle(ctx, at, cat)
	if merr != nil && cat == wdt.Cancelled {
		merr = h.retryConfirm(ctx, at, merr, time.Since(began))
	}
	if merr == nil {
		return
	}
	h.log.Warn("cannot record call outcome", zap.String("pre_stockin_no", at.no), zap.Error(merr))
	switch {
	case cat != wdt.Cancelled:
	case writeUnanswered(merr):
		at.unrecorded = unconfirmedNote + " (" + merr.Error() + "): WDT answered 0; the write may have landed, and asynq retries the completion until the task's lease ends: then the task is complete and counted here only"
	default:
		at.unrecorded = "WDT answered 0 but the confirmation could not be written to Redis (" + merr.Error() + "); the task runs again, unless asynq's completion, retried until the task's lease ends, lands first once Redis is back"
	}
}

// confirmLeaseEnd is how long after an attempt's start its last
// confirmation write must have ended: asynq's lease is 30 s, and an attempt
// that outlives it has its task taken over by another worker.
const confirmLeaseEnd = 27 * time.Second

// retryConfirm writes a status 0 confirmation again, with back-off, for up
// to ConfirmRetryWindow or until ctx ends: a Redis stall of a few seconds
// would otherwise leave a task that asynq completes with neither its
// result nor its cancelled event. The confirmation is idempotent per task
// instance (the result is rewritten, the event written once and counted
// once: see internal/store/events.go), so a first write that did land is
// harmless. It returns nil once a write is acknowledged, else the last
// error.
//
// During a stall a write takes far longer than it looks: go-redis waits
// its read timeout (3 s by default) on each of its tries, and neither that
// wait nor the replica wait honours a context deadline (the worker's client
// runs without ContextTimeoutEnabled, the replica wait without
// cancellation): a first write took 15 s in TestConfirmWrittenAgainAfterStall,
// and an outside tester saw stalls written for 25-41 s with a 10 s window
// that was only checked before each write. So a write is started only
// while the window lasts and only if, taking as long as the longest write
// of this attempt so far (took is the first's), it ends by confirmLeaseEnd.
func (h *Handler) retryConfirm(ctx context.Context, at *attempt, err error, took time.Duration) error {
	windowEnd := time.Now().Add(h.opts.ConfirmRetryWindow)
	leaseEnd := at.start.Add(confirmLeaseEnd)
	if at.start.IsZero() {
		leaseEnd = time.Now().Add(confirmLeaseEnd)
	}
	longest := took
	for wait := 250 * time.Millisecond; startConfirmWrite(time.Now(), wait, longest, windowEnd, leaseEnd); wait = min(2*wait, 2*time.Second) {
		h.log.Warn("cannot record confirmed cancellation yet: writing it again", zap.String("pre_stockin_no", at.no),
			zap.Duration("in", wait), zap.Duration("last_write_took", longest), zap.Error(err))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		began := time.Now()
		if err = h.settle(ctx, at, wdt.Cancelled); err == nil {
			h.log.Info("confirmed cancellation recorded on a later write", zap.String("pre_stockin_no", at.no))
			return nil
		}
		longest = max(longest, time.Since(began))
	}
	return err
}

// startConfirmWrite says whether a confirmation write after wait, taking
// up to longest, is started: inside the retry window, and ending before
// the attempt's lease does.
func startConfirmWrite(now time.Time, wait, longest time.Duration, windowEnd, leaseEnd time.Time) bool {
	start := now.Add(wait)
	return start.Before(windowEnd) && start.Add(longest).Before(leaseEnd)
}

package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
)

// asynqLogger routes asynq's own log lines through zap, tagged so they can
// be told from ours.
type asynqLogger struct{ s *zap.SugaredLogger }

func newAsynqLogger(l *zap.Logger) asynqLogger {
	return asynqLogger{l.With(zap.String("component", "asynq")).WithOptions(zap.AddCallerSkip(1)).Sugar()}
}

func (l asynqLogger) Debug(args ...any) { l.s.Debug(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.s.Info(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.s.Error(fmt.Sprint(args...)) }

func (l asynqLogger) Warn(args ...any) {
	msg := fmt.Sprint(args...)
	if id, ok := strings.CutPrefix(msg, asynqArchivedPrefix); ok {
		l.s.Debugw("asynq archived the task", "task_id", id,
			"note", "wdtcancel dead-lettered it; its \"task dead\" line says why")
		return
	}
	l.s.Warn(msg)
}

// asynqArchivedPrefix starts the warning asynq v0.26 logs whenever it
// archives a task, "Retry exhausted for task id=ID", also when the handler
// asked for it with asynq.SkipRetry. In wdtcancel that is every dead letter,
// mostly rejections that never used a retry, and the handler has already
// logged its own "task dead" warning with the category and WDT's message;
// so the line is rewritten and logged at debug level.
const asynqArchivedPrefix = "Retry exhausted for task id="

// Fatal is only called by asynq's Server.Run, which wdtcancel does not use;
// log it as an error rather than exit from inside a library.
func (l asynqLogger) Fatal(args ...any) { l.s.Error(fmt.Sprint(args...)) }

// archiveWatch is asynq's ErrorHandler, called with every failed attempt
// before asynq decides its fate. Since the archive warning above is quieted,
// it speaks up for the one archive that is not a wdtcancel dead letter: asynq
// archives a task whose own retry count reached its MaxRetry whatever the
// error, a snooze included, and then no dead-letter record exists. The
// policy dead-letters before that count is reached, so this needs a failure
// counted outside it (a handler panic or timeout) or a task enqueued with a
// smaller MaxRetry than tasks.DefaultOptions gives.
func archiveWatch(log *zap.Logger) asynq.ErrorHandlerFunc {
	return func(ctx context.Context, _ *asynq.Task, err error) {
		if errors.Is(err, asynq.SkipRetry) || errors.Is(err, asynq.RevokeTask) {
			return
		}
		retried, ok := asynq.GetRetryCount(ctx)
		maxRetry, ok2 := asynq.GetMaxRetry(ctx)
		if !ok || !ok2 || retried < maxRetry {
			return
		}
		id, _ := asynq.GetTaskID(ctx)
		log.Error("asynq archives a task without a dead-letter record: its own retry count ran out",
			zap.String("task_id", id), zap.Int("retried", retried), zap.Int("max_retry", maxRetry),
			zap.String("error", errString(err)),
			zap.String("fix", "it is in asynqmon's Archived tab, not in wdtcancel dlq: run it from there (--monitoring-writable)"))
	}
}

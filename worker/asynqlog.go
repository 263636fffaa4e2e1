package worker

import (
	"fmt"
	"strings"

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

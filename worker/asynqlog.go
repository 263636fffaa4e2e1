package worker

import (
	"fmt"

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
func (l asynqLogger) Warn(args ...any)  { l.s.Warn(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.s.Error(fmt.Sprint(args...)) }

// Fatal is only called by asynq's Server.Run, which wdtcancel does not use;
// log it as an error rather than exit from inside a library.
func (l asynqLogger) Fatal(args ...any) { l.s.Error(fmt.Sprint(args...)) }

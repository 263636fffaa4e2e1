package worker

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestAsynqLoggerQuietsArchiveWarning: asynq's "Retry exhausted" warning,
// logged for every dead letter, is rewritten to debug; other warnings pass.
func TestAsynqLoggerQuietsArchiveWarning(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	l := newAsynqLogger(zap.New(core))
	// What asynq v0.26's processor passes: Warnf formats, then calls Warn.
	l.Warn("Retry exhausted for task id=RK2004210014")
	l.Warn("Could not move task id=RK1 from active to retry; Will retry syncing")

	all := logs.All()
	if len(all) != 2 {
		t.Fatalf("%d log lines, want 2: %v", len(all), all)
	}
	if e := all[0]; e.Level != zapcore.DebugLevel || e.Message != "asynq archived the task" ||
		e.ContextMap()["task_id"] != "RK2004210014" || e.ContextMap()["component"] != "asynq" {
		t.Errorf("archive line: %v %q %v", e.Level, e.Message, e.ContextMap())
	}
	if e := all[1]; e.Level != zapcore.WarnLevel || e.Message != "Could not move task id=RK1 from active to retry; Will retry syncing" {
		t.Errorf("other warning: %v %q", e.Level, e.Message)
	}
}

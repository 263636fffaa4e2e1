package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
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

// TestArchiveWatchFlagsArchiveWithoutRecord runs archiveWatch under a real
// asynq server: a dead letter passes quietly, a task asynq archives because
// its own retry count ran out (a snooze on a MaxRetry(0) task) is logged as
// an error.
func TestArchiveWatchFlagsArchiveWithoutRecord(t *testing.T) {
	r := testkit.NewRedis(t)
	conn, err := asynq.ParseRedisURI(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	const queue = "archive-watch"
	srv := asynq.NewServer(conn, asynq.Config{
		Concurrency: 2, Queues: map[string]int{queue: 1}, LogLevel: asynq.ErrorLevel,
		TaskCheckInterval: 20 * time.Millisecond, IsFailure: IsFailure,
		ErrorHandler: archiveWatch(zap.New(core)),
	})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		if string(task.Payload()) == "dead" {
			return deadLetter(errors.New("rejected: WDT status 100"))
		}
		return snooze(wdt.RateLimited, time.Minute, errors.New("rate limited"))
	})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	cl := asynq.NewClient(conn)
	defer cl.Close()
	insp := asynq.NewInspector(conn)
	defer insp.Close()
	for _, id := range []string{"dead", "snoozed"} {
		if _, err := cl.Enqueue(asynq.NewTask("t", []byte(id)), asynq.Queue(queue), asynq.TaskID(id), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"dead", "snoozed"} {
		testkit.Until(t, id+" archived", func() bool {
			info, err := insp.GetTaskInfo(queue, id)
			return err == nil && info.State == asynq.TaskStateArchived
		})
	}
	errs := logs.FilterLevelExact(zapcore.ErrorLevel).All()
	if len(errs) != 1 || errs[0].ContextMap()["task_id"] != "snoozed" {
		t.Fatalf("error lines %v, want one for task snoozed", errs)
	}
}

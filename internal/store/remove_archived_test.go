package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestRemoveArchivedAgainstAsynq runs the dead-letter store's own removal
// script on tasks that asynq itself put in each state, so the asynq key
// layout the script relies on is checked against the asynq version in
// go.mod: archived and completed tasks go, live ones stay and are refused
// as live, and a number asynq never saw is nothing to remove.
func TestRemoveArchivedAgainstAsynq(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	const q = "remove-archived"
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	enqueue := func(id string, opts ...asynq.Option) {
		t.Helper()
		all := append([]asynq.Option{asynq.Queue(q), asynq.TaskID(id), asynq.Retention(time.Hour)}, opts...)
		if _, err := client.Enqueue(asynq.NewTask("t", nil), all...); err != nil {
			t.Fatal(err)
		}
	}

	// A completed task: let a server process one.
	enqueue("DONE")
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{q: 1}, LogLevel: asynq.FatalLevel, TaskCheckInterval: 10 * time.Millisecond})
	processed := make(chan struct{}, 1)
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		processed <- struct{}{}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	<-processed
	testkit.Until(t, "DONE completed", func() bool {
		info, err := insp.GetTaskInfo(q, "DONE")
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	srv.Shutdown()

	enqueue("ARCH")
	if err := insp.ArchiveTask(q, "ARCH"); err != nil {
		t.Fatal(err)
	}
	enqueue("PEND")
	enqueue("LATER", asynq.ProcessIn(time.Hour))

	d := NewDLQ(rdb, q)
	tests := []struct {
		id       string
		live     bool   // refused as live, left alone
		wasState string // "" = asynq does not know it
	}{
		{"ARCH", false, "archived"},
		{"DONE", false, "completed"},
		{"PEND", true, "pending"},
		{"LATER", true, "scheduled"},
		{"NEVER", false, ""},
	}
	for _, tt := range tests {
		err := d.removeArchived(tt.id)
		info, infoErr := insp.GetTaskInfo(q, tt.id)
		switch {
		case tt.live:
			if !errors.Is(err, ErrLive) {
				t.Errorf("%s (%s): err = %v, want ErrLive", tt.id, tt.wasState, err)
			}
			if infoErr != nil || info.State.String() != tt.wasState {
				t.Errorf("%s: after a refused removal asynq has %v, %v; want it %s", tt.id, info, infoErr, tt.wasState)
			}
		default:
			if err != nil {
				t.Errorf("%s (%s): err = %v, want nil", tt.id, tt.wasState, err)
			}
			if !errors.Is(infoErr, asynq.ErrTaskNotFound) {
				t.Errorf("%s: asynq still has it: %v, %v", tt.id, info, infoErr)
			}
		}
	}
	for _, set := range []string{asynqArchivedKey(q), asynqCompletedKey(q)} {
		if n := rdb.ZCard(ctx, set).Val(); n != 0 {
			t.Errorf("%s still holds %d entries", set, n)
		}
	}
	qi, err := insp.GetQueueInfo(q)
	if err != nil || qi.Archived != 0 || qi.Completed != 0 || qi.Pending != 1 || qi.Scheduled != 1 {
		t.Errorf("asynq's view of the queue afterwards: %+v, %v", qi, err)
	}
}

package worker

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hibiken/asynqmon"

	"github.com/wdtcancel/wdtcancel/tasks"
)

// TestTaskResultReadsInAsynqmon pins the result format and checks it with
// asynqmon's own formatter, which prints "non-printable bytes" for anything
// it will not show.
func TestTaskResultReadsInAsynqmon(t *testing.T) {
	for _, tc := range []struct {
		calls, attempt int
		want           string
	}{
		{1, 1, `{"category":"cancelled","calls":1,"attempt":1}`},
		{2, 3, `{"category":"cancelled","calls":2,"attempt":3}`},
		{0, 21, `{"category":"cancelled","calls":0,"attempt":21}`},
	} {
		got := taskResult(tc.calls, tc.attempt)
		if string(got) != tc.want {
			t.Errorf("taskResult(%d, %d) = %s, want %s", tc.calls, tc.attempt, got, tc.want)
		}
		if err := json.Unmarshal(got, &map[string]any{}); err != nil {
			t.Errorf("taskResult is not JSON: %v", err)
		}
		if shown := asynqmon.DefaultResultFormatter.FormatResult(tasks.TypeCancel, got); shown != tc.want {
			t.Errorf("asynqmon shows %q, want %q", shown, tc.want)
		}
	}
}

// TestPayloadReadsInAsynqmon checks that asynqmon prints a task's payload as
// is, a producer label in Chinese included.
func TestPayloadReadsInAsynqmon(t *testing.T) {
	task, err := tasks.NewCancelTask("RK2004210014", "售后同步 <job>", time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if shown := asynqmon.DefaultPayloadFormatter.FormatPayload(task.Type(), task.Payload()); shown != string(task.Payload()) {
		t.Errorf("asynqmon shows the payload as %q, want %s", shown, task.Payload())
	}
}

package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/tasks/outcome"
)

// TestOutboxOneEventPerTaskInstance: every way an outcome is recorded
// writes its event in the same script, and a rerun of the same task
// instance (asynq's task hash still there, holding the marker) records the
// outcome again without a second event; without a task hash there is no
// rerun, so each write is an event.
func TestOutboxOneEventPerTaskInstance(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		taskHash   bool
		write      func(q, no string, ev Event) (bool, error)
		wantEvents int // after two writes of the same task instance
		outcome    string
	}{
		{"dead letter, task held", true, func(q, no string, ev Event) (bool, error) {
			return NewDLQ(rdb, q).PutFinal(ctx, Record{PreStockinNo: no, Category: outcome.Rejected, Ambiguous: true}, no, ev)
		}, 1, OutcomeAmbiguous},
		{"dead letter, no task hash", false, func(q, no string, ev Event) (bool, error) {
			return NewDLQ(rdb, q).PutFinal(ctx, Record{PreStockinNo: no, Category: outcome.Invalid}, "", ev)
		}, 2, "invalid"},
		{"success result in the task", true, func(q, no string, ev Event) (bool, error) {
			held, emitted, err := NewOutcomeMemory(rdb, q).ConfirmInTaskFinal(ctx, no, []byte(`{"category":"cancelled"}`), ev)
			if !held && err == nil {
				t.Error("ConfirmInTaskFinal says asynq does not hold a task whose hash exists")
			}
			return emitted, err
		}, 1, "cancelled"},
		{"success result, task gone", false, func(q, no string, ev Event) (bool, error) {
			held, emitted, err := NewOutcomeMemory(rdb, q).ConfirmInTaskFinal(ctx, no, []byte("x"), ev)
			if held {
				t.Error("ConfirmInTaskFinal wrote into a task asynq does not hold")
			}
			return emitted, err
		}, 0, ""},
		{"confirmed mark, task held", true, func(q, no string, ev Event) (bool, error) {
			return NewOutcomeMemory(rdb, q).CancelledFinal(ctx, no, no, ev)
		}, 1, "cancelled"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := "ev" + string(rune('a'+i))
			no := "N1"
			if tt.taskHash {
				rdb.HSet(ctx, asynqTaskKey(q, no), "msg", "x", "state", "active")
			}
			var ids []string
			for range 2 {
				ev := Event{EventID: NewEventID(), Type: EventType, PreStockinNo: no, Outcome: tt.outcome, FinalAt: time.Now()}
				if ev.Outcome == "" {
					ev.Outcome = "cancelled"
				}
				emitted, err := tt.write(q, no, ev)
				if err != nil {
					t.Fatal(err)
				}
				if emitted {
					ids = append(ids, ev.EventID)
				}
			}
			got, err := NewEvents(rdb, q).Range(ctx, "-", 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantEvents || len(ids) != tt.wantEvents {
				t.Fatalf("%d events stored, %d reported written; want %d", len(got), len(ids), tt.wantEvents)
			}
			for k, se := range got {
				if se.Event.EventID != ids[k] || se.Event.PreStockinNo != no || se.Event.Queue != q {
					t.Errorf("event %d = %+v, want ID %s of %s in %s", k, se.Event, ids[k], no, q)
				}
				if tt.outcome != "" && se.Event.Outcome != tt.outcome {
					t.Errorf("event outcome %q, want %q", se.Event.Outcome, tt.outcome)
				}
			}
			if tt.taskHash {
				if mark := rdb.HGet(ctx, asynqTaskKey(q, no), EventMarkField).Val(); mark != ids[0] {
					t.Errorf("task hash marker %q, want the event ID %s", mark, ids[0])
				}
			}
		})
	}
}

// TestOperatorEvents: requeue and purge remove the record and write their
// event in one script, carrying what the record said; a purge of a number
// without a record writes nothing.
func TestOperatorEvents(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	d := NewDLQ(rdb, "evops")
	status := 100
	for _, no := range []string{"R1", "P1"} {
		if err := d.Put(ctx, Record{PreStockinNo: no, Category: outcome.Rejected, WDTStatus: &status, Message: "no", Attempts: 3, Source: "erp"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Requeue(ctx, "R1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Purge(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Purge(ctx, "P1"); err == nil {
		t.Fatal("a second purge found a record")
	}
	got, err := NewEvents(rdb, "evops").Range(ctx, "-", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ no, outcome string }{{"R1", OutcomeRequeued}, {"P1", OutcomePurged}}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i].Event
		if e.PreStockinNo != w.no || e.Outcome != w.outcome || e.Category != "rejected" || e.Attempts != 3 || e.Source != "erp" ||
			e.WDTStatus == nil || *e.WDTStatus != 100 || !strings.HasPrefix(e.EventID, "evt_") {
			t.Errorf("event %d = %+v, want %s %s with the record's facts", i, e, w.no, w.outcome)
		}
	}
}

// TestEventJSONShape pins the field names of the event: they are a contract
// with receivers (docs/architecture.md, enqueue/openapi.yaml).
func TestEventJSONShape(t *testing.T) {
	t.Parallel()
	s, first := 100, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	b, err := json.Marshal(Event{EventID: "evt_1", Type: EventType, PreStockinNo: "N", Seller: "default", Queue: "q", Outcome: "ambiguous",
		Category: "rejected", Ambiguous: true, WDTStatus: &s, Message: "m", Error: "e", Attempts: 2, Source: "erp", FirstAt: &first, FinalAt: first})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"event_id", "type", "pre_stockin_no", "seller", "queue", "outcome", "category", "ambiguous", "wdt_status", "message", "error", "attempts", "source", "first_enqueued_at", "final_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("event JSON lacks %q: %s", k, b)
		}
	}
	if len(m) != 15 {
		t.Errorf("event JSON has %d keys, want 15: %s", len(m), b)
	}
}

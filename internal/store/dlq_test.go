package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/tasks/outcome"
)

// sampleRecord has every field set, and characters JSON may escape.
func sampleRecord() Record {
	st := 100
	first := time.Date(2026, 11, 27, 8, 0, 0, 123e6, time.FixedZone("CST", 8*3600))
	return Record{
		PreStockinNo: "RK0001", Category: outcome.Rejected, WDTStatus: &st,
		Message: "入库单状态不为待审核或编辑中", Code: "E1",
		Error: "rejected: WDT status 100: 入库单状态不为待审核或编辑中", Attempts: 2,
		Ambiguous: true, AmbiguousReason: "lost response", Source: "erp <nightly> & co",
		FirstEnqueuedAt: &first, DeadLetteredAt: time.Date(2026, 11, 27, 0, 5, 0, 0, time.UTC),
		Payload: `{"x":1}`,
	}
}

// TestRecordJSON pins the stored form of a record, which `dlq ls --json`
// and `dlq show --json` print too: records already in Redis must keep
// reading, and the CLI's output must not change.
func TestRecordJSON(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	d := NewDLQ(rdb, "wdt-cancel")
	if err := d.Put(ctx, sampleRecord()); err != nil {
		t.Fatal(err)
	}
	const want = `{"pre_stockin_no":"RK0001","queue":"wdt-cancel","category":"rejected","wdt_status":100,` +
		`"message":"入库单状态不为待审核或编辑中","code":"E1","error":"rejected: WDT status 100: 入库单状态不为待审核或编辑中",` +
		`"attempts":2,"ambiguous":true,"ambiguous_reason":"lost response","source":"erp \u003cnightly\u003e \u0026 co",` +
		`"first_enqueued_at":"2026-11-27T08:00:00.123+08:00","dead_lettered_at":"2026-11-27T00:05:00Z","payload":"{\"x\":1}"}`
	if got := rdb.HGet(ctx, DeadLetterKey("wdt-cancel"), "RK0001").Val(); got != want {
		t.Fatalf("stored\n%s\nwant\n%s", got, want)
	}
	raw, err := d.Raw(ctx, "RK0001")
	if err != nil || string(raw) != want {
		t.Fatalf("raw %s %v", raw, err)
	}
	rec, err := d.Get(ctx, "RK0001")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := json.Marshal(rec); string(again) != want {
		t.Fatalf("read back and encoded again\n%s\nwant\n%s", again, want)
	}
	// A minimal record keeps the fields without omitempty.
	if err := d.Put(ctx, Record{PreStockinNo: "RK0002", Category: outcome.Invalid}); err != nil {
		t.Fatal(err)
	}
	const minimal = `{"pre_stockin_no":"RK0002","queue":"wdt-cancel","category":"invalid","error":"","attempts":0,"ambiguous":false,"dead_lettered_at":"0001-01-01T00:00:00Z"}`
	if raw, _ := d.Raw(ctx, "RK0002"); string(raw) != minimal {
		t.Fatalf("minimal record\n%s\nwant\n%s", raw, minimal)
	}
}

func TestDLQReads(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	d := NewDLQ(rdb, "q")
	base := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	// Put out of order; C and A share a time, so the number breaks the tie.
	for _, r := range []Record{
		{PreStockinNo: "B", Category: outcome.Rejected, DeadLetteredAt: base},
		{PreStockinNo: "C", Category: outcome.Exhausted, DeadLetteredAt: base.Add(time.Minute)},
		{PreStockinNo: "A", Category: outcome.Invalid, DeadLetteredAt: base.Add(time.Minute)},
	} {
		if err := d.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rdb.HSet(ctx, DeadLetterKey("q"), "Z", "not json")

	if n, err := d.Count(ctx); err != nil || n != 4 {
		t.Fatalf("count %d %v", n, err)
	}
	if nos, err := d.Numbers(ctx); err != nil || !slices.Equal(nos, []string{"A", "B", "C", "Z"}) {
		t.Fatalf("numbers %v %v", nos, err)
	}
	recs, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range recs {
		order = append(order, r.PreStockinNo)
	}
	// The corrupt record has no time, so it sorts first, and says so.
	if !slices.Equal(order, []string{"Z", "B", "A", "C"}) || recs[0].Error == "" {
		t.Fatalf("list %v, corrupt record %+v", order, recs[0])
	}
	if _, err := d.Get(ctx, "Z"); err == nil || errors.Is(err, ErrNotDead) {
		t.Fatalf("get of a corrupt record: %v", err)
	}
	if raw, err := d.Raw(ctx, "Z"); err != nil || string(raw) != "not json" {
		t.Fatalf("raw of a corrupt record: %q %v", raw, err)
	}
	if _, err := d.Get(ctx, "NONE"); !errors.Is(err, ErrNotDead) {
		t.Fatalf("get of a number without record: %v", err)
	}
	if _, err := d.Raw(ctx, "NONE"); !errors.Is(err, ErrNotDead) {
		t.Fatalf("raw of a number without record: %v", err)
	}

	dead, err := d.Dead(ctx, []string{"C", "NONE", "A", "Z", "C"})
	if err != nil || !slices.Equal(dead, []bool{true, false, true, true, true}) {
		t.Fatalf("dead %v %v", dead, err)
	}
	if dead, err := d.Dead(ctx, nil); err != nil || len(dead) != 0 {
		t.Fatalf("dead of nothing %v %v", dead, err)
	}
	// Other queues are apart.
	if dead, _ := NewDLQ(rdb, "other").Dead(ctx, []string{"A"}); dead[0] {
		t.Fatal("a record of q is dead in another queue")
	}
}

// TestDLQRequeueAndPurge: requeue enqueues a fresh task with the record's
// source and first enqueue time, and removes the record; purge forgets the
// record and the outcome memory; neither touches a live task.
func TestDLQRequeueAndPurge(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	const q = "q"
	d := NewDLQ(rdb, q)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	first := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	if err := d.Put(ctx, Record{PreStockinNo: "RQ1", Category: outcome.Rejected, Source: "erp", FirstEnqueuedAt: &first}); err != nil {
		t.Fatal(err)
	}
	if err := d.Requeue(ctx, "RQ1"); err != nil {
		t.Fatal(err)
	}
	info, err := insp.GetTaskInfo(q, "RQ1")
	if err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("requeued task %+v %v", info, err)
	}
	p, err := tasks.DecodePayload(info.Payload)
	if err != nil || p.Source != "erp" || !p.RequestedAt.Equal(first) {
		t.Fatalf("requeued payload %+v %v", p, err)
	}
	if _, err := d.Get(ctx, "RQ1"); !errors.Is(err, ErrNotDead) {
		t.Fatalf("record after requeue: %v", err)
	}
	if err := d.Requeue(ctx, "RQ1"); !errors.Is(err, ErrNotDead) {
		t.Fatalf("second requeue: %v", err)
	}
	// A stale record next to the live task: requeue and purge refuse.
	d.Put(ctx, Record{PreStockinNo: "RQ1", Category: outcome.Rejected})
	if err := d.Requeue(ctx, "RQ1"); !errors.Is(err, ErrLive) {
		t.Fatalf("requeue with a live task: %v", err)
	}
	if err := d.Purge(ctx, "RQ1"); !errors.Is(err, ErrLive) {
		t.Fatalf("purge with a live task: %v", err)
	}

	m := NewOutcomeMemory(rdb, q)
	m.Begin(ctx, "PG1", first)
	m.Unknown(ctx, "PG1", first)
	d.Put(ctx, Record{PreStockinNo: "PG1", Category: outcome.Rejected, Ambiguous: true})
	if err := d.Purge(ctx, "PG1"); err != nil {
		t.Fatal(err)
	}
	if _, unknown, err := m.Recall(ctx, "PG1"); err != nil || unknown {
		t.Fatalf("purge kept the unknown outcome (%v)", err)
	}
	if err := d.Purge(ctx, "PG1"); !errors.Is(err, ErrNotDead) {
		t.Fatalf("second purge: %v", err)
	}
}

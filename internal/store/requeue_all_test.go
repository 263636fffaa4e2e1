package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/tasks/outcome"
)

// TestRequeueAll re-drives more records than one batch holds, among them
// the cases a batch must keep apart: a number asynq still holds archived
// (removed, then enqueued fresh), one with a live task (refused, record
// kept), a corrupt record (refused, kept) and one naming another seller
// (refused, kept). Every other number gets exactly one fresh task with its
// source and seller, and loses its record.
func TestRequeueAll(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	d, err := NewSellerDLQ(rdb, tasks.DefaultQueue, "acme")
	if err != nil {
		t.Fatal(err)
	}
	q := d.Queue()
	const n = 2*requeueBatch + 37
	first := time.Date(2026, 11, 28, 1, 2, 3, 0, time.UTC)
	for i := 0; i < n; i++ {
		if err := d.Put(ctx, Record{PreStockinNo: fmt.Sprintf("RA%05d", i), Category: outcome.Rejected, Seller: "acme", Source: "erp", FirstEnqueuedAt: &first}); err != nil {
			t.Fatal(err)
		}
	}
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	// RA00001 is still in asynq's archive; RA00002 has a live task.
	for _, no := range []string{"RA00001", "RA00002"} {
		task, _ := tasks.NewCancelTaskFor("acme", no, "erp", first, asynq.Queue(q))
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	if err := insp.ArchiveTask(q, "RA00001"); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, DeadLetterKey(q), "RA00003", "{not json")
	if err := d.Put(ctx, Record{PreStockinNo: "RA00004", Category: outcome.Rejected, Seller: "other"}); err != nil {
		t.Fatal(err)
	}

	got := map[string]error{}
	if err := d.RequeueAll(ctx, func(no string, err error) {
		if _, twice := got[no]; twice {
			t.Errorf("%s reported twice", no)
		}
		got[no] = err
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d numbers reported, want %d", len(got), n)
	}
	refused := map[string]error{"RA00002": ErrLive, "RA00003": ErrCorrupt, "RA00004": nil}
	for no, err := range got {
		want, isRefused := refused[no]
		switch {
		case isRefused && err == nil:
			t.Errorf("%s: requeued, want refused", no)
		case isRefused && want != nil && !errors.Is(err, want):
			t.Errorf("%s: err = %v, want %v", no, err, want)
		case !isRefused && err != nil:
			t.Errorf("%s: %v", no, err)
		}
	}
	left, err := d.Numbers(ctx)
	if err != nil || fmt.Sprint(left) != "[RA00002 RA00003 RA00004]" {
		t.Errorf("records left: %v, %v; want the three refused", left, err)
	}
	qi, err := insp.GetQueueInfo(q)
	if err != nil || qi.Pending != n-3+1 || qi.Archived != 0 {
		t.Fatalf("queue: %+v, %v; want %d pending (the fresh tasks and RA00002's live one), none archived", qi, err, n-3+1)
	}
	info, err := insp.GetTaskInfo(q, "RA00001")
	if err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("RA00001: %v, %v; want a fresh pending task", info, err)
	}
	p, err := tasks.DecodePayload(info.Payload)
	if err != nil || p.SellerName() != "acme" || p.Source != "erp" || !p.RequestedAt.Equal(first) {
		t.Errorf("RA00001's fresh payload: %+v, %v", p, err)
	}
}

// TestEvalEachReloadsLostScripts: a Redis that forgot its scripts (a
// restart, a failover) answers NOSCRIPT; the batch loads the script and
// runs again instead of failing every number.
func TestEvalEachReloadsLostScripts(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	d := NewDLQ(rdb, "evaleach")
	if err := d.Put(ctx, Record{PreStockinNo: "E1", Category: outcome.Rejected}); err != nil {
		t.Fatal(err)
	}
	raw := rdb.HGet(ctx, DeadLetterKey("evaleach"), "E1").Val()
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 1)
	cmds := d.evalEach(ctx, dropFinalScript, []string{"E1"}, errs, func(no string) ([]string, []any) {
		return d.dropArgs(no, raw, OutcomeRequeued)
	})
	if n, err := cmds[0].Int(); err != nil || n != 1 {
		t.Fatalf("after SCRIPT FLUSH: %d, %v; want the record deleted", n, err)
	}
}

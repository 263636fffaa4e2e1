package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/tasks/outcome"
)

// Scan passes every record once and stops when told, without reading the
// rest: `dlq ls --limit` and the first lines of `dlq ls` do not wait for
// the whole hash.
func TestScanEveryRecordOnceAndStop(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	d := NewDLQ(rdb, "q")
	const n = 2500 // more than one HSCAN page
	for i := range n {
		if err := d.Put(ctx, Record{PreStockinNo: fmt.Sprintf("SC%04d", i), Category: outcome.Rejected}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	if err := d.Scan(ctx, func(no, raw string) error {
		seen[no]++
		if DecodeRaw(no, raw).PreStockinNo != no {
			t.Errorf("%s decodes as %s", no, raw)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("%d numbers seen, want %d", len(seen), n)
	}
	for no, k := range seen {
		if k != 1 {
			t.Fatalf("%s passed %d times", no, k)
		}
	}
	calls := 0
	if err := d.Scan(ctx, func(string, string) error {
		if calls++; calls == 3 {
			return ErrStop
		}
		return nil
	}); err != nil || calls != 3 {
		t.Fatalf("stop after 3: %d calls, %v", calls, err)
	}
}

// requeue --all works on what the scan read. A record rewritten between the
// scan and the requeue (the re-driven task was rejected again, or a worker
// filed a newer one) must survive, as with Requeue (TestDeleteIfUnchanged).
func TestRequeueRawKeepsARecordRewrittenMeanwhile(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	d := NewDLQ(rdb, "q")
	d.Put(ctx, Record{PreStockinNo: "RW1", Category: outcome.Rejected, Error: "old"})
	d.Put(ctx, Record{PreStockinNo: "RW2", Category: outcome.Rejected, Error: "old"})
	raws := map[string]string{}
	d.Scan(ctx, func(no, raw string) error { raws[no] = raw; return nil })
	d.Put(ctx, Record{PreStockinNo: "RW1", Category: outcome.Rejected, Error: "new"})

	var mu sync.Mutex
	done := map[string]error{}
	err := d.ForEach(ctx, 4, func(ctx context.Context, no, _ string) error {
		return d.RequeueRaw(ctx, no, raws[no])
	}, func(no string, err error) { mu.Lock(); done[no] = err; mu.Unlock() })
	if err != nil || len(done) != 2 || done["RW1"] != nil || done["RW2"] != nil {
		t.Fatalf("ForEach: %v %v", done, err)
	}
	if rec, err := d.Get(ctx, "RW1"); err != nil || rec.Error != "new" {
		t.Fatalf("the newer record of RW1 did not survive: %+v %v", rec, err)
	}
	if _, err := d.Get(ctx, "RW2"); err == nil {
		t.Fatal("RW2's record, unchanged, was not removed")
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, no := range []string{"RW1", "RW2"} {
		if info, err := insp.GetTaskInfo("q", no); err != nil || info.State != asynq.TaskStatePending {
			t.Fatalf("%s not requeued: %+v %v", no, info, err)
		}
	}
}

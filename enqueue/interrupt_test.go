package enqueue

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Interrupted mid-run (Ctrl-C), every result is still true: the enqueues in
// flight are settled, not reported failed while they landed.
func TestStreamInterruptedReportsTruth(t *testing.T) {
	t.Parallel()
	c, r := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seq := func(yield func(Input) bool) {
		for i := range 5000 {
			if !yield(Input{No: fmt.Sprintf("IN%05d", i)}) {
				return
			}
		}
	}
	var results []Result
	err := c.Stream(ctx, seq, ManyOptions{}, func(res Result) {
		results = append(results, res)
		if len(results) == 300 {
			cancel()
		}
	})
	if err == nil || len(results) != 5000 {
		t.Fatalf("%d results, err %v", len(results), err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	n := map[Outcome]int{}
	for _, res := range results {
		n[res.Result]++
		exists := rdb.Exists(context.Background(), "asynq:{wdt-cancel}:t:"+res.PreStockinNo).Val() == 1
		if exists != (res.Result == Enqueued) {
			t.Errorf("%s reported %s (%s), queued=%v", res.PreStockinNo, res.Result, res.Error, exists)
		}
	}
	if n[Failed] == 0 {
		t.Fatalf("nothing left unsent: %v", n)
	}
}

// With StopReading, an interrupted stream stops reading its input, and
// every item it did read is reported.
func TestStreamStopReading(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	read := 0
	seq := func(yield func(Input) bool) {
		for i := range 100000 {
			read++
			if !yield(Input{No: fmt.Sprintf("SR%06d", i)}) {
				return
			}
		}
	}
	emitted := 0
	err := c.Stream(ctx, seq, ManyOptions{StopReading: true}, func(Result) {
		if emitted++; emitted == 100 {
			cancel()
		}
	})
	if err == nil || read == 100000 || emitted != read {
		t.Fatalf("read %d, emitted %d, err %v: want reading stopped early and every read item reported", read, emitted, err)
	}
}

package enqueue

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/hibiken/asynq"
)

// DefaultParallelism is how many enqueues CancelMany keeps in flight. asynq
// has no batch enqueue, so overlapping round trips on the pooled connection
// is what makes bulk fast.
const DefaultParallelism = 32

// Summary counts the results of a batch, in the JSON shape of
// `wdtcancel enqueue --json`. Items lists every number that was not freshly
// enqueued (all of them when the caller asked for everything).
type Summary struct {
	Enqueued  int      `json:"enqueued"`
	Duplicate int      `json:"duplicate"`
	Invalid   int      `json:"invalid"`
	Failed    int      `json:"failed"`
	Items     []Result `json:"items"`
}

// Add counts one result.
func (s *Summary) Add(r Result, keepEnqueued bool) {
	switch r.Result {
	case Enqueued:
		s.Enqueued++
		if !keepEnqueued {
			return
		}
	case Duplicate:
		s.Duplicate++
	case Invalid:
		s.Invalid++
	default:
		s.Failed++
	}
	s.Items = append(s.Items, r)
}

// Total is the number of items counted.
func (s *Summary) Total() int { return s.Enqueued + s.Duplicate + s.Invalid + s.Failed }

// ManyOptions tune CancelMany.
type ManyOptions struct {
	Parallelism int
	// Progress, when set, is called once per finished item (from several
	// goroutines, so it must be safe for concurrent use).
	Progress func(Result)
	// TaskOptions apply to every task.
	TaskOptions []asynq.Option
}

// CancelMany enqueues every number of seq, keeping up to Parallelism
// enqueues in flight, and returns one result per input item in input order.
// A number repeated in the input is enqueued once; later copies are
// Duplicate with state in_batch. When ctx ends, items not yet attempted are
// Failed with the context's error, so nothing is silently dropped; the
// returned error is then ctx.Err().
func (c *Client) CancelMany(ctx context.Context, seq iter.Seq[string], o ManyOptions) ([]Result, error) {
	par := o.Parallelism
	if par <= 0 {
		par = DefaultParallelism
	}
	type job struct {
		i  int
		no string
	}
	var (
		results []Result
		mu      sync.Mutex
		wg      sync.WaitGroup
		jobs    = make(chan job)
		seen    = make(map[string]int)
	)
	record := func(i int, r Result) {
		mu.Lock()
		results[i] = r
		mu.Unlock()
		if o.Progress != nil {
			o.Progress(r)
		}
	}
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				record(j.i, c.cancel(ctx, j.no, o.TaskOptions))
			}
		}()
	}
	i := 0
	for raw := range seq {
		mu.Lock()
		results = append(results, Result{})
		mu.Unlock()
		no := strings.TrimSpace(raw)
		if first, dup := seen[no]; dup && no != "" {
			record(i, Result{PreStockinNo: no, Result: Duplicate, State: StateInBatch, Error: fmt.Sprintf("repeats item %d of this batch", first+1)})
			i++
			continue
		}
		seen[no] = i
		if ctx.Err() != nil {
			record(i, Result{PreStockinNo: no, Result: Failed, Error: "not attempted: " + ctx.Err().Error(), Err: ctx.Err()})
			i++
			continue
		}
		select {
		case jobs <- job{i, raw}:
		case <-ctx.Done():
			record(i, Result{PreStockinNo: no, Result: Failed, Error: "not attempted: " + ctx.Err().Error(), Err: ctx.Err()})
		}
		i++
	}
	close(jobs)
	wg.Wait()
	return results, ctx.Err()
}

// CancelSlice is CancelMany over a slice.
func (c *Client) CancelSlice(ctx context.Context, nos []string, o ManyOptions) ([]Result, error) {
	return c.CancelMany(ctx, slices.Values(nos), o)
}

// Summarize counts results; keepEnqueued lists enqueued items too.
func Summarize(results []Result, keepEnqueued bool) Summary {
	s := Summary{Items: []Result{}}
	for _, r := range results {
		s.Add(r, keepEnqueued)
	}
	return s
}

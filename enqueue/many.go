package enqueue

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/tasks"
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
	var (
		results   []Result
		mu        sync.Mutex
		wg        sync.WaitGroup
		jobs      = make(chan job, deadCheckChunk)
		seen      = make(map[string]int)
		chunk     []job
		chunkSize = 16
	)
	record := func(i int, r Result) {
		mu.Lock()
		results[i] = r
		mu.Unlock()
		if o.Progress != nil {
			o.Progress(r)
		}
	}
	notAttempted := func(j job) {
		record(j.i, Result{PreStockinNo: strings.TrimSpace(j.no), Result: Failed, Error: "not attempted: " + ctx.Err().Error(), Err: ctx.Err()})
	}
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if j.dead {
					record(j.i, Result{PreStockinNo: j.no, Result: Duplicate, State: StateDead})
					continue
				}
				record(j.i, c.enqueueChecked(ctx, j.no, o.TaskOptions))
			}
		}()
	}
	// flush checks a chunk against the dead-letter queue in one round trip
	// (instead of one per number) and hands it to the workers.
	flush := func() {
		if len(chunk) == 0 {
			return
		}
		if ctx.Err() == nil {
			if err := c.markDead(ctx, chunk); err != nil {
				for _, j := range chunk {
					record(j.i, Result{PreStockinNo: strings.TrimSpace(j.no), Result: Failed, Error: err.Error(), Err: err})
				}
				chunk = chunk[:0]
				return
			}
		}
		for _, j := range chunk {
			if ctx.Err() != nil {
				notAttempted(j)
				continue
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				notAttempted(j)
			}
		}
		chunk = chunk[:0]
	}
	i := 0
	for raw := range seq {
		mu.Lock()
		results = append(results, Result{})
		mu.Unlock()
		// Validate first: every copy of a bad number is reported invalid,
		// only valid repeats are duplicates.
		valid, err := tasks.NormalizeNo(raw)
		if err != nil {
			record(i, Result{PreStockinNo: raw, Result: Invalid, Error: err.Error(), Err: err})
			i++
			continue
		}
		if first, dup := seen[valid]; dup {
			record(i, Result{PreStockinNo: valid, Result: Duplicate, State: StateInBatch, Error: fmt.Sprintf("repeats item %d of this batch", first+1)})
			i++
			continue
		}
		seen[valid] = i
		chunk = append(chunk, job{i: i, no: valid})
		if len(chunk) >= chunkSize {
			flush()
			// Start small so work begins at once, then grow.
			chunkSize = min(chunkSize*2, deadCheckChunk)
		}
		i++
	}
	flush()
	close(jobs)
	wg.Wait()
	return results, ctx.Err()
}

// job is one number of a batch, by its position in the input.
type job struct {
	i    int
	no   string
	dead bool // has a dead-letter record
}

// deadCheckChunk is how many numbers one HMGET checks against the DLQ.
const deadCheckChunk = 256

// markDead sets dead on every job whose number has a dead-letter record.
func (c *Client) markDead(ctx context.Context, chunk []job) error {
	nos := make([]string, len(chunk))
	for k, j := range chunk {
		nos[k] = j.no
	}
	dead, err := c.dlq.Dead(ctx, nos)
	if err != nil {
		return unavailable(err)
	}
	for k := range chunk {
		chunk[k].dead = dead[k]
	}
	return nil
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

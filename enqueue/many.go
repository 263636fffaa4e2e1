package enqueue

import (
	"context"
	"iter"
	"slices"
	"time"

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
	Enqueued  int `json:"enqueued"`
	Duplicate int `json:"duplicate"`
	Invalid   int `json:"invalid"`
	Failed    int `json:"failed"`
	Unknown   int `json:"unknown,omitempty"` // only when some item is Unknown

	Items []Result `json:"items"`
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
	case Unknown:
		s.Unknown++
	default:
		s.Failed++
	}
	s.Items = append(s.Items, r)
}

// Total is the number of items counted.
func (s *Summary) Total() int { return s.Enqueued + s.Duplicate + s.Invalid + s.Failed + s.Unknown }

// ManyOptions tune CancelMany.
type ManyOptions struct {
	Parallelism int
	// Progress, when set, is called once per finished item (from several
	// goroutines, so it must be safe for concurrent use).
	Progress func(Result)
	// TaskOptions apply to every task.
	TaskOptions []asynq.Option
	// Window bounds the items Stream holds (DefaultWindow).
	Window int
	// CallTimeout bounds each Redis call (DefaultCallTimeout);
	// RecheckTimeout bounds the re-check of a lost answer
	// (DefaultRecheckTimeout).
	CallTimeout, RecheckTimeout time.Duration
	// StopReading makes Stream stop reading seq once ctx ends or Redis
	// stalls, instead of reporting every remaining item Failed: for an
	// input too large to list, whose caller says where it stopped.
	StopReading bool
}

// CancelMany enqueues every number of seq, keeping up to Parallelism
// enqueues in flight, and returns one result per input item in input order.
// A number repeated in the input is enqueued once; later copies are
// Duplicate with state in_batch. When ctx ends (or Redis stops answering,
// ErrRedisStalled), items not yet sent are Failed, so nothing is silently
// dropped, and the returned error says why. It is Stream collecting the
// results; Stream is for inputs too large to hold.
func (c *Client) CancelMany(ctx context.Context, seq iter.Seq[string], o ManyOptions) ([]Result, error) {
	var results []Result
	err := c.Stream(ctx, Strings(seq), o, func(r Result) { results = append(results, r) })
	return results, err
}

// job is one number of a batch, by its position in the input.
type job struct {
	i        int
	no       string
	dead     bool // has a dead-letter record
	repeatOf int  // index of an earlier copy of the number, or -1
	src      string
	line     int
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

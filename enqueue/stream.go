package enqueue

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"sync"
	"time"

	"github.com/wdtcancel/wdtcancel/tasks"
)

// Input is one number of a stream, with where it was read for messages
// about it: Src is a file name or "stdin" and Line its 1-based line; both
// are empty for a number given as an argument.
type Input struct {
	No   string
	Src  string
	Line int
}

// Where names the input's place, "" when it has none.
func (in Input) Where() string {
	if in.Line == 0 {
		return ""
	}
	return fmt.Sprintf("%s line %d", in.Src, in.Line)
}

// DefaultWindow is how many items Stream holds between reading one and
// emitting its result: memory stays bounded whatever the input's size.
const DefaultWindow = 8192

// Timeouts of the producer's Redis calls (see ManyOptions).
const (
	DefaultCallTimeout    = 10 * time.Second
	DefaultRecheckTimeout = 5 * time.Second
)

// ErrRedisStalled ends a stream when Redis stops answering: the items not
// yet sent are reported Failed (never sent), those in flight are re-checked.
var ErrRedisStalled = errors.New("redis stopped answering")

// Stream enqueues every input of seq and calls emit once per item, in input
// order, never from two goroutines at once. It holds at most Window items
// and the hashes of the last RepeatWindow numbers, so its memory does not
// grow with the input. A repeat of one of those numbers is Duplicate with
// state in_batch; a repeat further back is Duplicate with the state of the
// task its first copy made (Redis refuses the task ID).
//
// A seller no worker has announced (CheckSeller) ends it before it reads
// seq, with an error matching ErrUnknownSeller (or ErrUnavailable).
//
// Every result is true when emitted: an enqueue whose answer was lost (a
// timeout, a reset, an interrupt) is re-sent with the same task (the task
// ID makes that safe) and its own payload recognised, so it is Enqueued,
// Duplicate, or Unknown when Redis still does not answer. After such an
// Unknown, or when the dead-letter check fails, the stream stops and the
// items not sent are Failed with ErrRedisStalled. The returned error is
// the context's cause or ErrRedisStalled, nil when every item was tried.
func (c *Client) Stream(ctx context.Context, seq iter.Seq[Input], o ManyOptions, emit func(Result)) error {
	if err := c.CheckSeller(ctx); err != nil {
		return err // nothing read from seq, nothing emitted
	}
	par, window := o.sizes()
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var (
		mu      sync.Mutex
		done    = sync.NewCond(&mu)
		ready   = make(map[int]Result)
		next    int // the next index to emit
		slots   = make(chan struct{}, window)
		jobs    = make(chan job, deadCheckChunk)
		wg      sync.WaitGroup
		seen    = newRecent(RepeatWindow)
		chunk   []job
		chunkSz = 16
	)
	record := func(i int, r Result) {
		if o.Progress != nil {
			o.Progress(r)
		}
		mu.Lock()
		ready[i] = r
		for {
			r, ok := ready[next]
			if !ok {
				break
			}
			delete(ready, next)
			next++
			emit(r)
			<-slots
		}
		done.Broadcast()
		mu.Unlock()
	}
	notSent := func(j job) {
		err := context.Cause(sctx)
		record(j.i, Result{PreStockinNo: j.no, Result: Failed, Error: "not sent: " + err.Error() + j.where(), Err: err})
	}
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if sctx.Err() != nil {
					notSent(j)
					continue
				}
				var r Result
				if j.dead {
					r = Result{PreStockinNo: j.no, Result: Duplicate, State: StateDead}
				} else {
					r = c.enqueueBounded(sctx, j.no, o)
				}
				if j.repeatOf >= 0 && r.Result == Duplicate {
					r.State, r.Error = StateInBatch, fmt.Sprintf("repeats item %d of this batch", j.repeatOf+1)
				}
				if r.Result == Unknown {
					stop(fmt.Errorf("%w: %s", ErrRedisStalled, r.Error))
				}
				record(j.i, r)
			}
		}()
	}
	flush := func() {
		if len(chunk) == 0 {
			return
		}
		if sctx.Err() == nil {
			cctx, cancel := context.WithTimeout(sctx, o.callTimeout())
			err := c.markDead(cctx, chunk)
			cancel()
			if err != nil && sctx.Err() == nil {
				stop(fmt.Errorf("%w: dead-letter check: %v", ErrRedisStalled, err))
			}
		}
		for _, j := range chunk {
			if sctx.Err() != nil {
				notSent(j)
				continue
			}
			select {
			case jobs <- j:
			case <-sctx.Done():
				notSent(j)
			}
		}
		chunk = chunk[:0]
	}
	i := 0
	for in := range seq {
		slots <- struct{}{}
		// Validate first: every copy of a bad number is reported invalid,
		// only valid repeats are duplicates.
		no, err := tasks.NormalizeNo(in.No)
		if err != nil {
			msg := err.Error()
			if w := in.Where(); w != "" {
				msg = w + ": " + msg
			}
			record(i, Result{PreStockinNo: in.No, Result: Invalid, Error: msg, Err: err})
			i++
			continue
		}
		j := job{i: i, no: no, repeatOf: -1, src: in.Src, line: in.Line}
		if first, ok := seen.add(no, i); ok {
			// Probably a repeat (a hash can collide, so it is still sent:
			// Redis says whether the number exists). Its first copy must
			// be settled first, or the two could swap results.
			j.repeatOf = int(first)
			flush()
			mu.Lock()
			for next <= j.repeatOf {
				done.Wait()
			}
			mu.Unlock()
		}
		chunk = append(chunk, j)
		if len(chunk) >= chunkSz {
			flush()
			// Start small so work begins at once, then grow.
			chunkSz = min(chunkSz*2, deadCheckChunk)
		}
		i++
		if o.StopReading && sctx.Err() != nil {
			break // this item, the last read, is reported by flush
		}
	}
	flush()
	close(jobs)
	wg.Wait()
	if err := context.Cause(sctx); err != nil && (ctx.Err() != nil || errors.Is(err, ErrRedisStalled)) {
		return err
	}
	return nil
}

// sizes are the parallelism and window, defaults filled in.
func (o ManyOptions) sizes() (par, window int) {
	par, window = o.Parallelism, o.Window
	if par <= 0 {
		par = DefaultParallelism
	}
	if window < 2*deadCheckChunk {
		window = DefaultWindow
	}
	return par, window
}

func (o ManyOptions) callTimeout() time.Duration {
	if o.CallTimeout > 0 {
		return o.CallTimeout
	}
	return DefaultCallTimeout
}

func (o ManyOptions) recheckTimeout() time.Duration {
	if o.RecheckTimeout > 0 {
		return o.RecheckTimeout
	}
	return DefaultRecheckTimeout
}

// enqueueBounded is enqueueChecked with the call bounded by CallTimeout and
// a lost answer re-checked within RecheckTimeout, even after ctx ended.
func (c *Client) enqueueBounded(ctx context.Context, no string, o ManyOptions) Result {
	cctx, cancel := context.WithTimeout(ctx, o.callTimeout())
	defer cancel()
	return c.enqueueTask(cctx, no, o.TaskOptions, o.recheckTimeout())
}

func (j job) where() string {
	if j.line == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s line %d)", j.src, j.line)
}

// Strings turns plain numbers into inputs.
func Strings(seq iter.Seq[string]) iter.Seq[Input] {
	return func(yield func(Input) bool) {
		for s := range seq {
			if !yield(Input{No: s}) {
				return
			}
		}
	}
}

// RepeatWindow is how many of the latest distinct numbers Stream remembers
// to report a repeat as in_batch (about 1.5 MB).
const RepeatWindow = 1 << 16

// recent remembers the hashes of the last n numbers added, and their input
// index. A hash can collide, so a hit only says "probably a repeat".
type recent struct {
	seed  maphash.Seed
	index map[uint64]int
	ring  []uint64
	next  int
}

func newRecent(n int) *recent {
	return &recent{seed: maphash.MakeSeed(), index: make(map[uint64]int, n), ring: make([]uint64, 0, n)}
}

// add records no at input index i, or returns the index of an earlier copy
// it remembers (and then keeps that one).
func (r *recent) add(no string, i int) (int, bool) {
	h := maphash.String(r.seed, no)
	if first, ok := r.index[h]; ok {
		return first, true
	}
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, h)
	} else {
		delete(r.index, r.ring[r.next])
		r.ring[r.next] = h
		r.next = (r.next + 1) % len(r.ring)
	}
	r.index[h] = i
	return 0, false
}

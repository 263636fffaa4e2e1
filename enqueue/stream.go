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
	s := &streamRun{
		c: c, o: o, emit: emit, ctx: sctx, stop: stop,
		ready:   make(map[int]Result),
		slots:   make(chan struct{}, window),
		jobs:    make(chan job, deadCheckChunk),
		seen:    newRecent(RepeatWindow),
		chunkSz: 16,
	}
	s.done = sync.NewCond(&s.mu)
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.work()
		}()
	}
	s.read(seq)
	s.flush()
	close(s.jobs)
	wg.Wait()
	if err := context.Cause(sctx); err != nil && (ctx.Err() != nil || errors.Is(err, ErrRedisStalled)) {
		return err
	}
	return nil
}

// streamRun is one Stream call: the reader turns inputs into jobs and
// hands them to the workers in chunks (one dead-letter check per chunk),
// the workers send them, and record emits the results in input order.
// Its methods are those steps, so each can be read whole.
type streamRun struct {
	c    *Client
	o    ManyOptions
	emit func(Result)
	ctx  context.Context         // ends the stream: the caller's, or a stall
	stop context.CancelCauseFunc // ends ctx with ErrRedisStalled

	mu    sync.Mutex
	done  *sync.Cond     // broadcast whenever next moves
	ready map[int]Result // results waiting for an earlier item's
	next  int            // the next index to emit
	slots chan struct{}  // one per item read and not yet emitted: the window
	jobs  chan job       // to the workers
	seen  *recent        // the latest distinct numbers, for repeats
	chunk []job          // read, not yet checked against the dead letters
	// chunkSz starts small, so work begins at once, and doubles up to
	// deadCheckChunk.
	chunkSz int
}

// read takes every input of seq, each after a slot in the window is free.
// With StopReading it stops at the first item queued after the stream
// ended (flush reports it), so a stalled Redis ends the reading too.
func (s *streamRun) read(seq iter.Seq[Input]) {
	i := 0
	for in := range seq {
		s.slots <- struct{}{}
		queued := s.take(i, in)
		i++
		if queued && s.o.StopReading && s.ctx.Err() != nil {
			break
		}
	}
}

// take turns input i into a job, or records it Invalid (it reports
// whether it queued a job). A number validates first, so every copy of a
// bad number is reported invalid and only valid repeats are duplicates.
func (s *streamRun) take(i int, in Input) bool {
	no, err := tasks.NormalizeNo(in.No)
	if err != nil {
		msg := err.Error()
		if w := in.Where(); w != "" {
			msg = w + ": " + msg
		}
		s.record(i, Result{PreStockinNo: in.No, Result: Invalid, Error: msg, Err: err})
		return false
	}
	j := job{i: i, no: no, repeatOf: -1, src: in.Src, line: in.Line}
	if first, ok := s.seen.add(no, i); ok {
		// Probably a repeat (a hash can collide, so it is still sent:
		// Redis says whether the number exists). Its first copy must be
		// settled first, or the two could swap results.
		j.repeatOf = first
		s.flush()
		s.waitEmitted(first)
	}
	s.chunk = append(s.chunk, j)
	if len(s.chunk) >= s.chunkSz {
		s.flush()
		s.chunkSz = min(s.chunkSz*2, deadCheckChunk)
	}
	return true
}

// waitEmitted blocks until item i's result was emitted.
func (s *streamRun) waitEmitted(i int) {
	s.mu.Lock()
	for s.next <= i {
		s.done.Wait()
	}
	s.mu.Unlock()
}

// flush checks the chunk against the dead letters and hands it to the
// workers; once the stream has ended, what it holds is reported not sent.
func (s *streamRun) flush() {
	if len(s.chunk) == 0 {
		return
	}
	s.checkDead()
	for _, j := range s.chunk {
		if s.ctx.Err() != nil {
			s.notSent(j)
			continue
		}
		select {
		case s.jobs <- j:
		case <-s.ctx.Done():
			s.notSent(j)
		}
	}
	s.chunk = s.chunk[:0]
}

// checkDead marks the chunk's numbers that have a dead-letter record. A
// check that fails ends the stream: a producer must not enqueue a number
// it cannot tell is dead.
func (s *streamRun) checkDead() {
	if s.ctx.Err() != nil {
		return
	}
	cctx, cancel := context.WithTimeout(s.ctx, s.o.callTimeout())
	err := s.c.markDead(cctx, s.chunk)
	cancel()
	if err != nil && s.ctx.Err() == nil {
		s.stop(fmt.Errorf("%w: dead-letter check: %v", ErrRedisStalled, err))
	}
}

// work sends the jobs it is handed until the reader closes jobs.
func (s *streamRun) work() {
	for j := range s.jobs {
		if s.ctx.Err() != nil {
			s.notSent(j)
			continue
		}
		s.record(j.i, s.send(j))
	}
}

// send is one job's result: a dead number is a duplicate without a call,
// a repeat's duplicate is in_batch, and an Unknown ends the stream (Redis
// stopped answering: what follows would be unknown too).
func (s *streamRun) send(j job) Result {
	var r Result
	if j.dead {
		r = Result{PreStockinNo: j.no, Result: Duplicate, State: StateDead}
	} else {
		r = s.c.enqueueBounded(s.ctx, j.no, s.o)
	}
	if j.repeatOf >= 0 && r.Result == Duplicate {
		r.State, r.Error = StateInBatch, fmt.Sprintf("repeats item %d of this batch", j.repeatOf+1)
	}
	if r.Result == Unknown {
		s.stop(fmt.Errorf("%w: %s", ErrRedisStalled, r.Error))
	}
	return r
}

// notSent records j as Failed with the reason the stream ended.
func (s *streamRun) notSent(j job) {
	err := context.Cause(s.ctx)
	s.record(j.i, Result{PreStockinNo: j.no, Result: Failed, Error: "not sent: " + err.Error() + j.where(), Err: err})
}

// record keeps item i's result and emits every result now in order,
// freeing a window slot for each.
func (s *streamRun) record(i int, r Result) {
	if s.o.Progress != nil {
		s.o.Progress(r)
	}
	s.mu.Lock()
	s.ready[i] = r
	for {
		r, ok := s.ready[s.next]
		if !ok {
			break
		}
		delete(s.ready, s.next)
		s.next++
		s.emit(r)
		<-s.slots
	}
	s.done.Broadcast()
	s.mu.Unlock()
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

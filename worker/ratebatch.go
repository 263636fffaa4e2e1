package worker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Batch reservation (issue 24): at quota every task of a process waits
// in-process for a slot it reserved in the shared schedule, and reserving
// it one script per task was 5 Redis commands per WDT call, the limiter's
// whole cost. A rate-only limiter (no in-flight limit, whose leases are
// per task) therefore reserves for the tasks of its process in batches:
// a task that asks for a slot joins the process's pending requests, and one
// script reserves a slot for each of them.
//
// The batch forms while the schedule has slots reserved far enough ahead
// that nothing is lost by asking later: a request waits unreserved until
// the earliest time the next free slot could be due, less reserveLead, or
// until the earliest pending request's budget runs out, whichever comes
// first. The process knows the schedule only from its own last reply, and
// other processes only push the schedule later, so that time is a lower
// bound: a process with waiting tasks always reserves before the shared
// schedule runs dry, and the rate is used in full.
//
// The guarantee is unchanged: every slot is still one interval after the
// previous one in Redis's own schedule, in one atomic script; a batch gets
// at most one slot per waiting request (never more than the process has
// tasks waiting) and only slots within each request's budget; a request
// that leaves (its task cancelled, the worker stopping) after its batch
// was sent wastes its slot, which is never handed to anyone else, so it can
// only make the rate lower, never a burst.
type rateBatcher struct {
	l *Limiter

	mu      sync.Mutex
	pending []*reserveReq
	running bool        // a batch script is in flight
	timer   *time.Timer // armed flush, nil when none
	timerAt time.Time
	// nextFree is, on the local clock, the earliest time the next free
	// slot of the shared schedule can be due: from this process's last
	// reply. Zero: unknown, reserve at once. nextFreeNs is the same in
	// UnixNano (0: unknown), for the hook's lock-free reads (pacing.go).
	nextFree   time.Time
	nextFreeNs atomic.Int64
}

// maxReserveBatch caps the requests one script serves (its ARGV size).
const maxReserveBatch = 64

// minReserveLead is the least time before the next free slot a batch is
// sent: far more than a script's round trip and a timer's lateness on a
// busy machine, so the schedule never runs dry while tasks wait. The lead
// is at least two intervals, so at low rates a request reserves at once,
// as it did before batching.
const minReserveLead = 50 * time.Millisecond

type reserveReq struct {
	deadline time.Time // local; the request's budget ends here
	out      chan reserveRes
}

type reserveRes struct {
	granted bool
	wait    time.Duration // from asked
	reason  Reason
	// cooldown is the time left of a cooldown the script saw, from asked
	// (0: none seen); wait may be longer (the slot after it).
	cooldown time.Duration
	asked    time.Time // local time the script was sent
	err      error
}

// reserveScript: KEYS tat, cooldown. ARGV interval_us, then one budget_us
// per request. Returns {cooldown_us, granted_1, wait_us_1, granted_2,
// wait_us_2, ...}: each request in turn gets the next slot if it is within
// its budget; a refused request does not move the schedule.
//
// The cooldown is read only when a request is refused (issue 24: a PTTL
// per reservation was a command per call for an answer almost always no).
// A granted slot needs no read: StartCooldown's script moves the schedule
// to the cooldown's end (cooldownScript), so no slot is ever granted
// inside a cooldown. A refused request during a cooldown says so (its
// wait is at least the cooldown's time left). cooldown_us is the
// cooldown's time left when it was read, 0 when read and none runs, -1
// when not read.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local start = tat
local out = {-1}
for i = 2, #ARGV do
  local wait = tat - now
  if wait <= tonumber(ARGV[i]) then
    out[#out + 1] = 1
    tat = tat + interval
  else
    if out[1] < 0 then
      out[1] = math.max(redis.call('PTTL', KEYS[2]), 0) * 1000
    end
    out[#out + 1] = 0
    if out[1] > wait then wait = out[1] end
  end
  out[#out + 1] = wait
end
if tat > start then
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 60000)
end
return out
`)

// reserve asks the batcher for a slot for a request whose budget ends at
// deadline. It returns when the request's batch answered, or with the
// context's error, or errStopping on Stop.
func (b *rateBatcher) reserve(ctx context.Context, deadline time.Time) (reserveRes, error) {
	req := &reserveReq{deadline: deadline, out: make(chan reserveRes, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, req)
	b.scheduleLocked()
	b.mu.Unlock()
	select {
	case r := <-req.out:
		return r, r.err
	case <-ctx.Done():
		b.withdraw(req)
		return reserveRes{}, ctx.Err()
	case <-b.l.quit:
		b.withdraw(req)
		return reserveRes{}, errStopping
	}
}

// withdraw takes a request that is no longer waiting out of the pending
// list. One already in a batch in flight keeps its slot, unused.
func (b *rateBatcher) withdraw(req *reserveReq) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, p := range b.pending {
		if p == req {
			b.pending = append(b.pending[:i], b.pending[i+1:]...)
			return
		}
	}
}

// scheduleLocked sends a batch now or arms the timer for when one is due.
func (b *rateBatcher) scheduleLocked() {
	if b.running || len(b.pending) == 0 {
		return
	}
	at := b.flushAtLocked()
	if len(b.pending) >= maxReserveBatch || !time.Now().Before(at) {
		b.running = true
		go b.flush()
		return
	}
	if b.timer != nil && !b.timerAt.After(at) {
		return
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	b.timerAt = at
	b.timer = time.AfterFunc(time.Until(at), b.fire)
}

// flushAtLocked is when the pending requests must be sent: reserveLead
// before the next free slot, and no later than the first budget's end.
func (b *rateBatcher) flushAtLocked() time.Time {
	at := b.nextFree.Add(-max(minReserveLead, 2*b.l.interval))
	for _, p := range b.pending {
		if p.deadline.Before(at) {
			at = p.deadline
		}
	}
	return at
}

func (b *rateBatcher) fire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.timer = nil
	b.scheduleLocked()
}

// flush sends batches until no request is due, then schedules the rest.
func (b *rateBatcher) flush() {
	b.mu.Lock()
	n := min(len(b.pending), maxReserveBatch)
	if n == 0 {
		// Every request left before its batch went: keep what is known
		// of the schedule.
		b.running = false
		b.mu.Unlock()
		return
	}
	batch := append([]*reserveReq(nil), b.pending[:n]...)
	b.pending = append(b.pending[:0], b.pending[n:]...)
	b.mu.Unlock()

	nextFree := b.send(batch)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.running = false
	b.setNextFreeLocked(nextFree)
	b.scheduleLocked()
}

// reserveTimeout bounds a batch's script: the requests' own contexts do
// not, since the batch serves several.
const reserveTimeout = 10 * time.Second

// send runs one batch's script and answers each request. It returns the
// new lower bound of the next free slot (zero when unknown), which it
// records before answering: a task answered is no longer counted in hand
// (pacing.go), and the bound must already stand for its slot by then.
func (b *rateBatcher) send(batch []*reserveReq) time.Time {
	asked := time.Now()
	argv := make([]any, 0, len(batch)+1)
	argv = append(argv, b.l.interval.Microseconds())
	for _, r := range batch {
		argv = append(argv, max(r.deadline.Sub(asked).Microseconds(), 0))
	}
	ctx, cancel := context.WithTimeout(context.Background(), reserveTimeout)
	defer cancel()
	res, err := reserveScript.Run(ctx, b.l.rdb, []string{b.l.keys[0], b.l.keys[2]}, argv...).Int64Slice()
	if err == nil && len(res) != 1+2*len(batch) {
		err = fmt.Errorf("reserve script answered %d values for %d requests: is the script in Redis the one of this version?", len(res), len(batch))
	}
	answers, next := b.answers(batch, res, err, asked)
	b.mu.Lock()
	b.setNextFreeLocked(next)
	b.mu.Unlock()
	for i, r := range batch {
		r.out <- answers[i]
	}
	return next
}

// answers turns a batch's script reply into each request's answer and the
// next free slot's lower bound (zero when unknown).
func (b *rateBatcher) answers(batch []*reserveReq, res []int64, err error, asked time.Time) ([]reserveRes, time.Time) {
	out := make([]reserveRes, len(batch))
	if err != nil {
		for i := range out {
			out[i] = reserveRes{err: fmt.Errorf("rate limiter: %w", err)}
		}
		return out, time.Time{}
	}
	cd := time.Duration(res[0]) * time.Microsecond
	var next time.Duration
	first := time.Duration(-1)
	for i := range batch {
		wait := time.Duration(res[2+2*i]) * time.Microsecond
		if res[1+2*i] == 1 {
			out[i] = reserveRes{granted: true, wait: wait, reason: "ok", asked: asked}
			next = wait + b.l.interval
			if first < 0 {
				first = wait
			}
			continue
		}
		out[i] = reserveRes{wait: wait, reason: ReasonRate, asked: asked}
		if cd > 0 {
			out[i].reason, out[i].cooldown = ReasonCooldown, cd
		}
		next = max(next, wait)
	}
	b.l.noteCooldown(asked, cd, first)
	return out, asked.Add(next)
}

// setNextFreeLocked records the next free slot's lower bound (zero:
// unknown). b.mu is held.
func (b *rateBatcher) setNextFreeLocked(t time.Time) {
	b.nextFree = t
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	b.nextFreeNs.Store(ns)
}

// nextFreeAt is the next free slot's lower bound as the last reply left
// it (zero: unknown).
func (b *rateBatcher) nextFreeAt() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nextFree
}

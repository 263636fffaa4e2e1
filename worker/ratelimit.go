package worker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
)

// Limiter enforces --rate-per-minute and --max-inflight across every worker
// process sharing the Redis, and the cooldown a rate-limited answer starts.
//
// The rate is a GCRA ("virtual scheduling"): each call reserves the next
// slot one interval after the previous one, so calls are spread evenly over
// the minute instead of bursting at its boundary. In-flight calls hold
// leases in a sorted set scored by expiry, so a killed worker's slot comes
// back when its lease runs out. All decisions are single Lua scripts using
// Redis's clock, so they are atomic and immune to skew between workers.
type Limiter struct {
	rdb         redis.UniversalClient
	keys        []string
	interval    time.Duration // 0: no rate limit
	maxInflight int           // 0: no in-flight limit
	lease       time.Duration
	maxWait     time.Duration
	poll        time.Duration

	// With neither a rate nor an in-flight limit, only the shared cooldown
	// applies; reading it from Redis on every call would add a round trip
	// per task, so its state is cached for cooldownCacheFor.
	cooldownUntil atomic.Int64 // unix ns; known end of the cooldown
	// cooldownClear is the local time window in which no cooldown is
	// known to run: from a read of it, or from a reservation's reply
	// (noteCooldown).
	cooldownClear atomic.Pointer[clearWindow]

	// batch reserves slots for several waiting tasks in one script; nil
	// with an in-flight limit or no rate.
	batch *rateBatcher

	// inHand counts the tasks the activity hook fetched for this queue
	// whose reservation is not answered yet, lastClaim when it last moved,
	// and onClaimReleased wakes the hook's hold when it falls (pacing.go).
	inHand          atomic.Int64
	lastClaim       atomic.Int64
	onClaimReleased func()

	// quit ends every wait for a slot (Stop).
	quit     chan struct{}
	quitOnce sync.Once
}

// cooldownCacheFor bounds how late a worker notices a cooldown another
// worker started: when it has no rate or in-flight limit of its own, and
// when a task wakes to a slot it reserved earlier (calls leaving within
// it of the rate-limit answer were on their way anyway).
const cooldownCacheFor = 50 * time.Millisecond

// LimiterOptions configure a Limiter.
type LimiterOptions struct {
	RatePerMinute int
	MaxInflight   int
	// Lease bounds how long a crashed worker can hold an in-flight slot.
	// It must exceed the longest call.
	Lease time.Duration
	// MaxWait is how long Acquire may hold an asynq worker waiting for a
	// slot (never past the task's deadline less callReserve) before the
	// task is rescheduled. Default DefaultSlotWait.
	MaxWait time.Duration
}

// NewLimiter builds the limiter of one queue.
func NewLimiter(rdb redis.UniversalClient, queue string, o LimiterOptions) *Limiter {
	l := &Limiter{
		rdb:         rdb,
		keys:        []string{store.RateTATKey(queue), store.InflightKey(queue), store.CooldownKey(queue)},
		maxInflight: o.MaxInflight,
		lease:       cmp.Or(o.Lease, time.Minute),
		maxWait:     cmp.Or(o.MaxWait, DefaultSlotWait),
		poll:        25 * time.Millisecond,
		quit:        make(chan struct{}),
	}
	if o.RatePerMinute > 0 {
		l.interval = (time.Minute + rateMargin) / time.Duration(o.RatePerMinute)
	}
	if l.interval > 0 && l.maxInflight == 0 {
		l.batch = &rateBatcher{l: l}
	}
	return l
}

// rateMargin stretches the minute the rate is spread over. WDT counts calls
// in its own sliding minute as they arrive; without a margin, a call that
// arrives a few milliseconds late followed by one that arrives early would
// put rate+1 calls in one of WDT's windows and draw a rate-limit answer. Half
// a second of margin absorbs that jitter at a cost of under 1% of the rate.
const rateMargin = 500 * time.Millisecond

// Reason says why a slot was not granted.
type Reason string

// Reasons a caller has to wait.
const (
	ReasonCooldown Reason = "cooldown"
	ReasonInflight Reason = "inflight"
	ReasonRate     Reason = "rate"
	// ReasonLate: slot after slot passed before the call could leave.
	ReasonLate Reason = "late"
	// ReasonShare: the task's seller already runs its fair share of this
	// process's concurrency (Config.SellerShare).
	ReasonShare Reason = "share"
)

// acquireScript: KEYS tat, inflight, cooldown. ARGV interval_us,
// max_inflight, lease_us, lease_id, max_wait_us. Returns {granted, wait_us,
// reason}. When granted, wait_us is how long to sleep before calling: the
// slot is reserved for then.
//
// Times are in microseconds: the interval of most rates has a fractional
// millisecond (60.5 s / 600 = 100,833 µs), and truncating it to whole
// milliseconds sped the limiter up by exactly the safety margin, so WDT's
// quota was hit. Microseconds since the epoch fit a Lua number (a double)
// exactly.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local maxin = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local maxwait = tonumber(ARGV[5])
local cd = redis.call('PTTL', KEYS[3])
if cd > 0 then return {0, cd * 1000, 'cooldown'} end
if maxin > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= maxin then return {0, 0, 'inflight'} end
end
local wait = 0
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  wait = tat - now
  if wait > maxwait then return {0, wait, 'rate'} end
  redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.floor((wait + interval) / 1000) + 60000)
end
if maxin > 0 then
  redis.call('ZADD', KEYS[2], string.format('%.0f', now + wait + lease), ARGV[4])
  redis.call('PEXPIRE', KEYS[2], math.floor((wait + lease) / 1000) + 60000)
end
return {1, wait, 'ok'}
`)

// cooldownScript: KEYS cooldown, tat. ARGV ms. Extends, never shortens;
// returns 1 when it started or extended the cooldown. It also moves the
// rate's schedule (tat, same hash tag) to at least the cooldown's end, so
// a reservation (reserveScript) never grants a slot inside a cooldown
// without reading it; slots granted before the cooldown started are
// stopped by their sleepers' check (sleepToSlot). A cooldown started by an
// older version, which did not move the schedule, is still read by every
// refused reservation and by the sleepers; its first rate-limit answer to
// this version moves the schedule.
var cooldownScript = redis.NewScript(`
local left = redis.call('PTTL', KEYS[1])
local ms = tonumber(ARGV[1])
local started = 0
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  left = ms
  started = 1
end
local t = redis.call('TIME')
local ends = tonumber(t[1]) * 1000000 + tonumber(t[2]) + left * 1000
local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat < ends then
  redis.call('SET', KEYS[2], string.format('%.0f', ends), 'PX', left + 60000)
end
return started
`)

// Slot is a granted call. Release it when the call returns.
type Slot struct {
	l     *Limiter
	lease string
	// due is when the call was scheduled to leave, on the local clock
	// (zero without a rate limit). It is the earliest local time the
	// reservation can stand for: taken before the script was sent.
	due time.Time
}

// lateAfter is how late a rate-limited call may leave. The margin spreads
// the rate over 60.5 s, so WDT's sliding minute sees rate calls only if no
// call arrives more than the margin later than the one a minute after it.
// Half the margin is the worker's budget; the other half is for the
// network and WDT's own front end.
const lateAfter = rateMargin / 2

// Late reports whether the slot's time has passed by more than lateAfter:
// sending now could put one call too many into WDT's minute, so the caller
// gives the slot up and takes a new one instead. A late call happens when
// the process was not scheduled in time (a starved or paused process, a slow
// Redis between the reservation and the call).
func (s *Slot) Late() bool {
	return s != nil && !s.due.IsZero() && time.Since(s.due) > lateAfter
}

// Release frees the in-flight lease. Safe to call on a nil Slot.
func (s *Slot) Release(ctx context.Context) {
	if s == nil || s.lease == "" {
		return
	}
	// Best effort: a lost release only holds the slot until the lease ends.
	s.l.rdb.ZRem(context.WithoutCancel(ctx), s.l.keys[1], s.lease)
}

// WaitError says how long to come back after; the task is rescheduled
// without using up a retry.
type WaitError struct {
	Reason Reason
	After  time.Duration
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("rate limit: no slot (%s), retry in %s", e.Reason, e.After.Round(time.Millisecond))
}

// Acquire reserves the next call slot in the shared limiter and waits for
// it here, in the process, on a local timer: waiting costs no Redis command
// and no dequeue. It waits at most the task's budget (budget: MaxWait,
// bounded by the task's deadline less callReserve). A slot or a cooldown
// beyond the budget is not reserved: the task is held here, still without
// Redis, for the rest of its budget and then gets a *WaitError, so the
// caller reschedules it for when the slot comes (no retry used) instead of
// dequeuing the next task only to refuse it too. Stop ends every wait at
// once with a *WaitError.
func (l *Limiter) Acquire(ctx context.Context) (*Slot, error) {
	if l.interval == 0 && l.maxInflight == 0 {
		return l.cooldownOnly(ctx)
	}
	deadline := time.Now().Add(l.budget(ctx))
	lease := newLeaseID()
	poll := l.poll
	for {
		r, err := l.reserve(ctx, deadline, lease)
		if err != nil {
			return nil, l.stopped(err, ReasonRate, r.wait)
		}
		wait, reason := r.wait, r.reason
		if r.granted {
			return l.sleepToSlot(ctx, lease, r.asked, wait)
		}
		remaining := time.Until(deadline)
		switch reason {
		case ReasonCooldown, ReasonRate:
			if reason == ReasonCooldown {
				l.cooldownUntil.Store(r.asked.Add(cmp.Or(r.cooldown, wait)).UnixNano())
			}
			if reason == ReasonCooldown && wait < remaining {
				// The cooldown ends within the budget: wait it out here.
				if err := l.sleep(ctx, wait); err != nil {
					return nil, l.stopped(err, reason, remaining-wait)
				}
				continue
			}
			return nil, l.holdThenRefuse(ctx, reason, wait, remaining)
		}
		// In-flight limit: poll, less often the longer it lasts, until a
		// lease frees or the budget is spent.
		if time.Now().Add(poll).After(deadline) {
			return nil, &WaitError{Reason: ReasonInflight, After: time.Second}
		}
		if err := l.sleep(ctx, poll); err != nil {
			return nil, l.stopped(err, ReasonInflight, time.Second)
		}
		poll = min(2*poll, maxInflightPoll)
	}
}

// reserve asks the shared schedule for a slot within the budget ending at
// deadline: in a batch with the process's other waiting tasks when only the
// rate applies (rateBatcher), else one script for this task alone (an
// in-flight lease is per task).
func (l *Limiter) reserve(ctx context.Context, deadline time.Time, lease string) (reserveRes, error) {
	// Answered or not, the task is no longer waiting for the schedule's
	// word: the next fetch for this seller may be paced by the answer.
	defer releaseFetchClaim(ctx)
	if l.batch != nil {
		return l.batch.reserve(ctx, deadline)
	}
	asked := time.Now()
	remaining := deadline.Sub(asked)
	res, err := acquireScript.Run(ctx, l.rdb, l.keys, l.interval.Microseconds(), l.maxInflight, l.lease.Microseconds(), lease, max(remaining.Microseconds(), 0)).Slice()
	if err != nil {
		return reserveRes{}, fmt.Errorf("rate limiter: %w", err)
	}
	granted, _ := res[0].(int64)
	return reserveRes{granted: granted == 1, wait: time.Duration(res[1].(int64)) * time.Microsecond,
		reason: Reason(fmt.Sprint(res[2])), asked: asked}, nil
}

// maxInflightPoll bounds the in-flight limit's back-off between polls.
const maxInflightPoll = 200 * time.Millisecond

// sleepToSlot waits for a granted reservation's time, then checks the
// cooldown again (a rate-limit answer may have started one meanwhile: every
// sleeper would otherwise call into it).
func (l *Limiter) sleepToSlot(ctx context.Context, lease string, asked time.Time, wait time.Duration) (*Slot, error) {
	if err := l.sleep(ctx, wait); err != nil {
		(&Slot{l: l, lease: lease}).Release(ctx)
		// The reserved slot is given up (a slot unused, never one too
		// many); the task comes back when it would have been due.
		return nil, l.stopped(err, ReasonRate, time.Until(asked.Add(wait)))
	}
	if wait > 0 {
		if left, err := l.cooldownLeft(ctx); err != nil || left > 0 {
			(&Slot{l: l, lease: lease}).Release(ctx)
			if err != nil {
				return nil, err
			}
			return nil, &WaitError{Reason: ReasonCooldown, After: left}
		}
	}
	if l.maxInflight == 0 {
		lease = ""
	}
	slot := &Slot{l: l, lease: lease}
	if l.interval > 0 {
		slot.due = asked.Add(wait)
	}
	return slot, nil
}

// holdThenRefuse keeps a task whose slot (or cooldown's end) is beyond its
// budget for the rest of the budget, then refuses it with the time still to
// wait. Refusing at once would free the asynq worker only for it to dequeue
// the next task and refuse that one too: at quota with a backlog, a loop of
// a dequeue, a script and a reschedule per task, over a thousand a second
// (issue 24). Held, the worker costs nothing until the task goes back.
func (l *Limiter) holdThenRefuse(ctx context.Context, reason Reason, wait, remaining time.Duration) error {
	hold := max(remaining, 0)
	if err := l.sleep(ctx, hold); err != nil {
		return l.stopped(err, reason, wait)
	}
	return &WaitError{Reason: reason, After: max(wait-hold, 0)}
}

// budget is how long Acquire may wait for a slot: MaxWait, and never past
// the task's deadline less callReserve, so the call itself still fits in
// the task's timeout.
func (l *Limiter) budget(ctx context.Context) time.Duration {
	b := l.maxWait
	if dl, ok := ctx.Deadline(); ok {
		b = min(b, time.Until(dl)-callReserve)
	}
	return max(b, 0)
}

// callReserve is what a waiting task keeps of its deadline for the call:
// the WDT client's own timeout (wdt.DefaultTimeout) and some slack.
const callReserve = 35 * time.Second

// errStopping ends a wait because the worker is shutting down.
var errStopping = errors.New("worker shutting down")

// sleep waits d, or until ctx ends or Stop is called.
func (l *Limiter) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.quit:
		return errStopping
	}
}

// stopped turns the error that ended a wait into what Acquire returns: a
// shutdown is a *WaitError (the task goes back to the queue, due after),
// a cancelled context stays itself.
func (l *Limiter) stopped(err error, reason Reason, after time.Duration) error {
	if errors.Is(err, errStopping) {
		return &WaitError{Reason: reason, After: max(after, 0)}
	}
	return err
}

// Stop ends every wait for a slot at once, each with a *WaitError: a
// shutting-down worker hands waiting tasks back instead of holding them
// (and its shutdown) for up to MaxWait. Safe to call twice.
func (l *Limiter) Stop() {
	l.quitOnce.Do(func() { close(l.quit) })
}

// cooldownOnly is Acquire without a rate or an in-flight limit: only the
// shared cooldown applies, read from Redis at most every cooldownCacheFor.
func (l *Limiter) cooldownOnly(ctx context.Context) (*Slot, error) {
	now := time.Now().UnixNano()
	if until := l.cooldownUntil.Load(); now < until {
		return nil, &WaitError{Reason: ReasonCooldown, After: time.Duration(until - now)}
	}
	if l.knownClear(now) {
		return &Slot{l: l}, nil
	}
	left, err := l.Cooldown(ctx)
	if err != nil {
		return nil, err
	}
	l.markClear(now, now)
	if left > 0 {
		l.cooldownUntil.Store(now + int64(left))
		return nil, &WaitError{Reason: ReasonCooldown, After: left}
	}
	return &Slot{l: l}, nil
}

// StartCooldown makes every worker hold off for d. It reports whether this
// call started or extended it (for the metric).
func (l *Limiter) StartCooldown(ctx context.Context, d time.Duration) (bool, error) {
	l.cooldownUntil.Store(time.Now().Add(d).UnixNano())
	n, err := cooldownScript.Run(context.WithoutCancel(ctx), l.rdb, []string{l.keys[2], l.keys[0]}, d.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("start cooldown: %w", err)
	}
	return n == 1, nil
}

// cooldownLeft is the time left of the cooldown, from this process's own
// knowledge when it knows of one, else from Redis, read at most every
// cooldownCacheFor: every task waking to its slot asks, and at 6000/min
// a read per call was a round trip and a command per call for an answer
// that is almost always no.
func (l *Limiter) cooldownLeft(ctx context.Context) (time.Duration, error) {
	now := time.Now().UnixNano()
	if until := l.cooldownUntil.Load(); now < until {
		return time.Duration(until - now), nil
	}
	if l.knownClear(now) {
		return 0, nil
	}
	left, err := l.Cooldown(ctx)
	if err != nil {
		return 0, err
	}
	l.markClear(now, now)
	if left > 0 {
		l.cooldownUntil.Store(now + int64(left))
	}
	return left, nil
}

// Cooldown is the time left of the shared cooldown, 0 when none.
func (l *Limiter) Cooldown(ctx context.Context) (time.Duration, error) {
	d, err := l.rdb.PTTL(ctx, l.keys[2]).Result()
	if err != nil {
		return 0, fmt.Errorf("read cooldown: %w", err)
	}
	if d < 0 {
		return 0, nil
	}
	return d, nil
}

func newLeaseID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clearWindow is a span of local time (unix ns, from inclusive, until
// exclusive) in which this process may take it that no cooldown runs.
type clearWindow struct{ from, until int64 }

// knownClear reports whether now is in the window where no cooldown is
// known to run.
func (l *Limiter) knownClear(now int64) bool {
	w := l.cooldownClear.Load()
	return w != nil && now >= w.from && now < w.until
}

// markClear records that no cooldown runs from local time from on, as
// learned at checked: the knowledge holds until cooldownCacheFor after
// checked (a cooldown another process starts later is noticed that late).
func (l *Limiter) markClear(checked, from int64) {
	until := checked + int64(cooldownCacheFor)
	if from >= until {
		return
	}
	for {
		old := l.cooldownClear.Load()
		if old != nil && old.until >= until {
			return
		}
		if l.cooldownClear.CompareAndSwap(old, &clearWindow{from: from, until: until}) {
			return
		}
	}
}

// noteCooldown learns what a reservation's reply says of the cooldown: cd
// is its time left when the script read it (0: read, none runs; < 0: not
// read), first the first granted slot's wait (< 0: none granted). A
// granted slot says no more than that any cooldown that ran when the
// script did ends by that slot (cooldownScript moves the schedule), so
// sleepers waking before it still read the cooldown (cooldownLeft).
func (l *Limiter) noteCooldown(asked time.Time, cd, first time.Duration) {
	at := asked.UnixNano()
	switch {
	case cd > 0:
		l.cooldownUntil.Store(asked.Add(cd).UnixNano())
	case cd == 0:
		l.markClear(at, at)
	case first >= 0:
		l.markClear(at, asked.Add(first).UnixNano())
	}
}

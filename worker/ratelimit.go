package worker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/pause"
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
	cooldownUntil   atomic.Int64 // unix ns; known end of the cooldown
	cooldownChecked atomic.Int64 // unix ns of the last read from Redis
}

// cooldownCacheFor bounds how late a worker notices a cooldown another
// worker started, when it has no rate or in-flight limit of its own.
const cooldownCacheFor = 50 * time.Millisecond

// LimiterOptions configure a Limiter.
type LimiterOptions struct {
	RatePerMinute int
	MaxInflight   int
	// Lease bounds how long a crashed worker can hold an in-flight slot.
	// It must exceed the longest call.
	Lease time.Duration
	// MaxWait is how long Acquire may hold an asynq worker before giving
	// up and asking for the task to be rescheduled.
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
	}
	if o.RatePerMinute > 0 {
		l.interval = (time.Minute + rateMargin) / time.Duration(o.RatePerMinute)
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

// cooldownScript: KEYS cooldown. ARGV ms. Extends, never shortens; returns 1
// when it started or extended the cooldown.
var cooldownScript = redis.NewScript(`
local left = redis.call('PTTL', KEYS[1])
if left >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1
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

// Acquire waits up to MaxWait for a slot. It returns a *WaitError when the
// slot is further away than that, so the caller gives the asynq worker back.
func (l *Limiter) Acquire(ctx context.Context) (*Slot, error) {
	if l.interval == 0 && l.maxInflight == 0 {
		// Only the cooldown applies.
		now := time.Now().UnixNano()
		if until := l.cooldownUntil.Load(); now < until {
			return nil, &WaitError{Reason: ReasonCooldown, After: time.Duration(until - now)}
		}
		if now-l.cooldownChecked.Load() < int64(cooldownCacheFor) {
			return &Slot{l: l}, nil
		}
		left, err := l.Cooldown(ctx)
		if err != nil {
			return nil, err
		}
		l.cooldownChecked.Store(now)
		if left > 0 {
			l.cooldownUntil.Store(now + int64(left))
			return nil, &WaitError{Reason: ReasonCooldown, After: left}
		}
		return &Slot{l: l}, nil
	}
	deadline := time.Now().Add(l.maxWait)
	lease := newLeaseID()
	for {
		remaining := time.Until(deadline)
		asked := time.Now()
		res, err := acquireScript.Run(ctx, l.rdb, l.keys, l.interval.Microseconds(), l.maxInflight, l.lease.Microseconds(), lease, max(remaining.Microseconds(), 0)).Slice()
		if err != nil {
			return nil, fmt.Errorf("rate limiter: %w", err)
		}
		granted, _ := res[0].(int64)
		wait := time.Duration(res[1].(int64)) * time.Microsecond
		reason := Reason(fmt.Sprint(res[2]))
		if granted == 1 {
			if err := pause.For(ctx, wait); err != nil {
				(&Slot{l: l, lease: lease}).Release(ctx)
				return nil, err
			}
			if wait > 0 {
				// A rate-limit answer may have started a cooldown while
				// this caller slept towards its slot: check again, or
				// every sleeper would still call into the cooldown.
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
		switch reason {
		case ReasonCooldown, ReasonRate:
			return nil, &WaitError{Reason: reason, After: wait}
		}
		// In-flight limit: poll until a lease frees or the wait is over.
		if time.Now().Add(l.poll).After(deadline) {
			return nil, &WaitError{Reason: ReasonInflight, After: time.Second}
		}
		if err := pause.For(ctx, l.poll); err != nil {
			return nil, err
		}
	}
}

// StartCooldown makes every worker hold off for d. It reports whether this
// call started or extended it (for the metric).
func (l *Limiter) StartCooldown(ctx context.Context, d time.Duration) (bool, error) {
	l.cooldownUntil.Store(time.Now().Add(d).UnixNano())
	n, err := cooldownScript.Run(context.WithoutCancel(ctx), l.rdb, l.keys[2:3], d.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("start cooldown: %w", err)
	}
	return n == 1, nil
}

// cooldownLeft is the time left of the cooldown, from this process's own
// knowledge when it started one, else from Redis.
func (l *Limiter) cooldownLeft(ctx context.Context) (time.Duration, error) {
	if until := l.cooldownUntil.Load(); time.Now().UnixNano() < until {
		return time.Duration(until - time.Now().UnixNano()), nil
	}
	return l.Cooldown(ctx)
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

package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
)

// Breaker is the circuit breaker every worker on one Redis shares. When the
// WDT endpoint fails for every order (an outage, a wrong port, a bad
// certificate, a wrong secret), retrying each order on its own schedule
// would burn every order's retries and dead-letter the whole queue as
// exhausted although no order did anything wrong. The breaker notices, holds
// tasks without using their retries, lets one probe call through per
// ProbeEvery, and closes on the first definite answer.
//
// It opens in two ways:
//   - a configuration fault (bad credentials, IP not whitelisted, a
//     redirect, a 404 on the API path): at once, since it cannot heal by
//     itself;
//   - endpoint failures (request not sent, or sent with no definite
//     answer): when at least Threshold of them arrive within Window while no
//     worker got any definite answer for a whole Window. A random share of
//     lost responses among good answers therefore never opens it; a real
//     outage does, within about one Window.
//
// State lives in Redis under the queue's hash tag (open, fails, alive,
// probe), like the limiter's cooldown. Each process caches whether it is
// open for cacheFor, so a healthy worker pays no Redis round trip per task.
type Breaker struct {
	rdb  redis.UniversalClient
	keys breakerKeys
	opts BreakerOptions

	// cached state of the open key, refreshed at most every cacheFor.
	mu        sync.Mutex
	cached    *BreakerState
	checkedAt time.Time

	// aliveAt is when this process last refreshed the alive key; it does
	// so at most once a second.
	aliveAt atomic.Int64
}

type breakerKeys struct{ open, fails, alive, probe string }

// BreakerOptions configure a Breaker. Zero values take the defaults.
type BreakerOptions struct {
	Threshold  int           // endpoint failures that open it (default 10)
	Window     time.Duration // see Breaker (default 30 s)
	ProbeEvery time.Duration // one probe call per this while open (default 5 s)
}

// Defaults of BreakerOptions.
const (
	DefaultBreakerThreshold  = 10
	DefaultBreakerWindow     = 30 * time.Second
	DefaultBreakerProbeEvery = 5 * time.Second
)

const breakerCacheFor = 50 * time.Millisecond

// BreakerState is why the breaker is open; it is stored as JSON and shown on
// /readyz.
type BreakerState struct {
	Reason string    `json:"reason"` // "config" or "endpoint"
	Fault  string    `json:"fault"`  // the last failure, secrets already scrubbed
	Fix    string    `json:"fix,omitempty"`
	Since  time.Time `json:"since"`
}

// Describe is the one-line reason readiness and logs show.
func (st *BreakerState) Describe() string {
	what := "circuit breaker open: the WDT endpoint fails for every order"
	if st.Reason == BreakerConfig {
		what = "configuration fault (circuit breaker open)"
	}
	s := what + " since " + st.Since.Format(time.RFC3339) + ": " + st.Fault
	if st.Fix != "" {
		s += "; fix: " + st.Fix
	}
	return s + "; tasks are held without using retries; after fixing, run `wdtcancel retry --held`"
}

// Reasons the breaker opens.
const (
	BreakerConfig   = "config"
	BreakerEndpoint = "endpoint"
)

// NewBreaker builds the breaker of one queue.
func NewBreaker(rdb redis.UniversalClient, queue string, o BreakerOptions) *Breaker {
	o = o.WithDefaults()
	return &Breaker{rdb: rdb, opts: o, keys: breakerKeys{
		open:  store.BreakerOpenKey(queue),
		fails: store.BreakerFailsKey(queue),
		alive: store.BreakerAliveKey(queue),
		probe: store.BreakerProbeKey(queue),
	}}
}

// Gate says whether a call may go out now. It returns nil when the breaker
// is closed, or when it is open and this caller won the probe slot (probe
// true). Otherwise it returns the open state: hold the task.
func (b *Breaker) Gate(ctx context.Context) (state *BreakerState, probe bool, err error) {
	st, err := b.State(ctx)
	if err != nil || st == nil {
		return nil, false, err
	}
	won, err := b.rdb.SetNX(ctx, b.keys.probe, "1", b.opts.ProbeEvery).Result()
	if err != nil {
		return nil, false, fmt.Errorf("circuit breaker probe: %w", err)
	}
	if won {
		return nil, true, nil
	}
	return st, false, nil
}

// State is the shared state, nil when closed; cached for breakerCacheFor.
func (b *Breaker) State(ctx context.Context) (*BreakerState, error) {
	b.mu.Lock()
	if time.Since(b.checkedAt) < breakerCacheFor {
		st := b.cached
		b.mu.Unlock()
		return st, nil
	}
	b.mu.Unlock()
	st, err := b.read(ctx)
	if err != nil {
		return nil, err
	}
	b.remember(st)
	return st, nil
}

func (b *Breaker) remember(st *BreakerState) {
	b.mu.Lock()
	b.cached, b.checkedAt = st, time.Now()
	b.mu.Unlock()
}

func (b *Breaker) read(ctx context.Context) (*BreakerState, error) {
	raw, err := b.rdb.Get(ctx, b.keys.open).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read circuit breaker: %w", err)
	}
	var st BreakerState
	if json.Unmarshal([]byte(raw), &st) != nil {
		st = BreakerState{Reason: BreakerEndpoint, Fault: "unreadable breaker state"}
	}
	return &st, nil
}

// openIfFailingScript: KEYS fails, alive, open. ARGV threshold, window_ms,
// state. Counts an endpoint failure and opens the breaker when the threshold
// is reached while no definite answer was seen for a whole window. Returns 1
// when the breaker is open afterwards.
var openIfFailingScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[3]) == 1 then return 1 end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[3], ARGV[3])
  return 1
end
return 0
`)

// Failure counts an endpoint failure; it reports whether the breaker is open
// afterwards (opened now or already).
func (b *Breaker) Failure(ctx context.Context, fault string) (bool, error) {
	st, _ := json.Marshal(BreakerState{Reason: BreakerEndpoint, Fault: fault, Since: time.Now().UTC()})
	n, err := openIfFailingScript.Run(context.WithoutCancel(ctx), b.rdb,
		[]string{b.keys.fails, b.keys.alive, b.keys.open}, b.opts.Threshold, b.opts.Window.Milliseconds(), string(st)).Int()
	if err != nil {
		return false, fmt.Errorf("count endpoint failure: %w", err)
	}
	if n == 1 {
		b.invalidate()
	}
	return n == 1, nil
}

// OpenForConfig opens the breaker for a configuration fault (or refreshes
// the fault it shows).
func (b *Breaker) OpenForConfig(ctx context.Context, fault, fix string) error {
	st, _ := json.Marshal(BreakerState{Reason: BreakerConfig, Fault: fault, Fix: fix, Since: time.Now().UTC()})
	if err := b.rdb.Set(context.WithoutCancel(ctx), b.keys.open, st, 0).Err(); err != nil {
		return fmt.Errorf("open circuit breaker: %w", err)
	}
	b.invalidate()
	return nil
}

// Answered records a definite answer from WDT. It closes an open breaker
// (reporting whether this call closed it) and keeps the alive mark fresh,
// writing to Redis at most once a second per process when closed.
func (b *Breaker) Answered(ctx context.Context) (closed bool, err error) {
	st, err := b.State(ctx)
	if err != nil {
		return false, err
	}
	now := time.Now().UnixNano()
	if st == nil && now-b.aliveAt.Load() < int64(time.Second) {
		return false, nil
	}
	b.aliveAt.Store(now)
	ctx = context.WithoutCancel(ctx)
	var del *redis.IntCmd
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, b.keys.alive, "1", b.opts.Window)
		if st != nil {
			del = p.Del(ctx, b.keys.open, b.keys.fails, b.keys.probe)
		} else {
			p.Del(ctx, b.keys.fails)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("record definite answer: %w", err)
	}
	if st == nil {
		return false, nil
	}
	b.remember(nil)
	return del.Val() > 0, nil
}

// FreeProbe lets the next call through as a probe at once: a worker that
// just started may carry the fixed configuration.
func (b *Breaker) FreeProbe(ctx context.Context) error {
	if err := b.rdb.Del(ctx, b.keys.probe).Err(); err != nil {
		return fmt.Errorf("free circuit breaker probe: %w", err)
	}
	return nil
}

// Reset closes the breaker by hand (`wdtcancel retry --held`): the operator
// says the fault is fixed.
func (b *Breaker) Reset(ctx context.Context) (wasOpen bool, err error) {
	n, err := b.rdb.Del(ctx, b.keys.open, b.keys.fails, b.keys.probe).Result()
	if err != nil {
		return false, fmt.Errorf("reset circuit breaker: %w", err)
	}
	b.invalidate()
	return n > 0, nil
}

func (b *Breaker) invalidate() {
	b.mu.Lock()
	b.checkedAt = time.Time{}
	b.mu.Unlock()
}

package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Readiness is what /readyz reports: Redis reachable, not evicting and
// accepting writes, not shutting down, no live configuration fault.
type Readiness struct {
	rdb          redis.UniversalClient
	shuttingDown atomic.Bool

	breaker *Breaker // nil: no breaker to report
	// refresh re-runs the Redis guard's checks before a report, at most
	// once per refreshEvery, so /readyz turns red as soon as Redis refuses
	// writes, not at the guard's next period.
	refresh     func(context.Context) error
	refreshedAt atomic.Int64

	mu sync.Mutex
	// Redis guard (redisguard.go): eviction policy and write probe.
	redisState   string   // RedisEvicting or RedisRefusesWrites, "" when fit
	redisReasons []string // each with its fix
}

// setRedisGuard records what the Redis guard found (state "" clears it).
func (r *Readiness) setRedisGuard(state string, reasons []string) {
	r.mu.Lock()
	r.redisState, r.redisReasons = state, reasons
	r.mu.Unlock()
}

func (r *Readiness) redisGuard() (string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.redisState, r.redisReasons
}

// ReadyReport is the JSON body of /readyz.
type ReadyReport struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
	Redis   string   `json:"redis"`
}

// NewReadiness tracks readiness against rdb.
func NewReadiness(rdb redis.UniversalClient) *Readiness { return &Readiness{rdb: rdb} }

// ShuttingDown turns readiness red for good.
func (r *Readiness) ShuttingDown() { r.shuttingDown.Store(true) }

// WatchBreaker makes an open circuit breaker (a configuration fault, or an
// endpoint failing for every order) turn readiness red with its reason.
func (r *Readiness) WatchBreaker(b *Breaker) { r.breaker = b }

// refreshEvery bounds how often /readyz re-runs the Redis guard.
const refreshEvery = time.Second

// Check builds the report, pinging Redis.
func (r *Readiness) Check(ctx context.Context) ReadyReport {
	rep := ReadyReport{Ready: true, Redis: "ok"}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if now := time.Now().UnixNano(); r.refresh != nil && now-r.refreshedAt.Load() >= int64(refreshEvery) {
		r.refreshedAt.Store(now)
		r.refresh(ctx)
	}
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		rep.Ready = false
		rep.Redis = "unreachable"
		rep.Reasons = append(rep.Reasons, "redis unreachable: "+err.Error())
	} else if state, reasons := r.redisGuard(); state != "" {
		rep.Ready = false
		rep.Redis = state
		rep.Reasons = append(rep.Reasons, reasons...)
	}
	if r.shuttingDown.Load() {
		rep.Ready = false
		rep.Reasons = append(rep.Reasons, "shutting down")
	}
	if r.breaker != nil {
		if st, err := r.breaker.State(ctx); err == nil && st != nil {
			rep.Ready = false
			rep.Reasons = append(rep.Reasons, st.Describe())
		}
	}
	return rep
}

package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/redisguard"
	"github.com/wdtcancel/wdtcancel/internal/store"
)

// DefaultRedisCheckInterval is how often the worker re-reads Redis's
// eviction policy and probes that Redis accepts writes.
const DefaultRedisCheckInterval = 15 * time.Second

// States of ReadyReport.Redis besides "ok" and "unreachable".
const (
	RedisEvicting      = "evicting"
	RedisRefusesWrites = "refuses_writes"
)

// redisGuard checks, at Start and then every RedisCheckInterval, that Redis
// will not evict wdtcancel's keys and accepts writes, and keeps readiness
// red while either is false. It logs each change once, not every period.
type redisGuard struct {
	rdb      redis.UniversalClient
	key      string
	allow    bool
	interval time.Duration
	log      *zap.Logger
	ready    *Readiness
	// evictingGauge, when set, shows the last policy read: 1 evicting.
	evictingGauge prometheus.Gauge
	// durability checks persistence and the replica wait with each
	// check (durability.go).
	durability *durabilityGuard

	mu       sync.Mutex // one check at a time; guards the fields below
	policy   string     // last policy read; "" = not reported
	known    bool       // policy was read at least once
	evicting error      // *redisguard.EvictionError, or nil
	refused  error      // *redisguard.WriteRefusedError, or nil

	loop periodic // the check every interval
}

func newRedisGuard(rdb redis.UniversalClient, queue string, allow bool, interval time.Duration, log *zap.Logger, ready *Readiness) *redisGuard {
	if interval <= 0 {
		interval = DefaultRedisCheckInterval
	}
	return &redisGuard{rdb: rdb, key: store.ProbeKey(queue), allow: allow, interval: interval, log: log, ready: ready}
}

// check reads the policy and probes a write, updates readiness and logs
// what changed. It returns the problems found (nil when Redis is fit);
// Redis being unreachable is not one of them: the ping of /readyz reports
// that, and the last known state is kept.
func (g *redisGuard) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	g.mu.Lock()
	defer g.mu.Unlock()

	g.checkEviction(ctx)
	g.checkWrites(ctx)
	g.reportReadiness()
	var durable error
	if g.durability != nil {
		if durable = g.durability.check(ctx); durable != nil && errors.Is(durable, redisguard.ErrVolatile) && g.durability.allow {
			durable = nil // allowed: reported, not a problem
		}
	}
	return errors.Join(g.evicting, g.refused, durable)
}

// checkEviction reads maxmemory-policy and keeps it with what it means;
// a read that did not reach Redis keeps the last known state.
func (g *redisGuard) checkEviction(ctx context.Context) {
	policy, err := redisguard.CheckNoEviction(ctx, g.rdb)
	if err != nil && !errors.Is(err, redisguard.ErrEviction) {
		g.log.Debug("redis eviction policy not read", zap.Error(err))
		return
	}
	if !g.known || policy != g.policy {
		g.logPolicy(policy, err, g.evicting != nil)
	}
	g.policy, g.known, g.evicting = policy, true, err
	if g.evictingGauge != nil {
		v := 0.0
		if err != nil {
			v = 1
		}
		g.evictingGauge.Set(v)
	}
}

// checkWrites probes a write: a Redis that refuses it (out of memory, a
// replica) is kept as refused until a probe goes through; one that cannot
// be reached keeps the last known state.
func (g *redisGuard) checkWrites(ctx context.Context) {
	err := redisguard.ProbeWrite(ctx, g.rdb, g.key)
	var refused *redisguard.WriteRefusedError
	switch {
	case errors.As(err, &refused):
		if g.refused == nil || g.refused.Error() != err.Error() {
			g.log.Error("redis refuses writes: readiness is red until it accepts them; free memory or raise maxmemory, or point at the primary",
				zap.String("redis_error", refused.Err.Error()))
		}
		g.refused = err
	case err != nil:
		g.log.Debug("redis write probe failed to reach redis", zap.Error(err))
	default:
		if g.refused != nil {
			g.log.Info("redis accepts writes again")
		}
		g.refused = nil
	}
}

// reportReadiness hands readiness what the two checks found; a Redis
// refusing writes is named over one that evicts, as it stops everything.
func (g *redisGuard) reportReadiness() {
	var reasons []string
	state := ""
	if g.evicting != nil {
		state = RedisEvicting
		reasons = append(reasons, g.evicting.Error())
	}
	if g.refused != nil {
		state = RedisRefusesWrites
		reasons = append(reasons, g.refused.Error())
	}
	g.ready.setRedisGuard(state, reasons)
}

func (g *redisGuard) logPolicy(policy string, evicting error, wasEvicting bool) {
	switch {
	case policy == "":
		g.log.Debug("redis does not report maxmemory_policy (an embedded miniredis, or INFO disabled): eviction not checked")
	case evicting == nil:
		if wasEvicting {
			g.log.Info("redis maxmemory-policy is noeviction now")
		}
	case g.allow:
		g.log.Warn("redis may evict wdtcancel's tasks and records; started anyway because of --allow-eviction, readiness stays red",
			zap.String("maxmemory_policy", policy), zap.String("fix", redisguard.Fix))
	default:
		g.log.Error("redis may evict wdtcancel's tasks and records: readiness is red",
			zap.String("maxmemory_policy", policy), zap.String("fix", redisguard.Fix))
	}
}

// atStart is the check Start runs: an evicting Redis stops the worker
// unless eviction is allowed, and one that does not keep writes across a
// crash unless AllowVolatileRedis (check drops that error when allowed).
func (g *redisGuard) atStart(ctx context.Context) error {
	var evicting *redisguard.EvictionError
	err := g.check(ctx)
	if errors.As(err, &evicting) && !g.allow {
		return evicting
	}
	var volatile *redisguard.VolatileError
	var unchecked *redisguard.UncheckableError
	switch {
	case errors.As(err, &volatile):
		return volatile
	case errors.As(err, &unchecked):
		return unchecked
	}
	return nil
}

// start runs check every interval until stop.
func (g *redisGuard) start() {
	g.loop.start(g.interval, false, func(ctx context.Context) { g.check(ctx) })
}

// stop ends the periodic check and waits for it; safe before start and
// more than once.
func (g *redisGuard) stop() { g.loop.stop() }

// CheckRedis checks now, without waiting for the next period, that Redis
// does not evict and accepts writes, and updates /readyz. It returns the
// problems found, nil when there are none (or Redis could not be asked:
// /readyz then reports it unreachable).
func (w *Worker) CheckRedis(ctx context.Context) error { return w.guard.check(ctx) }

package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/redisguard"
	"github.com/wdtcancel/wdtcancel/internal/store"
)

// AutoReplicas, as Config.RedisWaitReplicas, waits for every replica the
// master of each queue reports (--redis-wait-replicas auto, the CLI's
// default): see store.AutoReplicas.
const AutoReplicas = store.AutoReplicas

// States of ReadyReport.Durability.State.
const (
	// DurableOK: AOF (always/everysec) on every data node, or every
	// replica waited for.
	DurableOK = "durable"
	// DurableVolatile: a crash can lose acknowledged writes; the worker
	// runs because of AllowVolatileRedis (ready) or became volatile
	// after it started (not ready).
	DurableVolatile = "volatile"
	// DurableUnknown: Redis will not say (INFO restricted, miniredis).
	DurableUnknown = "unknown"
)

// DurabilityReport is ReadyReport.Durability: whether Redis keeps
// wdtcancel's writes across a crash, and the replica wait.
type DurabilityReport struct {
	State string `json:"state"`
	// Allowed: the worker runs on a Redis that is not durable because of
	// --allow-volatile-redis (or an embedded test Redis); readiness stays
	// green, as the operator chose it, and Detail says what is at risk.
	Allowed bool   `json:"allowed,omitempty"`
	Detail  string `json:"detail,omitempty"`
	// WaitReplicas is, per master, how many replicas each critical write
	// waits for ("auto" resolved).
	WaitReplicas map[string]int `json:"wait_replicas,omitempty"`
	// WaitUnmet describes each master whose replica waits have failed for
	// longer than the bound (store.DefaultUnmetBound): readiness is red.
	WaitUnmet []string `json:"wait_unmet,omitempty"`
}

// durabilityGuard checks, with the Redis guard (at Start and every
// RedisCheckInterval), that Redis keeps wdtcancel's writes across a crash,
// and feeds auto's replica counts. It logs each change once.
type durabilityGuard struct {
	rdb        redis.UniversalClient
	wait       redisguard.Wait
	allow      bool   // AllowVolatileRedis, or an embedded test Redis
	allowWhy   string // the flag, or "an embedded in-memory Redis"
	replicas   *store.Replicas
	unmetBound time.Duration
	log        *zap.Logger
	ready      *Readiness

	mu      sync.Mutex
	known   bool
	lastKey string // what was last logged
	durable bool   // last verdict (false until known)
	unmet   bool
}

func newDurabilityGuard(rdb redis.UniversalClient, cfg Config, replicas *store.Replicas, ready *Readiness) *durabilityGuard {
	g := &durabilityGuard{
		rdb: rdb, replicas: replicas, unmetBound: cfg.RedisWaitUnmetBound, log: cfg.Logger, ready: ready,
		wait:  redisguard.Wait{Auto: cfg.RedisWaitReplicas == AutoReplicas, Count: max(cfg.RedisWaitReplicas, 0)},
		allow: cfg.AllowVolatileRedis, allowWhy: "--allow-volatile-redis",
	}
	if !g.allow && redisguard.IsEmbedded(rdb) {
		g.allow, g.allowWhy = true, "an embedded in-memory Redis (tests)"
	}
	if g.unmetBound <= 0 {
		g.unmetBound = store.DefaultUnmetBound
	}
	return g
}

// check reads every data node, updates auto's counts, readiness and the
// log, and returns the durability problem found (nil when durable, or
// Redis could not be reached: the last verdict stands).
func (g *durabilityGuard) check(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	nodes, err := redisguard.CheckDurable(ctx, g.rdb, g.wait)
	if errors.Is(err, redisguard.ErrReplicasPending) {
		// A failover in progress: the replica waits fail (tasks snooze,
		// no call is sent) until a replica is online; the verdict
		// stands, and a wait unmet for too long turns readiness red.
		g.replicas.Observe(nodes...)
		if key := err.Error(); key != g.lastKey {
			g.lastKey = key
			g.log.Info("redis master has no replica online yet: critical writes wait for the replicas re-attaching", zap.String("durability", key))
		}
		err = nil
	} else if err != nil && !errors.Is(err, redisguard.ErrVolatile) {
		g.log.Debug("redis persistence not read", zap.Error(err))
	} else {
		g.replicas.Observe(nodes...)
		g.logChange(nodes, err)
		g.known, g.durable = true, err == nil
		g.report(err)
	}
	unmet := g.replicas.Unmet(g.unmetBound)
	g.unmet = len(unmet) > 0
	g.ready.setDurabilityUnmet(unmet)
	if err != nil && errors.Is(err, redisguard.ErrVolatile) {
		return err
	}
	if len(unmet) > 0 {
		return errors.New(strings.Join(unmet, "; "))
	}
	return nil
}

// report puts the verdict into readiness.
func (g *durabilityGuard) report(err error) {
	rep := DurabilityReport{State: DurableOK, WaitReplicas: g.replicas.Counts()}
	var unc *redisguard.UncheckableError
	switch {
	case err == nil:
	case errors.As(err, &unc):
		rep.State, rep.Detail = DurableUnknown, err.Error()
	default:
		rep.State, rep.Detail = DurableVolatile, err.Error()
	}
	if err != nil && g.allow {
		rep.Allowed = true
		rep.Detail = "running anyway because of " + g.allowWhy + ": " + rep.Detail
	}
	g.ready.setDurability(rep)
}

// logChange logs the verdict when it differs from the last one logged.
func (g *durabilityGuard) logChange(nodes []redisguard.Node, err error) {
	how := describeNodes(nodes, g.wait)
	key := how
	if err != nil {
		key = err.Error()
	}
	if key == g.lastKey {
		return
	}
	first := g.lastKey == ""
	g.lastKey = key
	if unread := redisguard.FsyncUnread(nodes); len(unread) > 0 {
		g.log.Info("redis appendfsync could not be read (CONFIG GET denied): assuming the default, everysec; check your provider's AOF setting if it may be \"no\"",
			zap.Strings("nodes", unread))
	}
	switch {
	case err == nil && first:
		g.log.Info("redis keeps writes across a crash", zap.String("durability", how))
	case err == nil:
		g.log.Info("redis keeps writes across a crash again", zap.String("durability", how))
	case g.allow:
		g.log.Warn("redis is not known to keep writes across a crash: a crash can lose sent marks and confirmations and file cancelled orders as clean rejections; running anyway because of "+g.allowWhy,
			zap.String("durability", err.Error()))
	case first:
		g.log.Error("redis is not known to keep writes across a crash", zap.String("durability", err.Error()))
	default:
		g.log.Error("redis no longer keeps writes across a crash: readiness is red until it does", zap.String("durability", err.Error()))
	}
}

// describeNodes says how the nodes keep their writes, for the log.
func describeNodes(nodes []redisguard.Node, w redisguard.Wait) string {
	parts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		var s string
		switch {
		case !n.Reported:
			s = "not reported"
		case n.AOFDurable():
			s = "aof appendfsync " + n.Fsync
		default:
			s = "no durable aof"
		}
		if n.Reported {
			s += fmt.Sprintf(", %d replica(s) online", n.Replicas)
			if w.Auto {
				s += ", all waited for"
			} else {
				s += fmt.Sprintf(", %d waited for", w.Count)
			}
		}
		if len(nodes) > 1 {
			s = n.Addr + ": " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// gauge is wdtcancel_redis_durable's value: 1 durable, 0 not (or not yet
// known).
func (g *durabilityGuard) gauge() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.known && g.durable {
		return 1
	}
	return 0
}

func (g *durabilityGuard) unmetGauge() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.unmet {
		return 1
	}
	return 0
}

// registerDurabilityMetrics registers wdtcancel_redis_durable and
// wdtcancel_redis_wait_unmet, read at scrape time from the guard's last
// check.
func registerDurabilityMetrics(reg prometheus.Registerer, g *durabilityGuard) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wdtcancel_redis_durable",
			Help: "1 while every Redis data node keeps writes across a crash (AOF always/everysec, or every replica waited for); 0 when not, or not known (the worker runs only with --allow-volatile-redis then).",
		}, g.gauge),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wdtcancel_redis_wait_unmet",
			Help: "1 while a Redis master's replica wait has failed for longer than the bound (30 s): critical writes are unknown outcomes and readiness is red.",
		}, g.unmetGauge),
	)
}

// durabilityReasons are the readiness reasons of a durability report: a
// volatile Redis that was not allowed (it became volatile after start) and
// each unmet wait. An allowed volatile Redis gives none: readiness stays
// green and the report's detail shows the gap.
func durabilityReasons(rep *DurabilityReport) []string {
	if rep == nil {
		return nil
	}
	var out []string
	if rep.State != DurableOK && !rep.Allowed {
		out = append(out, rep.Detail)
	}
	return append(out, rep.WaitUnmet...)
}

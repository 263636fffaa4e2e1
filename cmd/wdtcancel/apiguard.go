package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/store"
)

// apiRedisCheckInterval is how often the api re-checks Redis, as the
// worker does (worker.DefaultRedisCheckInterval).
const apiRedisCheckInterval = 15 * time.Second

// apiGuard re-checks, while the api serves, that Redis still does not
// evict, keeps writes across a crash (re-reading each master's replicas for
// auto) and that replica waits are met; it logs each change once, not each
// period, and shows durability as wdtcancel_redis_durable.
type apiGuard struct {
	c        *enqueue.Client
	log      *zap.Logger
	interval time.Duration
	durable  atomic.Int32 // 1 durable, 0 not or not known
	lastKey  string
	lastWait string
}

func (g *apiGuard) record() {
	if d := g.c.Durability(); d.Checked && d.Durable {
		g.durable.Store(1)
	} else {
		g.durable.Store(0)
	}
}

// check runs one check and logs what changed since the last.
func (g *apiGuard) check(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := g.c.CheckRedis(cctx)
	if errors.Is(err, enqueue.ErrUnavailable) {
		g.log.Debug("redis check could not reach redis", zap.Error(err))
		return
	}
	g.record()
	key := ""
	if err != nil {
		key = err.Error()
	} else if d := g.c.Durability(); d.Allowed {
		key = "allowed: " + d.Problem.Error()
	}
	if key != g.lastKey {
		switch {
		case err != nil:
			g.log.Error("redis no longer fit to keep enqueues: enqueues may be lost", zap.String("redis_problem", err.Error()))
		case key != "":
			g.log.Warn("redis is not known to keep writes across a crash; serving anyway because of --allow-volatile-redis", zap.String("durability", key))
		default:
			g.log.Info("redis fit to keep enqueues again")
		}
		g.lastKey = key
	}
	unmet := strings.Join(g.c.WaitUnmet(store.DefaultUnmetBound), "; ")
	if unmet != g.lastWait {
		if unmet != "" {
			g.log.Error("redis replica wait unmet: enqueues are answered unknown", zap.String("replica_wait", unmet))
		} else {
			g.log.Info("redis replica wait met again")
		}
		g.lastWait = unmet
	}
}

// start runs check every interval until the returned stop is called.
func (g *apiGuard) start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(g.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				g.check(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// collector is wdtcancel_redis_durable for the api's /metrics.
func (g *apiGuard) collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wdtcancel_redis_durable",
		Help: "1 while every Redis data node keeps writes across a crash (AOF always/everysec, or every replica waited for); 0 when not, or not known (the api serves only with --allow-volatile-redis then).",
	}, func() float64 { return float64(g.durable.Load()) })
}

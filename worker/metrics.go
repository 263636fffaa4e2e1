package worker

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// Metrics are wdtcancel's own Prometheus series; asynq's queue metrics are
// registered next to them by the ops server.
type Metrics struct {
	Calls          *prometheus.CounterVec
	CallDuration   *prometheus.HistogramVec
	Outcomes       *prometheus.CounterVec
	RateLimitWaits *prometheus.CounterVec
	Cooldowns      prometheus.Counter
	DeadLettered   *prometheus.CounterVec
	ClockResyncs   prometheus.Counter
	// Ambiguous counts the dead letters flagged ambiguous (the order may
	// have been cancelled): each needs a look in WDT before a re-drive.
	Ambiguous *prometheus.CounterVec
	// RedisEvicting is 1 while Redis's maxmemory-policy may evict
	// wdtcancel's keys (set by the Redis guard's periodic check).
	RedisEvicting prometheus.Gauge

	// byCategory resolves the labelled series once: a label lookup hashes
	// the label values, and the handler records a call per task.
	byCategory map[wdt.Category]callSeries
}

type callSeries struct {
	calls    prometheus.Counter
	duration prometheus.Observer
}

// ObserveCall records one WDT call.
func (m *Metrics) ObserveCall(cat wdt.Category, d time.Duration) {
	s, ok := m.byCategory[cat]
	if !ok {
		s = callSeries{m.Calls.WithLabelValues(string(cat)), m.CallDuration.WithLabelValues(string(cat))}
	}
	s.calls.Inc()
	s.duration.Observe(d.Seconds())
}

// NewMetrics creates the series and registers them, with two gauges read at
// scrape time: the clock offset and the dead-letter count.
func NewMetrics(reg prometheus.Registerer, clock *wdt.Clock, dlq *DLQ, breaker *Breaker) *Metrics {
	m := &Metrics{
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_calls_total", Help: "WDT API calls by outcome category.",
		}, []string{"category"}),
		CallDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wdtcancel_call_duration_seconds", Help: "WDT API call latency by outcome category.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"category"}),
		Outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_task_outcomes_total", Help: "Task attempts by what the worker did: done, retry, snooze, dead.",
		}, []string{"action", "category"}),
		RateLimitWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_rate_limit_waits_total", Help: "Attempts rescheduled because no call slot was free, by reason (rate, inflight, cooldown).",
		}, []string{"reason"}),
		Cooldowns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wdtcancel_cooldowns_total", Help: "Shared cooldowns started or extended by a rate-limited answer from WDT.",
		}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_dead_lettered_total", Help: "Tasks dead-lettered by this process, by category.",
		}, []string{"category"}),
		ClockResyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wdtcancel_clock_resyncs_total", Help: "Clock-skew answers after which the worker resynced and re-signed.",
		}),
		Ambiguous: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_dead_lettered_ambiguous_total", Help: "Tasks dead-lettered by this process flagged ambiguous (an earlier outcome was unknown: check the order in WDT before re-driving), by category.",
		}, []string{"category"}),
		RedisEvicting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wdtcancel_redis_evicting", Help: "1 while Redis's maxmemory-policy is not noeviction, so it may drop queued tasks and outcome memory (readiness is red).",
		}),
	}
	reg.MustRegister(m.Calls, m.CallDuration, m.Outcomes, m.RateLimitWaits, m.Cooldowns, m.DeadLettered, m.ClockResyncs, m.Ambiguous, m.RedisEvicting)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wdtcancel_clock_offset_seconds", Help: "Learned WDT server clock minus local clock.",
	}, func() float64 { return clock.Offset().Seconds() }))
	if breaker != nil {
		breakerIs := func(reasons ...string) func() float64 {
			return func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				st, err := breaker.State(ctx)
				if err != nil {
					return -1
				}
				for _, r := range reasons {
					if st != nil && st.Reason == r {
						return 1
					}
				}
				return 0
			}
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wdtcancel_config_fault", Help: "1 while a configuration fault holds every task (the circuit breaker is open for it; readiness is red).",
		}, breakerIs(BreakerConfig)))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wdtcancel_breaker_open", Help: "1 while the shared circuit breaker is open, for a configuration fault or a failing endpoint: tasks are held without using retries.",
		}, breakerIs(BreakerConfig, BreakerEndpoint)))
	}
	if dlq != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wdtcancel_dead_letters", Help: "Records in the dead-letter queue (all workers).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := dlq.Count(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	// Export every series from the start, so dashboards and alerts see
	// zeros rather than gaps.
	m.byCategory = make(map[wdt.Category]callSeries, len(wdt.Categories))
	for _, c := range wdt.Categories {
		m.byCategory[c] = callSeries{m.Calls.WithLabelValues(string(c)), m.CallDuration.WithLabelValues(string(c))}
	}
	for _, r := range []Reason{ReasonRate, ReasonInflight, ReasonCooldown, ReasonLate} {
		m.RateLimitWaits.WithLabelValues(string(r))
	}
	// The categories a dead letter can have, so increase() over them sees
	// the first one too (a series born at 1 shows no increase).
	for _, c := range []wdt.Category{wdt.Rejected, wdt.Invalid, wdt.Exhausted} {
		m.DeadLettered.WithLabelValues(string(c))
	}
	for _, c := range []wdt.Category{wdt.Rejected, wdt.Exhausted} {
		m.Ambiguous.WithLabelValues(string(c))
	}
	return m
}

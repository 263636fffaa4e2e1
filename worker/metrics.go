package worker

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// SellerLabel is the label every wdtcancel_* series carries: the seller the
// series counts ("default" in single-seller mode). Its values are bounded by
// the sellers file.
const SellerLabel = "seller"

// Metrics are one seller's view of wdtcancel's own Prometheus series: every
// vector is already curried with the seller's label, so callers pass only
// the remaining labels (Calls.WithLabelValues(category)). asynq's queue
// metrics are registered next to them by the ops server.
type Metrics struct {
	Calls        *prometheus.CounterVec
	CallDuration prometheus.ObserverVec
	Outcomes     *prometheus.CounterVec
	// Unrecorded counts the attempts whose outcome was decided but not
	// recorded (outcome.go): the task runs again, and Outcomes counts it
	// then.
	Unrecorded *prometheus.CounterVec
	// Unconfirmed counts the attempts whose outcome write Redis did not
	// answer (a timeout): it may have landed, so it is neither recorded
	// nor unrecorded (unrecorded.go).
	Unconfirmed    *prometheus.CounterVec
	RateLimitWaits *prometheus.CounterVec
	Cooldowns      prometheus.Counter
	DeadLettered   *prometheus.CounterVec
	ClockResyncs   prometheus.Counter
	// Ambiguous counts the dead letters flagged ambiguous (the order may
	// have been cancelled): each needs a look in WDT before a re-drive.
	Ambiguous *prometheus.CounterVec
	// RedisEvicting is 1 while Redis's maxmemory-policy may evict
	// wdtcancel's keys (set by the Redis guard's periodic check). Redis is
	// every seller's, so the gauge has no seller label and every seller's
	// Metrics share it.
	RedisEvicting prometheus.Gauge
	// Lookups counts the seller's order lookups by result (lookup.go,
	// the lookupResult* values).
	Lookups *prometheus.CounterVec

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

// metricVecs are the registered vectors every seller's Metrics curry.
type metricVecs struct {
	reg          prometheus.Registerer
	calls        *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	outcomes     *prometheus.CounterVec
	unrecorded   *prometheus.CounterVec
	unconfirmed  *prometheus.CounterVec
	waits        *prometheus.CounterVec
	cooldowns    *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	resyncs      *prometheus.CounterVec
	ambiguous    *prometheus.CounterVec
	lookups      *prometheus.CounterVec
	evicting     prometheus.Gauge
}

func newMetricVecs(reg prometheus.Registerer) *metricVecs {
	v := &metricVecs{
		reg: reg,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_calls_total", Help: "WDT API calls by seller and outcome category.",
		}, []string{SellerLabel, "category"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wdtcancel_call_duration_seconds", Help: "WDT API call latency by seller and outcome category.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{SellerLabel, "category"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_task_outcomes_total", Help: "Task attempts by seller and what the worker did: done, retry, snooze, hold, dead.",
		}, []string{SellerLabel, "action", "category"}),
		unrecorded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_task_outcomes_unrecorded_total", Help: "Task attempts by seller whose outcome the worker decided but could not record (Redis refused the write, the task's run ended, its lease lost to another worker): not in wdtcancel_task_outcomes_total; the task runs again, unless asynq's completion of a done, retried until the lease ends, lands first.",
		}, []string{SellerLabel, "action"}),
		unconfirmed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_task_outcomes_unconfirmed_total", Help: "Task attempts by seller whose outcome write Redis did not answer in time (a stall): it may have landed (the task then ends completed and is counted nowhere else) or not (the task runs again and is counted then). Not in wdtcancel_task_outcomes_total.",
		}, []string{SellerLabel, "action"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_rate_limit_waits_total", Help: "Attempts rescheduled without a call, by seller and reason (rate, inflight, cooldown, late, share).",
		}, []string{SellerLabel, "reason"}),
		cooldowns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_cooldowns_total", Help: "Shared cooldowns started or extended by a rate-limited answer from WDT, by seller.",
		}, []string{SellerLabel}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_dead_lettered_total", Help: "Tasks dead-lettered by this process, by seller and category.",
		}, []string{SellerLabel, "category"}),
		resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_clock_resyncs_total", Help: "Clock-skew answers after which the worker resynced and re-signed, by seller.",
		}, []string{SellerLabel}),
		ambiguous: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_dead_lettered_ambiguous_total", Help: "Tasks dead-lettered by this process flagged ambiguous (an earlier outcome was unknown: check the order in WDT before re-driving), by seller and category.",
		}, []string{SellerLabel, "category"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_lookups_total", Help: "Order lookups on the Qimen route by seller and result: cancelled, editable, other_state, not_found, failed, waited (no slot).",
		}, []string{SellerLabel, "result"}),
		evicting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wdtcancel_redis_evicting", Help: "1 while Redis's maxmemory-policy is not noeviction, so it may drop queued tasks and outcome memory (readiness is red).",
		}),
	}
	reg.MustRegister(v.calls, v.duration, v.outcomes, v.unrecorded, v.unconfirmed, v.waits, v.cooldowns, v.deadLettered, v.resyncs, v.ambiguous, v.lookups, v.evicting)
	return v
}

// seller curries the vectors with one seller's label and registers that
// seller's gauges, read at scrape time: the clock offset, the breaker and
// the dead-letter count.
func (v *metricVecs) seller(name string, clock *wdt.Clock, dlq *DLQ, breaker *Breaker) *Metrics {
	lbl := prometheus.Labels{SellerLabel: name}
	m := &Metrics{
		Calls:          v.calls.MustCurryWith(lbl),
		CallDuration:   v.duration.MustCurryWith(lbl),
		Outcomes:       v.outcomes.MustCurryWith(lbl),
		Unrecorded:     v.unrecorded.MustCurryWith(lbl),
		Unconfirmed:    v.unconfirmed.MustCurryWith(lbl),
		RateLimitWaits: v.waits.MustCurryWith(lbl),
		Cooldowns:      v.cooldowns.WithLabelValues(name),
		DeadLettered:   v.deadLettered.MustCurryWith(lbl),
		ClockResyncs:   v.resyncs.WithLabelValues(name),
		Ambiguous:      v.ambiguous.MustCurryWith(lbl),
		RedisEvicting:  v.evicting,
		Lookups:        v.lookups.MustCurryWith(lbl),
	}
	v.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wdtcancel_clock_offset_seconds", Help: "Learned WDT server clock minus local clock, by seller.", ConstLabels: lbl,
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
		v.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wdtcancel_config_fault", Help: "1 while a configuration fault holds every task of the seller (its circuit breaker is open for it; readiness is red).", ConstLabels: lbl,
		}, breakerIs(BreakerConfig)))
		v.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wdtcancel_breaker_open", Help: "1 while the seller's circuit breaker is open, for a configuration fault or a failing endpoint: its tasks are held without using retries.", ConstLabels: lbl,
		}, breakerIs(BreakerConfig, BreakerEndpoint)))
	}
	if dlq != nil {
		v.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wdtcancel_dead_letters", Help: "Records in the seller's dead-letter queue (all workers).", ConstLabels: lbl,
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
	for _, r := range []Reason{ReasonRate, ReasonInflight, ReasonCooldown, ReasonLate, ReasonShare} {
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

// unknownSellerGauge is wdtcancel_unknown_seller_queues: queues with tasks
// that no running worker fetches (store.ServedNow), as /readyz's
// unknown_sellers and `wdtcancel strays ls` list them.
func unknownSellerGauge(reg prometheus.Registerer, count func() int) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wdtcancel_unknown_seller_queues",
		Help: "Queues holding tasks for a seller no running worker serves (its tasks wait; readiness stays green; wdtcancel strays ls lists them).",
	}, func() float64 { return float64(count()) }))
}

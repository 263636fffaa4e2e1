package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// The handler's hooks into the outcome events' outbox (store/events.go):
// each final outcome's record is written by a script that also appends the
// event, so the event exists if and only if the outcome was recorded.

// cancelledMark writes the confirmed mark and the cancelled event, in one
// script: the result could not go into the task.
func (h *Handler) cancelledMark(ctx context.Context, at *attempt) error {
	emitted, err := h.memory.CancelledFinal(ctx, at.no, at.id, h.cancelledEvent(at))
	h.eventWritten(emitted, wdt.Cancelled)
	return err
}

// putFinal writes the dead-letter record and its event, in one script.
func (h *Handler) putFinal(ctx context.Context, at *attempt, rec Record) error {
	ev := store.EventFromRecord(rec, h.seller)
	emitted, err := h.dlq.PutFinal(ctx, rec, at.id, ev)
	h.eventWritten(emitted, wdt.Category(ev.Outcome))
	return err
}

func (h *Handler) cancelledEvent(at *attempt) store.Event {
	if at.cancelEventID == "" {
		at.cancelEventID = store.NewEventID()
	}
	status := 0
	ev := store.Event{
		EventID: at.cancelEventID, Type: store.EventType, PreStockinNo: at.no, Seller: h.seller, Queue: h.queue,
		Outcome: string(wdt.Cancelled), Category: string(wdt.Cancelled), WDTStatus: &status,
		Attempts: at.retried + 1, Source: at.payload.Source, FinalAt: time.Now().UTC(),
	}
	if !at.payload.RequestedAt.IsZero() {
		t := at.payload.RequestedAt
		ev.FirstAt = &t
	}
	return ev
}

// eventWritten counts an event the outbox took.
func (h *Handler) eventWritten(emitted bool, outcome wdt.Category) {
	if emitted && h.events != nil {
		h.events.WithLabelValues(string(outcome)).Inc()
	}
}

// eventVecs are the outcome events' series, one set per worker.
type eventVecs struct {
	written   *prometheus.CounterVec
	delivered *prometheus.CounterVec
	failures  *prometheus.CounterVec
	oldest    *prometheus.GaugeVec
}

func newEventVecs(reg prometheus.Registerer) *eventVecs {
	v := &eventVecs{
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_events_written_total", Help: "Outcome events written to the events stream by this worker, by seller and outcome.",
		}, []string{SellerLabel, "outcome"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_events_delivered_total", Help: "Outcome events the webhook receiver acknowledged with 2xx, by seller.",
		}, []string{SellerLabel}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wdtcancel_event_delivery_failures_total", Help: "Failed webhook tries, by seller and reason (network, status, redirect, config).",
		}, []string{SellerLabel, "reason"}),
		oldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wdtcancel_events_oldest_undelivered_seconds", Help: "Age of the oldest outcome event the webhook delivery has not delivered, by seller (0: none).",
		}, []string{SellerLabel}),
	}
	reg.MustRegister(v.written, v.delivered, v.failures, v.oldest)
	return v
}

// wireEvents gives a lane its event counter and, when the seller has a
// notify URL, its webhook notifier.
func (w *Worker) wireEvents(l *Lane, lc SellerLane) {
	if w.events == nil {
		w.events = newEventVecs(w.registry)
		w.ready.notifyStuck = w.notifyStuck
	}
	l.handler.events = w.events.written.MustCurryWith(prometheus.Labels{SellerLabel: l.name})
	// Exported from the start (0: nothing undelivered), so dashboards and
	// the alert see the series before the first event.
	w.events.oldest.WithLabelValues(l.name).Set(0)
	w.events.delivered.WithLabelValues(l.name)
	opts := w.cfg.Notify
	if lc.NotifyURL != "" {
		opts.URL, opts.Secret = lc.NotifyURL, lc.NotifySecret
	}
	if opts.URL == "" {
		return
	}
	l.notifier = newNotifier(w.rdb, l.queue, opts, l.log.With(zap.String("component", "webhook")), notifyMetrics{
		delivered: w.events.delivered.WithLabelValues(l.name),
		failures:  w.events.failures.MustCurryWith(prometheus.Labels{SellerLabel: l.name}),
		oldest:    w.events.oldest.WithLabelValues(l.name),
	})
}

// startNotifiers publishes the stream caps and starts the lanes' webhook
// delivery; stopNotifiers ends it (entries in flight stay pending).
func (w *Worker) startNotifiers(ctx context.Context) {
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.stopNotify = cancel
	for _, l := range w.lanes {
		if err := store.PublishEventCaps(ctx, w.rdb, l.queue, w.cfg.EventsMaxLen, w.cfg.EventsMaxAge); err != nil {
			l.log.Warn("could not publish the events stream's caps; writers use the defaults", zap.Error(err))
		}
		if l.notifier == nil {
			continue
		}
		w.notifyWG.Add(1)
		go func() { defer w.notifyWG.Done(); l.notifier.run(nctx) }()
	}
}

func (w *Worker) stopNotifiers() {
	if w.stopNotify != nil {
		w.stopNotify()
		w.notifyWG.Wait()
	}
}

// notifyStuck is the /readyz detail of every lane whose delivery is behind.
func (w *Worker) notifyStuck() []string {
	var out []string
	for _, l := range w.lanes {
		if l.notifier == nil {
			continue
		}
		if s := l.notifier.stuck(); s != "" {
			out = append(out, fmt.Sprintf("seller %q: %s", l.name, s))
		}
	}
	return out
}

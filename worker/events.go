package worker

import (
	"context"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// The handler's hooks into the outcome events' outbox (store/events.go):
// each final outcome's record is written by a script that also appends the
// event, so the event exists if and only if the outcome was recorded.

// confirmInTask writes the success result into asynq's task hash and the
// cancelled event, in one script. false: asynq no longer holds the task.
func (h *Handler) confirmInTask(ctx context.Context, at *attempt) (bool, error) {
	held, emitted, err := h.memory.ConfirmInTaskFinal(ctx, at.id, cancelledResult(at), h.cancelledEvent(at))
	h.eventWritten(emitted, wdt.Cancelled)
	return held, err
}

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
	status := 0
	ev := store.Event{
		EventID: store.NewEventID(), Type: store.EventType, PreStockinNo: at.no, Seller: h.seller, Queue: h.queue,
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

package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
)

// Looker is what the handler needs of a seller's order lookup
// (*qimen.Client): the order's state in WDT by its number. A failure is a
// *qimen.Error whose Category says what to do; it never says anything about
// the order.
type Looker interface {
	Lookup(ctx context.Context, preStockinNo string) (qimen.Result, error)
}

// The result label of wdtcancel_lookups_total.
const (
	lookupCancelled  = "cancelled"
	lookupEditable   = "editable"
	lookupOtherState = "other_state"
	lookupNotFound   = "not_found"
	lookupFailedRes  = "failed"
	lookupWaited     = "waited"
)

// beforeTaskMargin is how much earlier than the task's enqueue time an
// order must have been last modified for its cancellation to be called
// someone else's (already_cancelled). It covers the producer's clock against
// the worker's, and WDT's modified_date, which has whole seconds. An order
// cancelled inside the margin is filed `cancelled`: done either way, and the
// margin errs on naming wdtcancel, never on hiding one of its cancels.
const beforeTaskMargin = 2 * time.Minute

// lookUp asks the seller's lookup when the decision needs it (NeedsLookup):
// the answer, or the failure, becomes sit.Lookup. One lookup takes one slot
// of the seller's limiter, as a cancel does: WDT's quota is per app and
// minute, and the lookup signs with the seller's appkey. A lookup normally
// reads one page (docs/qimen.md says why one slot covers it). It returns
// the error the attempt reports: the cancel's, with the lookup's failure
// added.
func (h *Handler) lookUp(ctx context.Context, at *attempt, sit Situation, callErr error) (Situation, error) {
	if h.lookup == nil || !NeedsLookup(sit) {
		return sit, callErr
	}
	slot, err := h.limiter.Acquire(ctx)
	if err != nil {
		var we *WaitError
		if !errors.As(err, &we) {
			return Situation{Category: wdt.Redis, Called: sit.Called, Retried: sit.Retried, Limit: sit.Limit},
				fmt.Errorf("cannot take a slot for the order lookup: %w", err)
		}
		h.metrics.Lookups.WithLabelValues(lookupWaited).Inc()
		sit.Lookup, sit.Wait = &Looked{Failed: wdt.RateLimited}, jitter(we.After)+50*time.Millisecond
		return sit, joinLookupErr(callErr, err)
	}
	res, lerr := h.lookup.Lookup(ctx, at.no)
	slot.Release(ctx)
	if lerr != nil {
		cat := qimen.CategoryOf(lerr)
		h.metrics.Lookups.WithLabelValues(lookupFailedRes).Inc()
		if cat == wdt.Config {
			h.configFault("qimen lookup: "+string(qimen.KindOf(lerr)), lerr.Error())
		}
		sit.Lookup = &Looked{Failed: cat}
		return sit, joinLookupErr(callErr, lerr)
	}
	l := &Looked{Found: res.Found, Status: res.Status}
	if res.Found {
		l.BeforeTask = beforeTask(res.Modified, at.payload.RequestedAt, h.api.Clock().Offset())
	}
	h.metrics.Lookups.WithLabelValues(lookupLabel(res)).Inc()
	at.lookedUp = lookedUpRecord(res)
	sit.Lookup = l
	return sit, callErr
}

// beforeTask reports whether an order last modified at modified (WDT's
// clock) changed before the task was enqueued at requested (the producer's
// clock, taken as the worker's) by more than beforeTaskMargin. offset is
// WDT's clock minus ours, as the client learned it.
func beforeTask(modified, requested time.Time, offset time.Duration) bool {
	if modified.IsZero() || requested.IsZero() {
		return false
	}
	return modified.Add(-offset).Before(requested.Add(-beforeTaskMargin))
}

func lookupLabel(res qimen.Result) string {
	switch {
	case !res.Found:
		return lookupNotFound
	case res.Status == qimen.StatusCancelled:
		return lookupCancelled
	case res.Status.Cancellable():
		return lookupEditable
	}
	return lookupOtherState
}

// lookedUpRecord is the lookup's answer as the dead-letter record and the
// task result keep it.
func lookedUpRecord(res qimen.Result) *store.LookedUp {
	l := &store.LookedUp{Found: res.Found, At: res.CheckedAt.UTC()}
	if res.Found {
		st := int(res.Status)
		l.Status, l.State, l.Modified = &st, res.Status.String(), res.ModifiedText
	}
	return l
}

// joinLookupErr keeps the cancel's error (its WDT status goes on the
// record) and says why the lookup did not settle it.
func joinLookupErr(callErr, lookupErr error) error {
	if callErr == nil {
		return fmt.Errorf("order lookup: %w", lookupErr)
	}
	return fmt.Errorf("%w; the order lookup did not settle it: %v", callErr, lookupErr)
}

// confirmVerified records a completion the lookup proved: the task's
// result says which category and what the lookup saw, and the outcome
// memory forgets the number (a rerun of a cancelled order reads the result
// as its confirmation, as after a status 0).
func (h *Handler) confirmVerified(ctx context.Context, at *attempt, d Decision) {
	if at.id != "" && ctx.Err() == nil {
		if ok, err := h.memory.ConfirmInTask(ctx, at.id, verifiedResult(at, d.Category)); ok && err == nil {
			h.memory.ClearLater(ctx, at.no)
			return
		}
	}
	if err := h.memory.Cancelled(ctx, at.no); err != nil {
		h.log.Warn("cannot record the looked-up cancellation", zap.String("pre_stockin_no", at.no), zap.Error(err))
	}
}

// verifiedResult is taskResult with the category the lookup decided and
// what it saw: {"category":"already_cancelled","calls":1,"attempt":2,
// "looked_up":{...}}.
func verifiedResult(at *attempt, cat wdt.Category) []byte {
	b := taskResult(at.calls, at.retried+1)
	b = append([]byte(`{"category":"`+string(cat)+`"`), b[len(`{"category":"cancelled"`):]...)
	if at.lookedUp == nil {
		return b
	}
	l := at.lookedUp
	b = b[:len(b)-1]
	b = fmt.Appendf(b, `,"looked_up":{"found":%t`, l.Found)
	if l.Status != nil {
		b = fmt.Appendf(b, `,"status":%d,"state":%q,"modified":%q`, *l.Status, l.State, l.Modified)
	}
	return fmt.Appendf(b, `,"at":%q}}`, l.At.Format(time.RFC3339))
}

package worker_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// withLookup gives the worker a Qimen lookup on the harness's sandbox,
// sharing the cancel client's clock as cmd/wdtcancel wires it.
func (h *harness) withLookup(cfg *worker.Config) {
	h.t.Helper()
	api := cfg.Sellers[0].API.(*wdt.Client)
	creds, err := qimen.NewCredentials(sandbox.DefaultQimenAppKey, sandbox.DefaultQimenAppSecret, sandbox.DefaultQimenTargetAppKey)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := qimen.New(qimen.Config{URL: h.sb.URL + sandbox.QimenPath, Qimen: creds, WDT: api.Credentials(),
		HTTP: wdt.NewHTTPClient(), Clock: api.Clock()})
	if err != nil {
		h.t.Fatal(err)
	}
	cfg.Sellers[0].Lookup = c
}

// TestLookupSettlesDoubt: with the lookup, every doubtful outcome ends by
// the order's state, one row per state, and the record and the task result
// say what the lookup saw.
func TestLookupSettlesDoubt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"PRE10": 10, "DONE80": 80, "QC37": 37}, Unknown: sandbox.UnknownEditing})
	h.startWorker(func(c *worker.Config) { h.withLookup(c); c.Handler.MaxRetry = 3 })

	// A lost response: the order was cancelled by our own call.
	h.setFaults(sandbox.Faults{LostResponseRate: 1})
	h.enqueue("LOST1")
	h.attempts.Wait(t, "LOST1's lost response", 1, func(a attempt) bool { return a.PreStockinNo == "LOST1" && a.Category == wdt.UnknownOutcome })
	h.setFaults(sandbox.Faults{})
	if a := h.settled("LOST1"); a.Action != worker.ActDone || a.Category != wdt.Cancelled {
		t.Fatalf("LOST1: %v, want done cancelled by the lookup", a)
	}
	info := h.waitTask("LOST1", asynq.TaskStateCompleted)
	var res struct {
		Category string          `json:"category"`
		LookedUp json.RawMessage `json:"looked_up"`
	}
	if err := json.Unmarshal(info.Result, &res); err != nil || res.Category != "cancelled" || !strings.Contains(string(res.LookedUp), `"status":10`) {
		t.Fatalf("LOST1 result %s (%v)", info.Result, err)
	}

	h.enqueue("PRE10", "DONE80", "QC37")
	if a := h.settled("PRE10"); a.Action != worker.ActDone || a.Category != wdt.AlreadyCancelled {
		t.Fatalf("PRE10: %v, want done already_cancelled", a)
	}
	for no, st := range map[string]int{"DONE80": 80, "QC37": 37} {
		if a := h.settled(no); a.Action != worker.ActDead || a.Category != wdt.Rejected || a.Ambiguous {
			t.Fatalf("%s: %v, want a clean rejection", no, a)
		}
		rec := h.deadRecord(no)
		if rec.LookedUp == nil || !rec.LookedUp.Found || rec.LookedUp.Status == nil || *rec.LookedUp.Status != st || rec.LookedUp.At.IsZero() {
			t.Fatalf("%s: record %+v, looked up %+v", no, rec, rec.LookedUp)
		}
	}
}

// TestLookupNotFound: a number WDT does not hold is dead-lettered not_found.
func TestLookupNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Unknown: sandbox.UnknownMissing})
	h.startWorker(h.withLookup)
	h.enqueue("NOPE1")
	a := h.settled("NOPE1")
	if a.Action != worker.ActDead || a.Category != wdt.NotFound || a.Ambiguous {
		t.Fatalf("NOPE1: %v, want dead not_found", a)
	}
	if rec := h.deadRecord("NOPE1"); rec.LookedUp == nil || rec.LookedUp.Found {
		t.Fatalf("record %+v", rec)
	}
}

// TestLookupOutage: a lookup that keeps failing never turns a doubt into a
// clean rejection: the task retries, then goes ambiguous.
func TestLookupOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"OUT80": 80}})
	if err := h.sb.SetQimenFaultRates(1, 0, 0); err != nil {
		t.Fatal(err)
	}
	h.startWorker(func(c *worker.Config) { h.withLookup(c); c.Handler.MaxRetry = 2 })
	h.enqueue("OUT80")
	a := h.settled("OUT80")
	if a.Action != worker.ActDead || a.Category != wdt.Rejected || !a.Ambiguous {
		t.Fatalf("OUT80: %v, want an ambiguous rejection", a)
	}
	rec := h.deadRecord("OUT80")
	if rec.LookedUp != nil || rec.AmbiguousReason == "" || !strings.Contains(rec.Error, "lookup") {
		t.Fatalf("record %+v", rec)
	}
	retried := h.attempts.Wait(t, "a retry after the failed lookup", 1, func(x attempt) bool {
		return x.PreStockinNo == "OUT80" && x.Action == worker.ActRetry
	})
	if retried[0].Number != 1 {
		t.Fatalf("first attempt %v", retried[0])
	}
}

// TestNoLookupUnchanged: without a lookup a lost response still files an
// ambiguous rejection, and nothing calls the Qimen route.
func TestNoLookupUnchanged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	h.startWorker(nil)
	h.setFaults(sandbox.Faults{LostResponseRate: 1})
	h.enqueue("NL1")
	h.attempts.Wait(t, "NL1's lost response", 1, func(a attempt) bool { return a.PreStockinNo == "NL1" && a.Category == wdt.UnknownOutcome })
	h.setFaults(sandbox.Faults{})
	if a := h.settled("NL1"); a.Action != worker.ActDead || a.Category != wdt.Rejected || !a.Ambiguous {
		t.Fatalf("NL1: %v", a)
	}
	if rec := h.deadRecord("NL1"); rec.LookedUp != nil {
		t.Fatalf("record %+v", rec)
	}
	if st := h.sb.QimenStats(); st.Calls != 0 {
		t.Fatalf("Qimen calls without a lookup: %+v", st)
	}
}

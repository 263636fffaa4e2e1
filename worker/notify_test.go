package worker_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

const notifySecret = "NotifySecretQ81z"

// received is one POST a test receiver accepted.
type received struct {
	Event    store.Event
	HeaderID string
}

// receiver is a webhook receiver that verifies each POST's signature the
// documented way and answers what answer says for the n-th POST (1-based).
func receiver(t *testing.T, log *testkit.Log[received], answer func(n int64) int) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get(worker.HeaderTimestamp)
		if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			t.Errorf("timestamp %q not within 5 minutes", ts)
		}
		want := worker.SignWebhook([]byte(notifySecret), ts, body)
		if !hmac.Equal([]byte(r.Header.Get(worker.HeaderSignature)), []byte(want)) {
			t.Errorf("bad signature %q", r.Header.Get(worker.HeaderSignature))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		code := answer(n.Add(1))
		if code/100 == 3 {
			w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
		}
		w.WriteHeader(code)
		if code/100 != 2 {
			return
		}
		var ev store.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body is not an event: %v: %s", err, body)
		}
		log.Add(received{Event: ev, HeaderID: r.Header.Get(worker.HeaderEventID)})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestWebhookDeliversEveryFinalOutcome: a cancelled and a rejected number
// each reach the receiver once it answers 2xx, with a valid signature and
// the event ID in the header, after the receiver refused the first tries
// with a 500 and a redirect (never followed); the stream holds exactly
// those two events.
func TestWebhookDeliversEveryFinalOutcome(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"NT80": 80}})
	got := testkit.NewLog[received]()
	srv := receiver(t, got, func(n int64) int {
		switch n {
		case 1:
			return http.StatusInternalServerError
		case 2:
			return http.StatusFound
		}
		return http.StatusNoContent
	})
	w := h.startWorker(func(c *worker.Config) {
		c.Notify = worker.NotifyOptions{URL: srv.URL, Secret: []byte(notifySecret), Concurrency: 1, Timeout: 2 * time.Second, MaxBackoff: 50 * time.Millisecond}
	})
	h.enqueue("NT01", "NT80")
	evs := got.Wait(t, "both events delivered", 2, func(received) bool { return true })
	outcomes := map[string]string{}
	for _, r := range evs {
		if r.HeaderID != r.Event.EventID || r.Event.Type != store.EventType || r.Event.Queue != tasks.DefaultQueue {
			t.Errorf("delivered %+v", r)
		}
		outcomes[r.Event.PreStockinNo] = r.Event.Outcome
	}
	if outcomes["NT01"] != "cancelled" || outcomes["NT80"] != "rejected" {
		t.Fatalf("outcomes %v, want NT01 cancelled and NT80 rejected", outcomes)
	}
	stored, err := store.NewEvents(h.rdb, tasks.DefaultQueue).Range(context.Background(), "-", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 {
		t.Fatalf("stream holds %d events, want 2", len(stored))
	}
	// Every delivered event is acknowledged: nothing stays pending.
	if !testkit.Poll(func() bool {
		b, err := store.NewEvents(h.rdb, tasks.DefaultQueue).GroupBacklog(context.Background(), worker.NotifyGroup, time.Now())
		return err == nil && b.Pending == 0 && b.Unread == 0
	}) {
		t.Fatal("delivered events still pending in the consumer group")
	}
	if rep := w.Readiness().Check(context.Background()); !rep.Ready || len(rep.Notify) != 0 {
		t.Fatalf("readiness %+v", rep)
	}
}

// TestEventsWithoutWebhook: without --notify-url the stream is written all
// the same, one event per final outcome, for consumers of their own.
func TestEventsWithoutWebhook(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"NW80": 80}})
	h.startWorker(nil)
	h.enqueue("NW01", "NW80")
	h.settled("NW01")
	h.settled("NW80")
	stored, err := store.NewEvents(h.rdb, tasks.DefaultQueue).Range(context.Background(), "-", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 {
		t.Fatalf("stream holds %d events, want 2", len(stored))
	}
}

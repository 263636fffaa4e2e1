//go:build faults

package faults

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
)

// eventReceiver is a webhook receiver that misbehaves on purpose: it
// verifies every signature, then answers 500, a redirect, or hangs (a slow
// receiver the worker's --notify-timeout must cut) for a share of POSTs,
// and 2xx for the rest, recording each event it accepted, duplicates
// included.
type eventReceiver struct {
	secret []byte
	mu     sync.Mutex
	rng    *rand.Rand
	got    map[string][]store.Event // event ID -> each accepted delivery
	bad    int                      // signatures that did not verify
	faults map[string]int
}

func (r *eventReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ts := req.Header.Get(worker.HeaderTimestamp)
	r.mu.Lock() // unlocked on every path below, before any wait
	if !hmac.Equal([]byte(req.Header.Get(worker.HeaderSignature)), []byte(worker.SignWebhook(r.secret, ts, body))) {
		r.bad++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	roll := r.rng.Float64()
	switch {
	case roll < 0.15:
		r.faults["500"]++
		r.mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
		return
	case roll < 0.25:
		r.faults["redirect"]++
		r.mu.Unlock()
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	case roll < 0.30:
		r.faults["slow"]++
		r.mu.Unlock()
		select { // 30 s, or until the worker gives up on it
		case <-req.Context().Done():
		case <-time.After(30 * time.Second):
		}
		return
	}
	var ev store.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		r.bad++
		r.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.got[ev.EventID] = append(r.got[ev.EventID], ev)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// 18. Outcome events under faults: the receiver is unreachable until the
// workers' first webhook tries fail, then answers 500s, redirects and 30 s
// hangs among its 2xx; workers are SIGKILLed mid-delivery (each time the
// receiver has taken another share of the events) and restarted. Every final outcome
// must reach the receiver at least once, none invented, and duplicates
// only with the same event ID.
func TestEventDeliveryUnderFaults(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{AppendFsync: "everysec"})
	o := makeOrders("EV", size(300, 3000), 4)
	e.startSandbox(o, "--latency", "20ms")
	secretFile := filepath.Join(e.dir, "notify-secret")
	const secret = "faults-notify-secret-9Qe"
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := e.freeAddr()
	args := []string{"--concurrency", "4", "--notify-url", "http://" + addr + "/events", "--notify-secret-file", secretFile,
		"--notify-timeout", "1s", "--notify-claim-idle", "3s"}
	workers := []*proc{e.startWorker(args...), e.startWorker(args...)}
	acked := e.enqueueAll(o.nos)

	// Unreachable at first: nothing listens at addr until the workers
	// have found so (a webhook try failed on the network).
	if !testkit.PollWithin(time.Minute, func() bool { return deliveryNetworkFailures(e, workers) > 0 }) {
		t.Fatalf("no webhook try failed on the network within 1 min while nothing listened at %s", addr)
	}
	rcv := &eventReceiver{secret: []byte(secret), rng: rand.New(rand.NewPCG(1, 2)), got: map[string][]store.Event{}, faults: map[string]int{}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rcv}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	// SIGKILL a worker each time the receiver has taken another share of
	// the deliveries, so every kill lands mid-delivery, until the
	// receiver has them all.
	kills, nKills := 0, size(3, 20)
	step := max(len(acked)/(nKills+2), 1)
	for kills < nKills {
		next := min(step*(kills+1), len(acked))
		if !testkit.PollWithin(2*time.Minute, func() bool { return rcv.delivered() >= next }) {
			t.Fatalf("the receiver took %d distinct numbers' events within 2 min of the last kill, want %d", rcv.delivered(), next)
		}
		if next == len(acked) {
			break // all delivered: no delivery left to interrupt
		}
		i := rand.IntN(len(workers))
		workers[i].Kill()
		workers[i] = e.startWorker(args...)
		kills++
	}
	e.waitSettled(len(acked), 4*time.Minute)
	finals := e.finalOutcomes()

	// Delivery catches up: wait until every final outcome was delivered.
	if !testkit.PollWithin(3*time.Minute, func() bool { return rcv.missing(finals) == 0 }) {
		t.Fatalf("%d of %d final outcomes never delivered", rcv.missing(finals), len(finals))
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	invented, dupDeliveries := 0, 0
	idsOf := map[string]map[string]bool{}
	for id, evs := range rcv.got {
		dupDeliveries += len(evs) - 1
		ev := evs[0]
		if want, ok := finals[ev.PreStockinNo]; !ok || want != ev.Outcome {
			invented++
			t.Errorf("delivered %s %s %s, but the recorded final outcome is %q", id, ev.PreStockinNo, ev.Outcome, want)
		}
		if idsOf[ev.PreStockinNo] == nil {
			idsOf[ev.PreStockinNo] = map[string]bool{}
		}
		idsOf[ev.PreStockinNo][id] = true
	}
	for no, ids := range idsOf {
		if len(ids) != 1 {
			t.Errorf("%s delivered under %d event IDs, want 1 (a duplicate must carry the same ID)", no, len(ids))
		}
	}
	if rcv.bad != 0 {
		t.Errorf("%d POSTs with a bad signature or body", rcv.bad)
	}
	t.Logf("outcome events: %d final outcomes, every one delivered; %d invented; %d duplicate deliveries (same event ID); receiver faults %v; %d SIGKILLs",
		len(finals), invented, dupDeliveries, rcv.faults, kills)
}

// delivered counts the distinct numbers whose events the receiver took.
func (r *eventReceiver) delivered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, evs := range r.got {
		seen[evs[0].PreStockinNo] = true
	}
	return len(seen)
}

// deliveryNetworkFailures sums the webhook tries the workers saw fail on
// the network (nothing listening), read from their /metrics.
func deliveryNetworkFailures(e *env, workers []*proc) float64 {
	var n float64
	for _, w := range workers {
		n += e.metricValue(w.ops, `wdtcancel_event_delivery_failures_total{reason="network",seller="default"}`)
	}
	return n
}

// missing counts the final outcomes not yet delivered.
func (r *eventReceiver) missing(finals map[string]string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, evs := range r.got {
		seen[evs[0].PreStockinNo] = true
	}
	n := 0
	for no := range finals {
		if !seen[no] {
			n++
		}
	}
	return n
}

func (e *env) freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// finalOutcomes is each settled number's recorded outcome as its event
// names it: cancelled for a completed task, else the dead letter's
// category (ambiguous when flagged).
func (e *env) finalOutcomes() map[string]string {
	e.t.Helper()
	out := map[string]string{}
	insp := e.inspector()
	defer insp.Close()
	for page := 1; ; page++ {
		done, err := insp.ListCompletedTasks(tasks.DefaultQueue, asynq.PageSize(1000), asynq.Page(page))
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ti := range done {
			out[ti.ID] = "cancelled"
		}
		if len(done) < 1000 {
			break
		}
	}
	opt, _ := redis.ParseURL(e.redis.URL())
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	recs, err := worker.NewDLQ(rdb, tasks.DefaultQueue).List(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range recs {
		out[r.PreStockinNo] = store.EventFromRecord(r, "").Outcome
	}
	return out
}

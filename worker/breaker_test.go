package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// outageFront forwards to the sandbox while up; while down it cuts every
// call after reading it, the way a dead upstream behind a load balancer
// does: the request was written, no answer comes.
type outageFront struct {
	down  atomic.Bool
	seen  atomic.Int64 // calls that met the outage
	srv   *httptest.Server
	proxy *httputil.ReverseProxy
}

func newOutageFront(t *testing.T, sandboxURL string) *outageFront {
	u, _ := url.Parse(sandboxURL)
	f := &outageFront{proxy: httputil.NewSingleHostReverseProxy(u)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			f.seen.Add(1)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		f.proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (h *harness) clientFor(apiURL string) *wdt.Client {
	creds, err := wdt.NewCredentials(sandbox.DefaultSID, sandbox.DefaultAppKey, testSecret+":"+testSalt)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := wdt.New(apiURL, creds)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// An outage longer than the whole retry schedule: the breaker opens, every
// task is held without using its retries, the readiness says why, and when
// the endpoint is back the probe closes the breaker and the held tasks run
// at once (their hold delay is far longer than the test). No order is
// exhausted or dead-lettered.
func TestOutageLongerThanRetriesIsHeldNotExhausted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	front := newOutageFront(t, h.sb.URL)
	front.down.Store(true)
	w := h.startWorker(func(c *worker.Config) {
		c.Sellers = worker.SingleSeller(h.clientFor(front.srv.URL+"/openapi"), 0, 0)
		c.Handler.MaxRetry = 3
		c.Handler.BreakerHoldDelay = time.Hour
		c.Breaker = worker.BreakerOptions{Threshold: 3, Window: 300 * time.Millisecond, ProbeEvery: 20 * time.Millisecond}
	})
	nos := []string{"OUT1", "OUT2", "OUT3", "OUT4", "OUT5", "OUT6", "OUT7", "OUT8"}
	h.enqueue(nos...)

	// Every task is held, and the probes go on until far more calls have
	// failed than any task's budget.
	for _, no := range nos {
		h.attempts.Wait(t, no+" held", 1, ended(worker.ActHold, no))
	}
	h.attempts.Wait(t, "more failed calls than the retry budget", 3*len(nos)+1, func(a attempt) bool { return a.Calls > 0 })
	var rep worker.ReadyReport
	if code := getJSON(t, "http://"+w.OpsAddr()+"/readyz", &rep); code != 503 || !strings.Contains(strings.Join(rep.Reasons, " "), "circuit breaker open") {
		t.Fatalf("readyz during the outage: %d %+v", code, rep)
	}
	for _, no := range nos {
		info, _ := h.insp.GetTaskInfo(tasks.DefaultQueue, no)
		if info.Retried >= 3 {
			t.Fatalf("%s used %d retries during the outage", no, info.Retried)
		}
	}
	if n := h.attempts.Count(func(a attempt) bool { return a.Action == worker.ActDead }); n != 0 {
		t.Fatalf("%d tasks dead-lettered during the outage:\n%s", n, h.attempts.Dump())
	}

	front.down.Store(false)
	for _, no := range nos {
		h.attempts.Wait(t, no+" done", 1, ended(worker.ActDone, no))
		if o := h.order(no); o.Status != sandbox.StateCancelled {
			t.Fatalf("%s at the sandbox: %+v", no, o)
		}
	}
	if n, _ := h.dlq.Count(context.Background()); n != 0 {
		t.Fatalf("%d dead letters after an outage", n)
	}
	if st, err := w.Seller("default").Breaker().State(context.Background()); err != nil || st != nil {
		t.Fatalf("breaker after recovery: %+v %v", st, err)
	}
	if code := getJSON(t, "http://"+w.OpsAddr()+"/readyz", &rep); code != 200 {
		t.Fatalf("readyz after recovery: %d %+v", code, rep)
	}
}

// Lost responses among good answers never open the breaker: a definite
// answer within the window keeps it closed, and each order settles on its
// own: done, or dead-lettered as ambiguous after its response was lost.
func TestSomeLostResponsesDoNotOpenTheBreaker(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Seed: 11})
	h.startWorker(func(c *worker.Config) {
		c.Breaker = worker.BreakerOptions{Threshold: 2, Window: 10 * time.Second, ProbeEvery: 100 * time.Millisecond}
	})
	// One definite answer first: WDT has been answering. (On a fresh queue,
	// two lost responses before any answer at all would rightly open a
	// breaker of threshold 2: nothing says the endpoint ever worked.)
	h.enqueue("LR-FIRST")
	if a := h.settled("LR-FIRST"); a.Action != worker.ActDone {
		t.Fatalf("first order: %+v", a)
	}
	if err := h.sb.SetFaultRates(sandbox.Faults{LostResponseRate: 0.3}); err != nil {
		t.Fatal(err)
	}
	var nos []string
	for i := 0; i < 40; i++ {
		nos = append(nos, fmt.Sprintf("LR%03d", i))
	}
	h.enqueue(nos...)
	settled := map[string]attempt{}
	for _, no := range nos {
		settled[no] = h.settled(no)
	}
	if held := h.attempts.Count(func(a attempt) bool { return a.Action == worker.ActHold }); held != 0 {
		t.Fatalf("%d attempts held although WDT kept answering", held)
	}
	lost := 0
	for _, no := range nos {
		o := h.order(no)
		lost += o.LostResponses
		if o.Status != sandbox.StateCancelled {
			t.Fatalf("%s not cancelled at the sandbox: %+v", no, o)
		}
		if settled[no].Action == worker.ActDead {
			if rec := h.deadRecord(no); !rec.Ambiguous {
				t.Fatalf("%s cancelled at the sandbox, dead-lettered without ambiguous: %+v", no, rec)
			}
		}
	}
	if lost == 0 {
		t.Fatal("the sandbox lost no response: the test proves nothing")
	}
}

// applyThenGarbleFront forwards every call to the sandbox, so WDT applies
// it, and then replaces the first answer for each order with what a real
// gateway sends when its upstream was slow: the shape of issue 10's first
// finding, written apart from the sandbox's own fault model.
func applyThenGarbleFront(t *testing.T, sandboxURL string, status int, contentType, body string) *httptest.Server {
	u, _ := url.Parse(sandboxURL)
	proxy := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		raw, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(raw))
		proxy.ServeHTTP(rec, r)
		mu.Lock()
		first := !seen[string(raw)]
		seen[string(raw)] = true
		mu.Unlock()
		if !first {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A cancel WDT applied and then answered with anything but a definite WDT
// answer is an unknown outcome: the retry's "not editable" is filed
// ambiguous, never as a clean rejection.
func TestAppliedThenGarbledIsNeverACleanRejection(t *testing.T) {
	t.Parallel()
	nginx504 := "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center><hr><center>nginx</center></body></html>"
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
	}{
		{"504 nginx page", 504, "text/html", nginx504},
		{"502 plain text", 502, "text/plain", "Bad Gateway"},
		{"200 html page", 200, "text/html", nginx504},
		{"200 empty", 200, "application/json", ""},
		{"200 truncated json", 200, "application/json", `{"status":`},
		{"500 with status 0", 500, "application/json", `{"status":0}`},
		{"200 status 99", 200, "application/json", `{"status":99,"message":"系统错误"}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, sandbox.Options{})
			front := applyThenGarbleFront(t, h.sb.URL, tt.status, tt.contentType, tt.body)
			w := h.startWorker(func(c *worker.Config) { c.Sellers = worker.SingleSeller(h.clientFor(front.URL+"/openapi"), 0, 0) })
			nos := []string{fmt.Sprintf("AG%d-1", i), fmt.Sprintf("AG%d-2", i)}
			h.enqueue(nos...)
			for _, no := range nos {
				if a := h.settled(no); a.Action != worker.ActDead || a.Category != wdt.Rejected || !a.Ambiguous {
					t.Fatalf("%s: cancelled at WDT, settled as %v", no, a)
				}
				if o := h.order(no); o.Status != sandbox.StateCancelled || o.CancelCalls != 2 {
					t.Fatalf("%s at the sandbox: %+v, want cancelled by the first of two calls", no, o)
				}
				if rec := h.deadRecord(no); rec.Category != wdt.Rejected || !rec.Ambiguous {
					t.Fatalf("%s: cancelled at WDT, dead-lettered %s ambiguous=%v", no, rec.Category, rec.Ambiguous)
				}
			}
			if got := testutil.ToFloat64(w.Seller("default").Metrics().Ambiguous.WithLabelValues(string(wdt.Rejected))); got != float64(len(nos)) {
				t.Fatalf("wdtcancel_dead_lettered_ambiguous_total{category=rejected} = %v, want %d", got, len(nos))
			}
		})
	}
}

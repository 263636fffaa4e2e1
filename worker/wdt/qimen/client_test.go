package qimen_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// Distinctive secrets, so a leak is found wherever it lands.
const (
	testWDTSecret   = "wdt-secret-Zq81"
	testWDTSalt     = "wdt-salt-Xv42"
	testQimenSecret = "qimen-secret-Ke77"
)

// startSandbox runs a sandbox with the test's own secrets on both routes.
func startSandbox(t *testing.T, opts sandbox.Options) *sandbox.Server {
	t.Helper()
	opts.AppSecret = testWDTSecret + ":" + testWDTSalt
	if opts.Qimen.AppSecret == "" {
		opts.Qimen.AppSecret = testQimenSecret
	}
	srv, err := sandbox.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// newClient is a lookup client for srv; edit changes its config.
func newClient(t *testing.T, srv *sandbox.Server, edit func(*qimen.Config)) *qimen.Client {
	t.Helper()
	h := wdt.NewHTTPClient()
	t.Cleanup(h.CloseIdleConnections)
	cfg := qimen.Config{URL: srv.URL + sandbox.QimenPath, Qimen: srv.QimenCredentials(), WDT: srv.Credentials(), HTTP: h}
	if edit != nil {
		edit(&cfg)
	}
	c, err := qimen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func lookup(t *testing.T, c *qimen.Client, no string) (qimen.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Lookup(ctx, no)
}

func mustFind(t *testing.T, c *qimen.Client, no string) qimen.Result {
	t.Helper()
	res, err := lookup(t, c, no)
	if err != nil {
		t.Fatalf("lookup %s: %v", no, err)
	}
	if !res.Found {
		t.Fatalf("lookup %s: not found", no)
	}
	return res
}

func TestLookupReadsEveryState(t *testing.T) {
	states := []qimen.OrderStatus{qimen.StatusPending, qimen.StatusCancelled, qimen.StatusEditing, qimen.StatusReview,
		qimen.StatusAwaitingQC, qimen.StatusQCConfirming, qimen.StatusCompleted}
	orders := map[string]int{}
	for _, st := range states {
		orders[fmt.Sprintf("RK-%d", st)] = int(st)
	}
	srv := startSandbox(t, sandbox.Options{Orders: orders, Unknown: sandbox.UnknownMissing})
	c := newClient(t, srv, nil)
	for _, st := range states {
		t.Run(st.String(), func(t *testing.T) {
			res := mustFind(t, c, fmt.Sprintf("RK-%d", st))
			if res.Status != st {
				t.Fatalf("status = %v, want %v", res.Status, st)
			}
			if res.Modified.IsZero() || res.ModifiedText == "" || res.Pages != 1 {
				t.Fatalf("result %+v: want a modified time and one page", res)
			}
		})
	}
}

// The lookup sees what the cancel route did: one ground truth.
func TestLookupSeesACancelMadeThroughOpenAPI(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newClient(t, srv, nil)
	before := mustFind(t, c, "RK0001")
	if before.Status != qimen.StatusEditing {
		t.Fatalf("before the cancel: %v, want 20 editing", before.Status)
	}
	h := wdt.NewHTTPClient()
	t.Cleanup(h.CloseIdleConnections)
	wc, err := wdt.New(srv.APIURL(), srv.Credentials(), wdt.WithHTTPClient(h))
	if err != nil {
		t.Fatal(err)
	}
	if err := wc.CancelPreStockin(context.Background(), "RK0001"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	after := mustFind(t, c, "RK0001")
	if after.Status != qimen.StatusCancelled {
		t.Fatalf("after the cancel: %v, want 10 cancelled", after.Status)
	}
	if after.Modified.Before(before.Modified) {
		t.Fatalf("modified went back: %v then %v", before.Modified, after.Modified)
	}
}

func TestLookupNotFound(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{Unknown: sandbox.UnknownMissing, Orders: map[string]int{"RK1": 80}})
	c := newClient(t, srv, nil)
	res, err := lookup(t, c, "RK-NONE")
	if err != nil || res.Found {
		t.Fatalf("unknown number: %+v, %v; want not found and no error", res, err)
	}
	// An order last modified before the window is not found either: the
	// window is by modified time.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	res, err = c.LookupWindow(ctx, "RK1", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	if err != nil || res.Found {
		t.Fatalf("order outside the window: %+v, %v; want not found", res, err)
	}
	if res, err = c.LookupWindow(ctx, "RK1", now.Add(-time.Hour), now.Add(time.Hour)); err != nil || !res.Found || res.Status != 80 {
		t.Fatalf("order inside the window: %+v, %v; want 80", res, err)
	}
}

// With a loose (prefix) match, the number's own order may be on a later
// page: the lookup reads pages until it is found, and picks its own number
// out of the others.
func TestLookupPages(t *testing.T) {
	orders := map[string]int{}
	for i := 0; i < 45; i++ {
		orders[fmt.Sprintf("RK1%02d", i)] = 20
	}
	// A clock that moves on at every reading, so RK1's change is later
	// than the others' creation however fast the machine.
	base, ticks := time.Now(), atomic.Int64{}
	now := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Microsecond) }
	srv := startSandbox(t, sandbox.Options{Orders: orders, Unknown: sandbox.UnknownMissing, Now: now,
		Qimen: sandbox.QimenOptions{Match: sandbox.QimenMatchPrefix}})
	srv.SetOrder("RK1", 30) // modified last: sorted after the 45 others
	c := newClient(t, srv, func(c *qimen.Config) { c.PageSize = 20 })
	res := mustFind(t, c, "RK1")
	if res.Status != qimen.StatusReview || res.Pages != 3 {
		t.Fatalf("result %+v: want 30 on page 3", res)
	}
	if got := srv.QimenStats().ByResult["ok"]; got != 3 {
		t.Fatalf("sandbox answered %d pages, want 3", got)
	}
	// Not found after reading every page.
	res, err := lookup(t, c, "RK1X")
	if err != nil || res.Found {
		t.Fatalf("RK1X: %+v, %v", res, err)
	}
	// Too many pages for MaxPages: an error, never "not found".
	c2 := newClient(t, srv, func(c *qimen.Config) { c.PageSize = 20; c.MaxPages = 2 })
	if _, err := lookup(t, c2, "RK1"); qimen.KindOf(err) != qimen.KindGarbled {
		t.Fatalf("over MaxPages: %v, want a garbled error", err)
	}
}

// Every way the Qimen or WDT side refuses the call is a typed error whose
// category is the fix, never a result.
func TestLookupRefusals(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	cases := []struct {
		name     string
		edit     func(*qimen.Config)
		kind     qimen.Kind
		category wdt.Category
		code     string
		status   int
	}{
		{"wrong qimen secret", func(c *qimen.Config) { c.Qimen.AppSecret = "wrong-qimen-secret" }, qimen.KindEnvelope, wdt.Config, sandbox.QimenCodeSignCheck, wdt.NoStatus},
		{"wrong qimen appkey", func(c *qimen.Config) { c.Qimen.AppKey = "other" }, qimen.KindEnvelope, wdt.Config, sandbox.QimenCodeInvalidAppKey, wdt.NoStatus},
		{"wrong target appkey", func(c *qimen.Config) { c.Qimen.TargetAppKey = "other" }, qimen.KindEnvelope, wdt.Config, sandbox.QimenCodeInvalidTarget, wdt.NoStatus},
		{"wrong method", func(c *qimen.Config) { c.Method = "wdt.wms.stockin.prestockin.other" }, qimen.KindEnvelope, wdt.Config, sandbox.QimenCodeInvalidMethod, wdt.NoStatus},
		{"wrong wdt secret", func(c *qimen.Config) { c.WDT.Secret = "wrong-wdt-secret" }, qimen.KindStatus, wdt.Config, "", 1},
		{"wrong wdt salt", func(c *qimen.Config) { c.WDT.Salt = "wrong-wdt-salt" }, qimen.KindStatus, wdt.Config, "", 1},
		{"wrong customer", func(c *qimen.Config) { c.CustomerID = "nobody" }, qimen.KindStatus, wdt.Config, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, srv, tc.edit)
			res, err := lookup(t, c, "RK0001")
			var e *qimen.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %+v, %v; want a *qimen.Error", res, err)
			}
			if e.Kind != tc.kind || e.Category != tc.category || e.Code != tc.code && tc.code != "" || e.Status != tc.status {
				t.Fatalf("error %+v; want kind %s, category %s, code %q, status %d", e, tc.kind, tc.category, tc.code, tc.status)
			}
			if res.Found {
				t.Fatal("a refused lookup must not find anything")
			}
			testkit.NoLeaks(t, "error", err.Error(), testWDTSecret, testWDTSalt, testQimenSecret, "wrong-qimen-secret", "wrong-wdt-secret", "wrong-wdt-salt")
		})
	}
}

// A server clock an hour ahead: the first lookup is refused for its
// timestamp (ClockSkew), and it taught the client the offset, so the next
// one goes through.
func TestLookupLearnsTheClock(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{ClockOffset: time.Hour})
	c := newClient(t, srv, nil)
	_, err := lookup(t, c, "RK0001")
	if qimen.CategoryOf(err) != wdt.ClockSkew {
		t.Fatalf("first lookup: %v, want clock_skew", err)
	}
	if res := mustFind(t, c, "RK0001"); res.Status != qimen.StatusEditing {
		t.Fatalf("second lookup: %v", res.Status)
	}
}

func TestLookupFaults(t *testing.T) {
	t.Run("outage", func(t *testing.T) {
		srv := startSandbox(t, sandbox.Options{Seed: 7, Qimen: sandbox.QimenOptions{OutageRate: 1}})
		c := newClient(t, srv, nil)
		kinds := map[qimen.Kind]int{}
		for i := 0; i < 40; i++ {
			res, err := lookup(t, c, "RK0001")
			if err == nil || res.Found {
				t.Fatalf("lookup %d during an outage: %+v, %v", i, res, err)
			}
			if cat := qimen.CategoryOf(err); cat != wdt.UnknownOutcome {
				t.Fatalf("lookup %d: category %s (%v); an outage is retried, never a config fault", i, cat, err)
			}
			kinds[qimen.KindOf(err)]++
		}
		for _, k := range []qimen.Kind{qimen.KindHTTP, qimen.KindNoAnswer, qimen.KindEnvelope} {
			if kinds[k] == 0 {
				t.Errorf("no %s error in 40 outage lookups: %v", k, kinds)
			}
		}
	})
	t.Run("garbled", func(t *testing.T) {
		srv := startSandbox(t, sandbox.Options{Seed: 7, Qimen: sandbox.QimenOptions{GarbledRate: 1}})
		c := newClient(t, srv, nil)
		for i := 0; i < 40; i++ {
			res, err := lookup(t, c, "RK0001")
			if qimen.KindOf(err) != qimen.KindGarbled || qimen.CategoryOf(err) != wdt.UnknownOutcome || res.Found {
				t.Fatalf("lookup %d of a garbled envelope: %+v, %v", i, res, err)
			}
		}
		if n := len(srv.QimenStats().ByResult); n != 6 {
			t.Fatalf("40 lookups met %d garbled variants (%v), want all 6", n, srv.QimenStats().ByResult)
		}
	})
	t.Run("stale", func(t *testing.T) {
		srv := startSandbox(t, sandbox.Options{Qimen: sandbox.QimenOptions{StaleRate: 1}})
		srv.SetOrder("RK0001", 80) // was 20 (first seen), now 80
		c := newClient(t, srv, nil)
		if res := mustFind(t, c, "RK0001"); res.Status != qimen.StatusEditing {
			t.Fatalf("stale answer: %v, want the previous state 20", res.Status)
		}
	})
	t.Run("reproducible", func(t *testing.T) {
		run := func() map[string]int {
			srv := startSandbox(t, sandbox.Options{Seed: 42, Qimen: sandbox.QimenOptions{OutageRate: 0.3, GarbledRate: 0.3, StaleRate: 0.2}})
			c := newClient(t, srv, nil)
			for i := 0; i < 30; i++ {
				lookup(t, c, "RK0001")
			}
			return srv.QimenStats().ByResult
		}
		a, b := run(), run()
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("same seed, different faults: %v vs %v", a, b)
		}
	})
}

// fakeQimen answers every call with body (and status), after echoing the
// request into it where the body says {{echo}}: a server that quotes the
// signed request back must not get a secret into an error.
func fakeQimen(t *testing.T, status int, body string) *qimen.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		echo := strings.ReplaceAll(r.URL.String()+"&"+string(raw), `"`, `\"`)
		w.WriteHeader(status)
		io.WriteString(w, strings.ReplaceAll(body, "{{echo}}", echo))
	}))
	t.Cleanup(srv.Close)
	h := wdt.NewHTTPClient()
	t.Cleanup(h.CloseIdleConnections)
	creds, err := wdt.NewCredentials("sid", "key", testWDTSecret+":"+testWDTSalt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := qimen.New(qimen.Config{URL: srv.URL + "/router/qm", WDT: creds, HTTP: h,
		Qimen: qimen.Credentials{AppKey: "qk", AppSecret: testQimenSecret, TargetAppKey: "tk"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The envelope is read strictly: everything a lax parser would take for an
// answer is garbled, and everything else has its own kind.
func TestLookupParsesStrictly(t *testing.T) {
	order := func(fields string) string {
		return `{"response":{"flag":"success","status":0,"data":{"total_count":1,"order":[{` + fields + `}]}}}`
	}
	ok := `"stockin_no":"RK1","status":10,"modified_date":"2026-12-06 10:00:00"`
	cases := []struct {
		name   string
		status int
		body   string
		kind   qimen.Kind
		cat    wdt.Category
		found  bool
	}{
		{"well formed", 200, order(ok), "", "", true},
		{"no flag", 200, `{"response":{"status":0,"data":{"total_count":0,"order":[]}}}`, "", "", false},
		{"empty", 200, ``, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"html", 200, `<html>busy</html>`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"cut", 200, `{"response":{"flag":"success","status":0,`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"trailing", 200, order(ok) + ` x`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"two documents", 200, order(ok) + order(ok), qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"duplicate key deep", 200, order(ok + `,"status":20`), qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"upper-case wrapper", 200, `{"RESPONSE":{"flag":"success","status":0,"data":{"total_count":0}}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"two wrappers", 200, `{"response":{},"error_response":{}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"upper-case status", 200, `{"response":{"flag":"success","STATUS":0,"data":{"total_count":0}}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"float status", 200, `{"response":{"flag":"success","status":0.0,"data":{"total_count":0}}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"string status", 200, `{"response":{"flag":"success","status":"0","data":{"total_count":0}}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"odd flag", 200, `{"response":{"flag":"SUCCESS","status":0,"data":{"total_count":0}}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"failure with status 0", 200, `{"response":{"flag":"failure","status":0,"data":{"total_count":0}}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"no data", 200, `{"response":{"flag":"success","status":0}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"count without orders", 200, `{"response":{"flag":"success","status":0,"data":{"total_count":1}}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"count beyond the page", 200, `{"response":{"flag":"success","status":0,"data":{"total_count":2,"order":[{` + ok + `}]}}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"order status as text", 200, order(`"stockin_no":"RK1","status":"10","modified_date":"2026-12-06 10:00:00"`), qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"order without modified", 200, order(`"stockin_no":"RK1","status":10`), qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"order modified unreadable", 200, order(`"stockin_no":"RK1","status":10,"modified_date":"yesterday"`), qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"order without number", 200, order(`"status":10,"modified_date":"2026-12-06 10:00:00"`), qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"two states for one number", 200, `{"response":{"flag":"success","status":0,"data":{"total_count":2,"order":[{` + ok + `},{"stockin_no":"RK1","status":80,"modified_date":"2026-12-06 10:00:00"}]}}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
		{"other numbers only", 200, order(`"stockin_no":"RK10","status":10,"modified_date":"2026-12-06 10:00:00"`), "", "", false},
		{"negative state", 200, order(`"stockin_no":"RK1","status":-2,"modified_date":"2026-12-06 10:00:00"`), "", "", true},
		{"envelope failure", 200, `{"response":{"flag":"failure","code":"sign-check-failure","message":"Illegal request"}}`, qimen.KindEnvelope, wdt.Config, false},
		{"envelope limit", 200, `{"response":{"flag":"failure","code":"isv.app-call-limited","message":"App Call Limited"}}`, qimen.KindEnvelope, wdt.RateLimited, false},
		{"envelope unknown", 200, `{"response":{"flag":"failure","code":"isp.unknown-error","message":"oops"}}`, qimen.KindEnvelope, wdt.UnknownOutcome, false},
		{"top error_response", 200, `{"error_response":{"code":25,"msg":"Invalid signature","sub_code":"isv.invalid-signature"}}`, qimen.KindEnvelope, wdt.Config, false},
		{"wdt status 100 window", 200, `{"response":{"flag":"failure","status":100,"message":"参数中必须包含起止时间"}}`, qimen.KindStatus, wdt.Config, false},
		{"wdt rate limit", 200, `{"response":{"flag":"failure","status":100,"message":"超过每分钟最大调用频率限制,请稍后重试"}}`, qimen.KindStatus, wdt.RateLimited, false},
		{"wdt status 99", 200, `{"response":{"status":99,"message":"系统错误"}}`, qimen.KindStatus, wdt.UnknownOutcome, false},
		{"http 500", 500, order(ok), qimen.KindHTTP, wdt.UnknownOutcome, false},
		{"http 404", 404, `not here`, qimen.KindHTTP, wdt.Config, false},
		{"http 302", 302, ``, qimen.KindHTTP, wdt.Config, false},
		{"too large", 200, `{"response":{"flag":"success","status":0,"data":{"total_count":0,"pad":"` + strings.Repeat("x", qimen.MaxBodyBytes) + `"}}}`, qimen.KindGarbled, wdt.UnknownOutcome, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeQimen(t, tc.status, tc.body)
			res, err := lookup(t, c, "RK1")
			if qimen.KindOf(err) != tc.kind || qimen.CategoryOf(err) != tc.cat || res.Found != tc.found {
				t.Fatalf("got %+v, %v (kind %q, category %q); want kind %q, category %q, found %v",
					res, err, qimen.KindOf(err), qimen.CategoryOf(err), tc.kind, tc.cat, tc.found)
			}
			if err != nil && !errors.Is(err, &qimen.Error{Kind: tc.kind}) {
				t.Fatalf("errors.Is does not match the kind %s: %v", tc.kind, err)
			}
		})
	}
}

// A server that echoes the signed request (query string and form body)
// into its answer gets no secret, signature or URL into the error.
func TestLookupErrorsNeverLeak(t *testing.T) {
	for _, body := range []string{
		`<html>{{echo}}</html>`,
		`{"response":{"flag":"failure","code":"{{echo}}","message":"{{echo}}","sub_code":"x","sub_message":"{{echo}}"}}`,
		`{"response":{"flag":"failure","status":1,"message":"{{echo}}"}}`,
		`{"error_response":{"code":"{{echo}}","msg":"{{echo}}"}}`,
	} {
		c := fakeQimen(t, 200, body)
		_, err := lookup(t, c, "RK1")
		if err == nil {
			t.Fatalf("body %s: no error", body)
		}
		text := err.Error() + fmt.Sprintf(" %+v %#v", err, err)
		testkit.NoLeaks(t, "lookup error", text, testWDTSecret, testWDTSalt, testQimenSecret, "sign=", "wdt_sign=", "wdt_salt=")
	}
	cfg := qimen.Config{Qimen: qimen.Credentials{AppKey: "k", AppSecret: testQimenSecret, TargetAppKey: "t"}}
	testkit.NoLeaks(t, "credentials", fmt.Sprintf("%v %+v %#v %s", cfg.Qimen, cfg.Qimen, cfg.Qimen, cfg.Qimen), testQimenSecret)
}

func TestNewValidates(t *testing.T) {
	creds, _ := wdt.NewCredentials("sid", "key", "s:t")
	good := qimen.Config{URL: "http://127.0.0.1:1/router/qm", WDT: creds, Qimen: qimen.Credentials{AppKey: "k", AppSecret: testQimenSecret, TargetAppKey: "t"}}
	if _, err := qimen.New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, edit := range map[string]func(*qimen.Config){
		"no url":        func(c *qimen.Config) { c.URL = "" },
		"not http":      func(c *qimen.Config) { c.URL = "ftp://x/router/qm" },
		"query":         func(c *qimen.Config) { c.URL = "http://x/router/qm?a=1" },
		"no appkey":     func(c *qimen.Config) { c.Qimen.AppKey = "" },
		"no secret":     func(c *qimen.Config) { c.Qimen.AppSecret = " " },
		"no target":     func(c *qimen.Config) { c.Qimen.TargetAppKey = "" },
		"no wdt creds":  func(c *qimen.Config) { c.WDT = wdt.Credentials{} },
		"page size":     func(c *qimen.Config) { c.PageSize = qimen.MaxPageSize + 1 },
		"window":        func(c *qimen.Config) { c.Window = -time.Hour },
		"max pages neg": func(c *qimen.Config) { c.MaxPages = -1 },
	} {
		cfg := good
		edit(&cfg)
		_, err := qimen.New(cfg)
		if !errors.Is(err, wdt.ErrConfig) {
			t.Errorf("%s: err = %v, want wdt.ErrConfig", name, err)
			continue
		}
		testkit.NoLeaks(t, name, err.Error(), testQimenSecret)
	}
}

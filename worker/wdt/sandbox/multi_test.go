package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// Three sellers that share order numbers: X is editing at alpha, completed
// at beta, and unlisted at gamma (which answers unlisted numbers as
// missing).
func threeSellers() []sandbox.Options {
	return []sandbox.Options{
		{Name: "alpha", SID: "sid-a", AppKey: "key-a", AppSecret: "secA:saltA", Orders: map[string]int{"X": 20, "Y": 30}},
		{Name: "beta", SID: "sid-b", AppKey: "key-b", AppSecret: "secB:saltB", Orders: map[string]int{"X": 80}},
		{Name: "gamma", SID: "sid-g", AppKey: "key-a", AppSecret: "secG:saltG", Unknown: sandbox.UnknownMissing},
	}
}

func startMulti(t *testing.T, opts []sandbox.Options) *sandbox.MultiServer {
	t.Helper()
	s, err := sandbox.NewMultiServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// client signs with exactly the credentials given, whoever they belong to.
func client(t *testing.T, url, sid, key, secret string) *wdt.Client {
	t.Helper()
	creds, err := wdt.NewCredentials(sid, key, secret)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := wdt.New(url, creds, wdt.WithHTTPClient(&http.Client{Transport: tr, Timeout: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// statusOf is WDT's status of a call's answer (0 for success) and its
// message.
func statusOf(t *testing.T, err error) (int, string) {
	t.Helper()
	if err == nil {
		return 0, ""
	}
	var we *wdt.Error
	if !errors.As(err, &we) {
		t.Fatalf("not a WDT answer: %v", err)
	}
	return we.Status, we.Message
}

func sellerOrder(t *testing.T, m *sandbox.MultiServer, seller, no string) sandbox.Order {
	t.Helper()
	sb, ok := m.Seller(seller)
	if !ok {
		t.Fatalf("no seller %s", seller)
	}
	o, _ := sb.Order(no)
	return o
}

// TestMultiRoutesBySIDAndVerifiesWithThatSellersSecret: each call goes to
// the seller its sid names and is verified with that seller's secret; a call
// acts on that seller's order only.
func TestMultiRoutesBySIDAndVerifiesWithThatSellersSecret(t *testing.T) {
	m := startMulti(t, threeSellers())
	ctx := context.Background()
	// Each step runs in order: later steps see what earlier ones did.
	steps := []struct {
		name             string
		sid, key, secret string
		no               string
		status           int
		msg              string
	}{
		{"alpha cancels its X", "sid-a", "key-a", "secA:saltA", "X", 0, ""},
		{"alpha's X again: already cancelled", "sid-a", "key-a", "secA:saltA", "X", 100, sandbox.MsgRejectNotCancelable},
		{"beta's X is its own, completed", "sid-b", "key-b", "secB:saltB", "X", 100, sandbox.MsgRejectNotCancelable},
		{"gamma does not hold X", "sid-g", "key-a", "secG:saltG", "X", 100, sandbox.MsgNoSuchDocument},
		{"beta's sid signed with alpha's secret", "sid-b", "key-b", "secA:saltA", "Y", 1, sandbox.MsgAuthFailed},
		{"beta's sid with alpha's appkey", "sid-b", "key-a", "secA:saltA", "Y", 1, sandbox.MsgAppAuthFail},
		{"gamma's sid and shared appkey, alpha's secret", "sid-g", "key-a", "secA:saltA", "Y", 1, sandbox.MsgAuthFailed},
		{"gamma's sid, alpha's secret with gamma's salt", "sid-g", "key-a", "secA:saltG", "Y", 1, sandbox.MsgAuthFailed},
		{"an unknown sid", "sid-zz", "key-a", "secA:saltA", "Y", 1, sandbox.MsgSIDNotExists},
		{"alpha's Y is still editable after the refused calls", "sid-a", "key-a", "secA:saltA", "Y", 0, ""},
	}
	for _, st := range steps {
		err := client(t, m.APIURL(), st.sid, st.key, st.secret).CancelPreStockin(ctx, st.no)
		if status, msg := statusOf(t, err); status != st.status || msg != st.msg {
			t.Errorf("%s: status %d %q, want %d %q", st.name, status, msg, st.status, st.msg)
		}
	}
	for _, c := range []struct {
		seller, no  string
		state, hits int
	}{
		{"alpha", "X", 10, 2}, {"alpha", "Y", 10, 1},
		{"beta", "X", 80, 1}, {"beta", "Y", 20, 0},
		{"gamma", "X", 0, 0}, {"gamma", "Y", 0, 0}, // gamma holds neither
	} {
		o := sellerOrder(t, m, c.seller, c.no)
		if o.Status != c.state || o.CancelCalls != c.hits {
			t.Errorf("%s's %s: state %d after %d cancel calls, want %d after %d", c.seller, c.no, o.Status, o.CancelCalls, c.state, c.hits)
		}
	}
	st := m.Stats()
	for seller, want := range map[string]map[string]int{
		"alpha": {"0": 2, "100": 1}, "beta": {"100": 1, "1": 2}, "gamma": {"100": 1, "1": 2},
	} {
		if got := st.Sellers[seller].ByStatus; !equalCounts(got, want) {
			t.Errorf("%s by_status %v, want %v", seller, got, want)
		}
	}
	if st.UnknownSID.Calls != 1 || st.UnknownSID.ByStatus["1"] != 1 {
		t.Errorf("unknown-sid calls %+v, want one answered status 1", st.UnknownSID)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestMultiMalformedCallWithUnknownSID: a call WDT would refuse before
// looking at the sid gets that refusal, not "sid is not exists", as from a
// single sandbox.
func TestMultiMalformedCallWithUnknownSID(t *testing.T) {
	m := startMulti(t, threeSellers())
	single := start(t, sandbox.Options{SID: "other"})
	for _, tamper := range []string{"ctype", ""} {
		// signed() uses sid "sandbox", which neither serves.
		gotM, msgM := rawCall(t, m.URL, "Q1", 0, tamper)
		gotS, msgS := rawCall(t, single.URL, "Q1", 0, tamper)
		if gotM != gotS || msgM != msgS {
			t.Errorf("tamper %q: multi %d %q, single %d %q", tamper, gotM, msgM, gotS, msgS)
		}
	}
	if got, msg := rawCall(t, m.URL, "Q1", 0, ""); got != 1 || msg != sandbox.MsgSIDNotExists {
		t.Errorf("unknown sid: %d %q", got, msg)
	}
}

// TestMultiIsolatesQuotasFaultsAndClocks: one seller's quota, faults,
// latency and clock are its own.
func TestMultiIsolatesQuotasFaultsAndClocks(t *testing.T) {
	sleep, entered, release := holdLatency()
	defer release()
	opts := []sandbox.Options{
		{Name: "limited", SID: "s-lim", AppKey: "k", AppSecret: "l:l", RatePerMinute: 2},
		{Name: "faulty", SID: "s-flt", AppKey: "k", AppSecret: "f:f", FailRate: 0.5, Seed: 11},
		{Name: "held", SID: "s-held", AppKey: "k", AppSecret: "h:h", MaxConcurrency: 1, Latency: time.Hour, Sleep: sleep},
		{Name: "skewed", SID: "s-skew", AppKey: "k", AppSecret: "k:k", ClockOffset: time.Hour},
		{Name: "plain", SID: "s-plain", AppKey: "k", AppSecret: "p:p"},
		{Name: "noisy", SID: "s-noisy", AppKey: "k", AppSecret: "n:n", LaxJSONRate: 0.5, Seed: 11},
	}
	m := startMulti(t, opts)
	ctx := context.Background()
	call := func(sid, secret, no string) (int, string) {
		return statusOf(t, client(t, m.APIURL(), sid, "k", secret).CancelPreStockin(ctx, no))
	}

	// The quota: limited's third call in the minute is refused; plain's
	// calls do not count towards it.
	for i, no := range []string{"L1", "L2", "L3"} {
		if i == 1 {
			for _, p := range []string{"P1", "P2", "P3"} {
				if s, msg := call("s-plain", "p:p", p); s != 0 {
					t.Fatalf("plain %s: %d %q", p, s, msg)
				}
			}
		}
		s, msg := call("s-lim", "l:l", no)
		if wantLimited := i == 2; wantLimited != (s == 100 && strings.HasPrefix(msg, wdt.RateLimitCallsPrefix)) {
			t.Errorf("limited %s: %d %q", no, s, msg)
		}
	}

	// Concurrency: held's one slot is taken by a call held in flight; a
	// second call to held is refused at once, plain is not affected.
	heldDone := make(chan result, 1)
	c := client(t, m.APIURL(), "s-held", "k", "h:h")
	go func() {
		err := c.CancelPreStockin(ctx, "H1")
		var we *wdt.Error
		if errors.As(err, &we) {
			heldDone <- result{no: "H1", status: we.Status, msg: we.Message}
			return
		}
		heldDone <- result{no: "H1", err: err}
	}()
	recvOrTimeout(t, entered, "held call in flight")
	if s, msg := call("s-held", "h:h", "H2"); s != 100 || !strings.HasPrefix(msg, wdt.RateLimitConcurrencyPrefix) {
		t.Errorf("held's second call: %d %q, want the concurrency refusal", s, msg)
	}
	if s, msg := call("s-plain", "p:p", "P4"); s != 0 {
		t.Errorf("plain while held is full: %d %q", s, msg)
	}
	release()
	if r := recvOrTimeout(t, heldDone, "held call answered"); r.err != nil || r.status != 0 {
		t.Errorf("held call: %+v", r)
	}

	// Faults: faulty's sequence is the one its seed gives a lone sandbox
	// with the same options, whatever another faulty seller's calls in
	// between.
	lone := start(t, sandbox.Options{SID: "s-flt", AppKey: "k", AppSecret: "f:f", FailRate: 0.5, Seed: 11})
	var gotSeq, wantSeq []bool
	for i := 0; i < 20; i++ {
		no := "F" + string(rune('A'+i))
		err := client(t, m.APIURL(), "s-flt", "k", "f:f").CancelPreStockin(ctx, no)
		gotSeq = append(gotSeq, wdt.CategoryOf(err) == wdt.Cancelled)
		call("s-noisy", "n:n", "N"+no) // draws from its own generator, not faulty's
		errLone := client(t, lone.APIURL(), "s-flt", "k", "f:f").CancelPreStockin(ctx, no)
		wantSeq = append(wantSeq, wdt.CategoryOf(errLone) == wdt.Cancelled)
	}
	if !equalBools(gotSeq, wantSeq) {
		t.Errorf("faulty's successes %v, a lone sandbox with its seed %v", gotSeq, wantSeq)
	}
	st := m.Stats()
	for _, f := range []string{"faulty", "noisy"} {
		if sum(st.Sellers[f].ByFault) == 0 {
			t.Errorf("%s met no fault: %v", f, st.Sellers[f].ByFault)
		}
	}
	for f := range st.Sellers["faulty"].ByFault {
		if strings.HasPrefix(f, "lax_json") {
			t.Errorf("faulty met noisy's lax JSON: %v", st.Sellers["faulty"].ByFault)
		}
	}
	for _, other := range []string{"limited", "held", "skewed", "plain"} {
		if n := sum(st.Sellers[other].ByFault); n != 0 {
			t.Errorf("%s met faults meant for faulty: %v", other, st.Sellers[other].ByFault)
		}
	}
	if st.Sellers["plain"].ByStatus["100"] != 0 {
		t.Errorf("plain was refused: %v", st.Sellers["plain"].ByStatus)
	}

	// The clock: skewed's answers carry its clock, an hour ahead; plain's
	// the real one.
	for sid, off := range map[string]time.Duration{"s-skew": time.Hour, "s-plain": 0} {
		resp, err := http.Post(m.APIURL()+"?sid="+sid, "application/json", strings.NewReader("[]"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		date, err := http.ParseTime(resp.Header.Get("Date"))
		if err != nil {
			t.Fatalf("%s: Date %q: %v", sid, resp.Header.Get("Date"), err)
		}
		if d := date.Sub(time.Now().Add(off)); d < -5*time.Second || d > 5*time.Second {
			t.Errorf("%s: Date %s is %s off its clock", sid, date, d)
		}
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestMultiInspection: ?seller= picks the seller on every inspection
// endpoint; without it, stats and the order list come by seller and one
// order is ambiguous.
func TestMultiInspection(t *testing.T) {
	m := startMulti(t, threeSellers())
	tests := []struct {
		name, method, path, body string
		code                     int
		has                      []string // substrings of the body
	}{
		{"alpha's X", "GET", "/_sandbox/orders/X?seller=alpha", "", 200, []string{`"status":20`, `"known":true`}},
		{"beta's X", "GET", "/_sandbox/orders/X?seller=beta", "", 200, []string{`"status":80`}},
		{"gamma does not hold X", "GET", "/_sandbox/orders/X?seller=gamma", "", 404, []string{"no such order"}},
		{"X without a seller", "GET", "/_sandbox/orders/X", "", 400, []string{"alpha, beta, gamma", "per seller"}},
		{"PUT without a seller", "PUT", "/_sandbox/orders/X", `{"status":30}`, 400, []string{"alpha, beta, gamma"}},
		{"an unknown seller", "GET", "/_sandbox/orders/X?seller=delta", "", 404, []string{`no seller \"delta\"`, "alpha, beta, gamma"}},
		{"PUT beta's X", "PUT", "/_sandbox/orders/X?seller=beta", `{"status":30}`, 200, []string{`"status":30`}},
		{"alpha's X untouched by the PUT", "GET", "/_sandbox/orders/X?seller=alpha", "", 200, []string{`"status":20`}},
		{"PUT a bad state", "PUT", "/_sandbox/orders/X?seller=beta", `{"status":99}`, 400, []string{"not a pre-stockin state"}},
		{"alpha's orders", "GET", "/_sandbox/orders?seller=alpha", "", 200, []string{`[{"pre_stockin_no":"X"`, `"Y"`}},
		{"every seller's orders", "GET", "/_sandbox/orders", "", 200, []string{`"alpha":[`, `"beta":[`, `"gamma":[]`}},
		{"orders of an unknown seller", "GET", "/_sandbox/orders?seller=delta", "", 404, []string{"alpha, beta, gamma"}},
		{"beta's stats", "GET", "/_sandbox/stats?seller=beta", "", 200, []string{`"calls":0`, `"by_status":{}`}},
		{"every seller's stats", "GET", "/_sandbox/stats", "", 200, []string{`"sellers":{"alpha":{`, `"gamma":{`, `"unknown_sid":{"calls":0`}},
		{"stats of an unknown seller", "GET", "/_sandbox/stats?seller=delta", "", 404, []string{"alpha, beta, gamma"}},
		{"health", "GET", "/healthz", "", 200, []string{"ok"}},
		{"a wrong method", "DELETE", "/_sandbox/orders/X?seller=alpha", "", 405, []string{`"allow":["GET","HEAD","PUT"]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, raw := doRaw(t, tt.method, m.URL+tt.path, tt.body)
			if resp.StatusCode != tt.code {
				t.Fatalf("%d %s, want %d", resp.StatusCode, raw, tt.code)
			}
			for _, h := range tt.has {
				if !strings.Contains(raw, h) {
					t.Errorf("%s lacks %s", raw, h)
				}
			}
		})
	}
	// The typed views agree with the endpoints.
	var all map[string][]sandbox.Order
	_, raw := doRaw(t, "GET", m.URL+"/_sandbox/orders", "")
	if err := json.Unmarshal([]byte(raw), &all); err != nil || len(all["alpha"]) != 2 || all["beta"][0].Status != 30 {
		t.Errorf("orders by seller %s: %v", raw, err)
	}
}

// doRaw sends one request and returns its JSON answer as sent.
func doRaw(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !json.Valid(raw) {
		t.Fatalf("%s %s: %d %q is not JSON: %s", method, url, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	return resp, string(raw)
}

// TestMultiSingleSandboxIgnoresSellerParameter: one seller's sandbox is
// unchanged, ?seller= and all.
func TestMultiSingleSandboxIgnoresSellerParameter(t *testing.T) {
	s := start(t, sandbox.Options{Orders: map[string]int{"X": 20}})
	for _, path := range []string{"/_sandbox/orders/X", "/_sandbox/orders/X?seller=anyone"} {
		resp, raw := doRaw(t, "GET", s.URL+path, "")
		if resp.StatusCode != 200 || !strings.Contains(raw, `"status":20`) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, raw)
		}
	}
	resp, raw := doRaw(t, "GET", s.URL+"/_sandbox/stats?seller=anyone", "")
	if resp.StatusCode != 200 || strings.Contains(raw, "sellers") || !strings.Contains(raw, `"calls":0`) {
		t.Errorf("stats: %d %s", resp.StatusCode, raw)
	}
}

func TestNewMultiRefusesBadSellers(t *testing.T) {
	ok := func(name, sid string) sandbox.Options {
		return sandbox.Options{Name: name, SID: sid, AppKey: "k", AppSecret: "s:s"}
	}
	bad := ok("b", "sb")
	bad.FailRate = 2
	badSecret := ok("c", "sc")
	badSecret.AppSecret = "nosalt"
	tests := []struct {
		name   string
		opts   []sandbox.Options
		errHas string
	}{
		{"none", nil, "no seller"},
		{"no name", []sandbox.Options{ok("", "s1")}, "seller"},
		{"bad name", []sandbox.Options{ok("Shop 7", "s1")}, "Shop 7"},
		{"same name twice", []sandbox.Options{ok("a", "s1"), ok("a", "s2")}, `seller "a" is given twice`},
		{"same sid twice", []sandbox.Options{ok("a", "s1"), ok("b", "s1")}, `seller "b" has the sid "s1" of seller "a"`},
		{"default sid twice", []sandbox.Options{ok("a", ""), ok("b", "")}, `the sid "sandbox"`},
		{"bad fault rate", []sandbox.Options{ok("a", "s1"), bad}, `seller "b": sandbox: fail-rate 2 is outside 0..1`},
		{"bad appsecret", []sandbox.Options{badSecret}, `seller "c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sandbox.NewMulti(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("error %v, want one with %q", err, tt.errHas)
			}
			if strings.Contains(err.Error(), "s:s") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

// TestMultiLogsNameTheSellerNotTheSecret: every call's log line carries its
// seller; no line carries a secret, a salt or a signature.
func TestMultiLogsNameTheSellerNotTheSecret(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	opts := threeSellers()
	for i := range opts {
		opts[i].Logger = zap.New(core)
	}
	m := startMulti(t, opts)
	ctx := context.Background()
	client(t, m.APIURL(), "sid-a", "key-a", "secA:saltA").CancelPreStockin(ctx, "X")
	client(t, m.APIURL(), "sid-b", "key-b", "secA:saltA").CancelPreStockin(ctx, "X")
	client(t, m.APIURL(), "nobody", "key-b", "secB:saltB").CancelPreStockin(ctx, "X")
	var sellers []string
	for _, e := range logs.All() {
		line, _ := json.Marshal(e.ContextMap())
		for _, secret := range []string{"secA", "saltA", "secB", "saltB", "sign"} {
			if strings.Contains(string(line), secret) || strings.Contains(e.Message, secret) {
				t.Errorf("log line %q %s shows %s", e.Message, line, secret)
			}
		}
		if s, ok := e.ContextMap()["seller"].(string); ok {
			sellers = append(sellers, s)
			if msg := e.ContextMap()["message"]; s == "beta" && msg != sandbox.MsgAuthFailed {
				t.Errorf("beta's refusal logged with message %v, want %s", msg, sandbox.MsgAuthFailed)
			}
		}
	}
	if strings.Join(sellers, ",") != "alpha,beta" || logs.FilterMessage("sandbox call for no seller").Len() != 1 {
		t.Errorf("call log sellers %v, lines %d", sellers, logs.Len())
	}
}

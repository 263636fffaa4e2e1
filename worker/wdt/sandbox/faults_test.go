package sandbox_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// wire is what came back for one call, as a client sees it.
type wire struct {
	code     int
	ctype    string
	body     string
	location string
	final    string // path of the URL that answered, after any redirect
	query    string // query string of that URL
	err      error  // no answer at all (reset)
}

// call sends one signed cancel for no with client c and the query it sent.
func call(t *testing.T, c *http.Client, base, no string) (wire, string) {
	t.Helper()
	q, body := signed(no, 0, false)
	query := q.Encode()
	resp, err := c.Post(base+"/openapi?"+query, "application/json", strings.NewReader(body))
	if err != nil {
		return wire{err: err}, query
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return wire{err: err}, query
	}
	return wire{code: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: string(b),
		location: resp.Header.Get("Location"), final: resp.Request.URL.Path, query: resp.Request.URL.RawQuery}, query
}

// noFollow is a client that shows a redirect instead of following it, on
// its own connections.
func noFollow(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// following is a client that follows redirects, as Go's default does.
func following(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// faultOf returns the one fault the stats gained between two snapshots, ""
// for none; more than one is a failure.
func faultOf(t *testing.T, before, after sandbox.Stats) string {
	t.Helper()
	var got []string
	for name, n := range after.ByFault {
		switch d := n - before.ByFault[name]; {
		case d == 1:
			got = append(got, name)
		case d != 0:
			t.Fatalf("fault %s counted %d times for one call", name, d)
		}
	}
	if len(got) > 1 {
		t.Fatalf("one call counted as faults %v", got)
	}
	if len(got) == 0 {
		return ""
	}
	return got[0]
}

// answer is what one fault variant must look like on the wire.
type answer struct {
	reset       bool
	code        int
	ctypePrefix string
	body        string // exact, unless contains is set
	contains    string
}

func (a answer) check(t *testing.T, w wire) {
	t.Helper()
	if a.reset {
		if w.err == nil {
			t.Fatalf("want a reset, got %d %q", w.code, w.body)
		}
		return
	}
	if w.err != nil {
		t.Fatalf("want HTTP %d, got %v", a.code, w.err)
	}
	if w.code != a.code || !strings.HasPrefix(w.ctype, a.ctypePrefix) {
		t.Fatalf("got %d %q, want %d %q", w.code, w.ctype, a.code, a.ctypePrefix)
	}
	switch {
	case a.contains != "":
		if !strings.Contains(w.body, a.contains) {
			t.Fatalf("body %q lacks %q", w.body, a.contains)
		}
	case w.body != a.body:
		t.Fatalf("body %q, want %q", w.body, a.body)
	}
}

const jsonCT = "application/json"

// The wire answers, written out from the brief and the vendor's gateway
// rather than taken from the package.
var (
	gatewayWire = map[string]answer{
		"http_502":         {code: 502, ctypePrefix: "text/plain", body: "Bad Gateway"},
		"html_page":        {code: 200, ctypePrefix: "text/html", contains: "<center>nginx</center>"},
		"empty_body":       {code: 200, body: ""},
		"connection_reset": {reset: true},
	}
	laxWire = map[string]answer{
		"lax_json_negative_zero":  {code: 200, ctypePrefix: jsonCT, body: `{"status":-0}`},
		"lax_json_upper_case_key": {code: 200, ctypePrefix: jsonCT, body: `{"STATUS":0}`},
		"lax_json_duplicate_key":  {code: 200, ctypePrefix: jsonCT, body: `{"status":100,"message":"x","status":0}`},
		"lax_json_trailing_text":  {code: 200, ctypePrefix: jsonCT, body: `{"status":0} trailing`},
		"lax_json_string_status":  {code: 200, ctypePrefix: jsonCT, body: `{"status":"0"}`},
		"lax_json_float_status":   {code: 200, ctypePrefix: jsonCT, body: `{"status":0.0}`},
	}
	garbledWire = map[string]answer{
		"garbled_504_html":           {code: 504, ctypePrefix: "text/html", contains: "<center>nginx</center>"},
		"garbled_502_text":           {code: 502, ctypePrefix: "text/plain", body: "Bad Gateway"},
		"garbled_200_html":           {code: 200, ctypePrefix: "text/html", contains: "<html>"},
		"garbled_200_empty":          {code: 200, body: ""},
		"garbled_200_truncated_json": {code: 200, ctypePrefix: jsonCT, body: `{"status":`},
		"garbled_500_status_0":       {code: 500, ctypePrefix: jsonCT, body: `{"status":0}`},
		"garbled_200_status_99":      {code: 200, ctypePrefix: jsonCT, body: `{"status":99,"message":"系统错误"}`},
	}
	lostWire = map[string]answer{"lost_response": {reset: true}}
)

// TestSandboxFaultKinds sends calls through the real HTTP round trip until
// every variant of a fault kind has shown up, and checks each answer on the
// wire, the order afterwards and the counters.
func TestSandboxFaultKinds(t *testing.T) {
	tests := []struct {
		name     string
		faults   sandbox.Faults
		variants map[string]answer
		applied  bool // WDT processed the call: the order is cancelled
		garbled  int  // per call, on the order
		lost     int  // per call, on the order
	}{
		{"gateway fault before WDT", sandbox.Faults{FailRate: 1}, gatewayWire, false, 0, 0},
		{"lax JSON before WDT", sandbox.Faults{LaxJSONRate: 1}, laxWire, false, 0, 0},
		{"applied then garbled", sandbox.Faults{ApplyFailRate: 1}, garbledWire, true, 1, 0},
		{"applied then lost", sandbox.Faults{LostResponseRate: 1}, lostWire, true, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := start(t, sandbox.Options{Seed: 11})
			if err := sb.SetFaultRates(tt.faults); err != nil {
				t.Fatal(err)
			}
			c := noFollow(t)
			seen := map[string]bool{}
			for i := 0; len(seen) < len(tt.variants); i++ {
				if i == 300 {
					t.Fatalf("after %d calls saw only %v of %d variants", i, seen, len(tt.variants))
				}
				no := fmt.Sprintf("FK%03d", i)
				before := sb.Stats()
				w, _ := call(t, c, sb.URL, no)
				after := sb.Stats()
				name := faultOf(t, before, after)
				want, ok := tt.variants[name]
				if !ok {
					t.Fatalf("call %d: fault %q is not one of this kind", i, name)
				}
				want.check(t, w)
				seen[name] = true

				o := order(t, sb.URL, no)
				calls, status, cancelled, st0 := 0, sandbox.StateEditing, 0, 0
				if tt.applied {
					calls, status, cancelled, st0 = 1, sandbox.StateCancelled, 1, 1
				}
				if o.Status != status || o.CancelCalls != calls || o.GarbledResponses != tt.garbled || o.LostResponses != tt.lost {
					t.Fatalf("call %d (%s): order %+v", i, name, o)
				}
				if after.Calls != before.Calls+1 || after.Cancellations != before.Cancellations+cancelled ||
					after.ByStatus["0"] != before.ByStatus["0"]+st0 {
					t.Fatalf("call %d (%s): stats %+v after %+v", i, name, after, before)
				}
			}
			if !tt.applied && len(sb.Orders()) != 0 {
				t.Fatalf("a fault in front of WDT touched orders: %+v", sb.Orders())
			}
		})
	}
}

// order reads one order through the inspection endpoint.
func order(t *testing.T, base, no string) sandbox.Order {
	t.Helper()
	resp, err := http.Get(base + "/_sandbox/orders/" + no)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(raw), `"garbled_responses":`) || !strings.Contains(string(raw), `"lost_responses":`) {
		t.Fatalf("order JSON lacks the lost and garbled counts: %s", raw)
	}
	var o sandbox.Order
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestSandboxRedirectFault(t *testing.T) {
	sb := start(t, sandbox.Options{Orders: map[string]int{"RD1": 20, "RD2": 30}, RedirectRate: 1})

	// A client that does not follow sees the 302 and where it points: the
	// decoy, with the signed query.
	w, query := call(t, noFollow(t), sb.URL, "RD1")
	if w.err != nil || w.code != http.StatusFound || w.location != sandbox.DecoyPath+"?"+query {
		t.Fatalf("got %+v, want 302 to %s?%s", w, sandbox.DecoyPath, query)
	}
	st := sb.Stats()
	if st.Calls != 1 || st.ByFault["redirect"] != 1 || st.ByFault["redirect_followed"] != 0 || len(st.ByStatus) != 0 {
		t.Fatalf("stats %+v", st)
	}

	// A client that follows lands on the decoy: a success WDT never saw,
	// and the signed query sent to another URL.
	w, query = call(t, following(t), sb.URL, "RD2")
	if w.err != nil || w.code != 200 || w.body != `{"status":0}` || w.final != sandbox.DecoyPath || w.query != query {
		t.Fatalf("followed: %+v", w)
	}
	st = sb.Stats()
	if st.Calls != 2 || st.ByFault["redirect"] != 2 || st.ByFault["redirect_followed"] != 1 || st.Cancellations != 0 {
		t.Fatalf("stats %+v", st)
	}
	for no, state := range map[string]int{"RD1": 20, "RD2": 30} {
		if o := order(t, sb.URL, no); o.Status != state || o.CancelCalls != 0 {
			t.Fatalf("a redirect touched %+v", o)
		}
	}

	// Once the gateway behaves, the order is still there to cancel.
	if err := sb.SetFaultRates(sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	if st, msg := rawCall(t, sb.URL, "RD1", 0, ""); st != 0 {
		t.Fatalf("after the redirects: %d %q", st, msg)
	}
}

// TestSandboxFaultSequenceReproducible: the same seed and the same calls
// give the same faults, in the same order, on two sandboxes.
func TestSandboxFaultSequenceReproducible(t *testing.T) {
	opts := func(seed int64) sandbox.Options {
		return sandbox.Options{Seed: seed, FailRate: 0.1, RedirectRate: 0.1, LaxJSONRate: 0.1, ApplyFailRate: 0.2, LostResponseRate: 0.1}
	}
	run := func(seed int64) ([]string, []string, sandbox.Stats) {
		sb := start(t, opts(seed))
		c := noFollow(t)
		var faults, answers []string
		for i := 0; i < 120; i++ {
			before := sb.Stats()
			w, _ := call(t, c, sb.URL, fmt.Sprintf("SQ%03d", i))
			faults = append(faults, faultOf(t, before, sb.Stats()))
			if w.err != nil {
				answers = append(answers, "no answer")
			} else {
				answers = append(answers, fmt.Sprintf("%d %s", w.code, w.body))
			}
		}
		return faults, answers, sb.Stats()
	}
	f1, a1, s1 := run(42)
	f2, a2, s2 := run(42)
	if !slices.Equal(f1, f2) || !slices.Equal(a1, a2) {
		t.Fatalf("same seed, different faults:\n%q\n%q", f1, f2)
	}
	if fmt.Sprint(s1) != fmt.Sprint(s2) {
		t.Fatalf("same seed, different stats:\n%+v\n%+v", s1, s2)
	}
	// The sequence exercised every kind, so the comparison means something.
	kinds := map[string]map[string]answer{"gateway": gatewayWire, "lax JSON": laxWire, "garbled": garbledWire,
		"lost": lostWire, "redirect": {"redirect": {}}, "none": {"": {}}}
	for kind, names := range kinds {
		if !slices.ContainsFunc(f1, func(f string) bool { _, ok := names[f]; return ok }) {
			t.Errorf("120 calls never met fault kind %s: %q", kind, f1)
		}
	}
	if f3, _, _ := run(43); slices.Equal(f1, f3) {
		t.Fatal("seeds 42 and 43 gave the same faults")
	}
}

func TestSandboxFaultRatesValidated(t *testing.T) {
	tests := []struct {
		name   string
		faults sandbox.Faults
		errHas string // "" = valid
	}{
		{"none", sandbox.Faults{}, ""},
		{"all one kind", sandbox.Faults{ApplyFailRate: 1}, ""},
		{"decimal sum of one", sandbox.Faults{FailRate: 0.1, RedirectRate: 0.2, LostResponseRate: 0.7}, ""},
		{"negative", sandbox.Faults{RedirectRate: -0.1}, "redirect-rate -0.1 is outside 0..1"},
		{"above one", sandbox.Faults{LaxJSONRate: 1.5}, "lax-json-rate 1.5 is outside 0..1"},
		{"NaN", sandbox.Faults{ApplyFailRate: nan()}, "apply-fail-rate NaN is outside 0..1"},
		{"sum above one", sandbox.Faults{FailRate: 0.6, ApplyFailRate: 0.6}, "add up to 1.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sandbox.New(sandbox.Options{FailRate: tt.faults.FailRate, RedirectRate: tt.faults.RedirectRate,
				LaxJSONRate: tt.faults.LaxJSONRate, ApplyFailRate: tt.faults.ApplyFailRate, LostResponseRate: tt.faults.LostResponseRate})
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("New: %v, want error containing %q", err, tt.errHas)
			}
			sb, _ := sandbox.New(sandbox.Options{LostResponseRate: 0.5})
			err = sb.SetFaultRates(tt.faults)
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("SetFaultRates: %v, want error containing %q", err, tt.errHas)
			}
			want := tt.faults
			if err != nil {
				want = sandbox.Faults{LostResponseRate: 0.5} // refused: unchanged
			}
			if got := sb.FaultRates(); got != want {
				t.Fatalf("rates %+v, want %+v", got, want)
			}
		})
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}

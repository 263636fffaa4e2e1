package sandbox_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// do sends one request and decodes its JSON answer into a map.
func do(t *testing.T, method, url, body string) (*http.Response, map[string]any) {
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
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s: %d %q is not JSON: %s", method, url, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, raw)
	}
	return resp, out
}

func TestSandboxPutOrder(t *testing.T) {
	sb := start(t, sandbox.Options{Orders: map[string]int{"PO80": 80}, Unknown: sandbox.UnknownMissing})
	tests := []struct {
		name, no, body string
		code           int
		errHas         string // for a 400
	}{
		{"cancelled", "PO80", `{"status": 10}`, 200, ""},
		{"editing", "PO80", `{"status": 20}`, 200, ""},
		{"awaiting review", "PO80", `{"status": 30}`, 200, ""},
		{"quality check 37", "PO80", `{"status": 37}`, 200, ""},
		{"quality check 40", "PO80", `{"status": 40}`, 200, ""},
		{"completed", "PO80", `{"status": 80}`, 200, ""},
		{"an unlisted number becomes an order", "PONEW", `{"status":30}`, 200, ""},
		{"not a state", "PO80", `{"status": 50}`, 400, "state 50 is not a pre-stockin state: use one of 10, 20, 30, 37, 40, 80"},
		{"string state", "PO80", `{"status": "20"}`, 400, "status"},
		{"missing status", "PO80", `{}`, 400, "status is missing"},
		{"unknown field", "PO80", `{"state": 20}`, 400, `unknown field "state"`},
		{"not an object", "PO80", `20`, 400, "body must be"},
		{"two objects", "PO80", `{"status":20}{"status":30}`, 400, "nothing after it"},
		{"empty", "PO80", ``, 400, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := sb.Order(tt.no)
			resp, out := do(t, http.MethodPut, sb.URL+"/_sandbox/orders/"+tt.no, tt.body)
			if resp.StatusCode != tt.code {
				t.Fatalf("%d %v, want %d", resp.StatusCode, out, tt.code)
			}
			after, _ := sb.Order(tt.no)
			if tt.code != 200 {
				if msg, _ := out["error"].(string); !strings.Contains(msg, tt.errHas) || out["pre_stockin_no"] != tt.no {
					t.Fatalf("error %v, want one containing %q", out, tt.errHas)
				}
				if after != before {
					t.Fatalf("a refused PUT changed %+v to %+v", before, after)
				}
				return
			}
			var want struct{ Status int }
			json.Unmarshal([]byte(tt.body), &want)
			if out["pre_stockin_no"] != tt.no || out["status"] != float64(want.Status) || out["known"] != true {
				t.Fatalf("answer %v", out)
			}
			if got := order(t, sb.URL, tt.no); got.Status != want.Status {
				t.Fatalf("GET after PUT: %+v", got)
			}
		})
	}
}

// TestSandboxRehearseFixThenRequeue is the operator's drill: WDT rejects a
// completed order, the operator fixes it in WDT, the rerun cancels it.
func TestSandboxRehearseFixThenRequeue(t *testing.T) {
	sb := start(t, sandbox.Options{Orders: map[string]int{"RH1": 80}})
	if st, msg := rawCall(t, sb.URL, "RH1", 0, ""); st != 100 || msg != sandbox.MsgRejectNotCancelable {
		t.Fatalf("before the fix: %d %q", st, msg)
	}
	if resp, out := do(t, http.MethodPut, sb.URL+"/_sandbox/orders/RH1", `{"status":20}`); resp.StatusCode != 200 || out["status"] != float64(20) {
		t.Fatalf("fix: %d %v", resp.StatusCode, out)
	}
	if st, msg := rawCall(t, sb.URL, "RH1", 0, ""); st != 0 {
		t.Fatalf("after the fix: %d %q", st, msg)
	}
	if o := order(t, sb.URL, "RH1"); o.Status != sandbox.StateCancelled || o.CancelCalls != 2 {
		t.Fatalf("order %+v", o)
	}
}

func TestSandboxRoutesAnswerJSON(t *testing.T) {
	sb := start(t, sandbox.Options{Orders: map[string]int{"RT1": 20}})
	tests := []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/healthz", 200, ""},
		{"GET", "/_sandbox/stats", 200, ""},
		{"GET", "/_sandbox/orders/RT1", 200, ""},
		{"GET", "/nowhere", 404, ""},
		{"GET", "/_sandbox/orders/", 404, ""},
		{"GET", "/_sandbox/orders/RT1/x", 404, ""},
		{"GET", "/openapi", 405, "POST"},
		{"PUT", "/openapi", 405, "POST"},
		{"DELETE", "/_sandbox/orders/RT1", 405, "GET, HEAD, PUT"},
		{"POST", "/_sandbox/stats", 405, "GET, HEAD"},
		{"POST", "/_sandbox/orders", 405, "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.method, " ", tt.path), func(t *testing.T) {
			resp, out := do(t, tt.method, sb.URL+tt.path, "")
			if resp.StatusCode != tt.code || resp.Header.Get("Allow") != tt.allow {
				t.Fatalf("%d Allow %q, want %d %q: %v", resp.StatusCode, resp.Header.Get("Allow"), tt.code, tt.allow, out)
			}
			if tt.code >= 400 && out["error"] == nil {
				t.Fatalf("error body without an error: %v", out)
			}
		})
	}
	if st := sb.Stats(); st.Calls != 0 {
		t.Fatalf("requests that are not POST /openapi counted as calls: %+v", st)
	}
}

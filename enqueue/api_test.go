package enqueue

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAPI(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	srv := httptest.NewServer(NewAPI(c, APIOptions{Token: "tok3n", MaxBodyBytes: 4096, MaxNumbers: 5}))
	defer srv.Close()

	do := func(method, path, ctype, auth, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
		return resp.StatusCode, out
	}
	const js, ok = "application/json", "Bearer tok3n"
	tests := []struct {
		name, method, path, ctype, auth, body string
		code                                  int
		check                                 func(map[string]any) bool
	}{
		{"no auth", "POST", "/v1/cancellations", js, "", `{"pre_stockin_nos":["RK1"]}`, 401, nil},
		{"wrong token", "POST", "/v1/cancellations", js, "Bearer nope", `{"pre_stockin_nos":["RK1"]}`, 401, nil},
		{"basic auth", "POST", "/v1/cancellations", js, "Basic dG9rM246", `{"pre_stockin_nos":["RK1"]}`, 401, nil},
		{"wrong content type", "POST", "/v1/cancellations", "text/plain", ok, `{"pre_stockin_nos":["RK1"]}`, 415, nil},
		{"bad json", "POST", "/v1/cancellations", js, ok, `{"pre_stockin_nos":[`, 400, nil},
		{"not an object", "POST", "/v1/cancellations", js, ok, `["RK1"]`, 400, nil},
		{"unknown field", "POST", "/v1/cancellations", js, ok, `{"nos":["RK1"]}`, 400, nil},
		{"numbers not strings", "POST", "/v1/cancellations", js, ok, `{"pre_stockin_nos":[1,2]}`, 400, nil},
		{"empty list", "POST", "/v1/cancellations", js, ok, `{"pre_stockin_nos":[]}`, 400, nil},
		{"oversize body", "POST", "/v1/cancellations", js, ok, `{"pre_stockin_nos":["` + strings.Repeat("A", 5000) + `"]}`, 413, nil},
		{"too many numbers", "POST", "/v1/cancellations", js, ok, `{"pre_stockin_nos":["1","2","3","4","5","6"]}`, 413, nil},
		{"mixed batch", "POST", "/v1/cancellations", js, ok, `{"pre_stockin_nos":["RK1","RK 2","RK1","RK3"],"source":"php-sync"}`, 200, func(m map[string]any) bool {
			return m["enqueued"] == 2.0 && m["invalid"] == 1.0 && m["duplicate"] == 1.0 && len(m["items"].([]any)) == 4
		}},
		{"status of enqueued", "GET", "/v1/cancellations/RK1", "", ok, "", 200, func(m map[string]any) bool { return m["state"] == "pending" }},
		{"status of unknown", "GET", "/v1/cancellations/RK9", "", ok, "", 404, nil},
		{"status of invalid", "GET", "/v1/cancellations/RK%21", "", ok, "", 400, nil},
		{"status: upper-case seller parameter", "GET", "/v1/cancellations/RK1?SELLER=typo", "", ok, "", 400, func(m map[string]any) bool { return strings.Contains(m["error"].(string), `"SELLER"`) }},
		{"status: unknown parameter", "GET", "/v1/cancellations/RK1?x=1", "", ok, "", 400, func(m map[string]any) bool { return strings.Contains(m["error"].(string), `"x"`) }},
		{"post: empty query is no query", "POST", "/v1/cancellations?", js, ok, `{"pre_stockin_nos":["RK7"]}`, 200, nil},
		{"status needs auth", "GET", "/v1/cancellations/RK1", "", "", "", 401, nil},
		{"health without auth", "GET", "/healthz", "", "", "", 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(tt.method, tt.path, tt.ctype, tt.auth, tt.body)
			if code != tt.code {
				t.Fatalf("code %d, want %d: %v", code, tt.code, body)
			}
			if code >= 400 && body["error"] == "" {
				t.Fatalf("error body without error: %v", body)
			}
			if tt.check != nil && !tt.check(body) {
				t.Fatalf("body %v", body)
			}
		})
	}
}

func FuzzAPIBody(f *testing.F) {
	c, _ := newClient(f)
	api := NewAPI(c, APIOptions{MaxNumbers: 20})
	for _, s := range []string{`{"pre_stockin_nos":["RK1"]}`, `{`, `{"pre_stockin_nos":[null]}`, `{"pre_stockin_nos":["` + "\x00" + `"]}`, `nul`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/cancellations", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code == 500 {
			t.Fatalf("500 for %q: %s", body, rec.Body)
		}
		var out map[string]any
		if json.Unmarshal(rec.Body.Bytes(), &out) != nil {
			t.Fatalf("non-JSON answer %q", rec.Body)
		}
	})
}

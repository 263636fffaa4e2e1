package enqueue

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAPINotFoundAndMethodNotAllowedAreJSON: every error body of the HTTP
// producer is {"error": "..."}, 404 and 405 included (net/http's own are
// plain text).
func TestAPINotFoundAndMethodNotAllowedAreJSON(t *testing.T) {
	c, _ := newClient(t)
	api := NewAPI(c, APIOptions{Token: "tok3n"})
	for _, tt := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/nope", 404, ""},
		{"GET", "/v1/cancellations", 405, "POST"},
		{"DELETE", "/v1/cancellations/RK1", 405, "GET, HEAD"},
		{"POST", "/healthz", 405, "GET, HEAD"},
	} {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		req.Header.Set("Authorization", "Bearer tok3n")
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		var body map[string]string
		if rec.Code != tt.code || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") ||
			json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["error"] == "" || len(body) != 1 {
			t.Errorf("%s %s: %d %q %s", tt.method, tt.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		if rec.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, rec.Header().Get("Allow"), tt.allow)
		}
	}
}

// TestAPIBearerSchemeIsCaseInsensitive: RFC 7235 makes the auth scheme's
// name case-insensitive; "bearer" and "BEARER" clients were refused.
func TestAPIBearerSchemeIsCaseInsensitive(t *testing.T) {
	c, _ := newClient(t)
	api := NewAPI(c, APIOptions{Token: "tok3n"})
	for header, want := range map[string]int{
		"Bearer tok3n":   404, // authorized: the number is unknown
		"bearer tok3n":   404,
		"BEARER  tok3n ": 404,
		"Bearer wrong":   401,
		"Basic dG9rM246": 401,
		"tok3n":          401,
		"Bearertok3n":    401,
		"Bearer":         401,
		"":               401,
	} {
		req := httptest.NewRequest("GET", "/v1/cancellations/RK404", nil)
		req.Header.Set("Authorization", header)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Authorization %q: %d, want %d", header, rec.Code, want)
		}
	}
}

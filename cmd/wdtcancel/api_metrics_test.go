package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestAPIMetricsListen: --metrics-listen serves /metrics on a listener of
// its own, without the token, counting the API's answers by code.
func TestAPIMetricsListen(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	api := startCmd(t, "api", "--redis-url", r.URL(), "--listen", "127.0.0.1:0", "--token", "metrics-test-token", "--metrics-listen", "127.0.0.1:0")
	metricsAddr := listenAddr(t, api.logged(t, "api metrics listening"), "addr")
	apiAddr := listenAddr(t, api.logged(t, "api listening"), "addr")

	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+apiAddr+"/v1/cancellations/RK1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET without a token: %d, want 401", resp.StatusCode)
	}
	code, body := testkit.Get(t, "http://"+metricsAddr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	for _, want := range []string{`wdtcancel_api_requests_total{code="401",method="get"} 1`, "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("api /metrics lacks %q:\n%s", want, body)
		}
	}
	testkit.NoLeaks(t, "api /metrics", string(body), "metrics-test-token")
	if code := api.stop(t); code != 0 {
		t.Fatalf("api exit %d:\n%s", code, api.stderr)
	}
}

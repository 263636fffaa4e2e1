package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// promClient asks a running Prometheus through its HTTP API.
type promClient struct {
	t    *testing.T
	base string
}

// get answers the API's data field, or ok false when Prometheus is not
// answering yet or says the query failed.
func (p promClient) get(path string, into any) bool {
	resp, err := http.Get(p.base + path)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return false
	}
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &env) != nil || env.Status != "success" {
		p.t.Logf("prometheus %s: %s", path, body)
		return false
	}
	return json.Unmarshal(env.Data, into) == nil
}

// promAlert is one active alert of /api/v1/alerts.
type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func (p promClient) alerts() []promAlert {
	var d struct {
		Alerts []promAlert `json:"alerts"`
	}
	if !p.get("/api/v1/alerts", &d) {
		return nil
	}
	return d.Alerts
}

// firing returns the firing alert named name whose labels include want.
func (p promClient) firing(name string, want map[string]string) (promAlert, bool) {
	for _, a := range p.alerts() {
		if a.Labels["alertname"] != name || a.State != "firing" {
			continue
		}
		match := true
		for k, v := range want {
			match = match && a.Labels[k] == v
		}
		if match {
			return a, true
		}
	}
	return promAlert{}, false
}

// query runs an instant query and returns its samples' values (a vector).
func (p promClient) query(q string) ([]float64, bool) {
	var d struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if !p.get("/api/v1/query?query="+url.QueryEscape(q), &d) || d.ResultType != "vector" {
		return nil, false
	}
	var out []float64
	for _, r := range d.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// is reports whether q returns exactly one sample equal to want.
func (p promClient) is(q string, want float64) bool {
	v, ok := p.query(q)
	return ok && len(v) == 1 && v[0] == want
}

// eventually polls cond until it holds, failing the test with what and
// the last state seen once within has passed. Scrapes and rule evaluations
// happen every second, so there is no event to wait on but Prometheus's
// answer.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool, state func() string) {
	t.Helper()
	if !testkit.PollWithin(within, cond) {
		t.Fatalf("after %s still waiting for %s; last seen: %s", within, what, state())
	}
}

// TestPrometheusScrapesWorkerAndAPI runs a real Prometheus (Debian's
// package) with the shipped rules, scraping a worker started with a wrong
// appsecret and the api. Through Prometheus's API it checks that the
// configuration-fault alert fires, that it clears after the worker is
// restarted with the right secret and `wdtcancel retry --held`, that the
// calls are then counted as cancelled, and that the rejected order raises
// the dead-letter alert.
func TestPrometheusScrapesWorkerAndAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	t.Parallel()
	promBin := requirePrometheusTool(t, "prometheus")
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	r := testkit.NewRedis(t)
	nos := []string{"PE1", "PE2", "PE3", "PE80"}
	sb, err := sandbox.NewServer(sandbox.Options{Orders: map[string]int{
		"PE1": sandbox.StateEditing, "PE2": sandbox.StateEditing, "PE3": sandbox.StateEditing, "PE80": sandbox.StateCompleted,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()

	// The worker's ops address stays the same across its restart: it is
	// Prometheus's scrape target.
	opsAddr := testkit.FreeAddr(t)
	const wrongSalt = "PromWrongSaltK3"
	workerArgs := func(appsecret string) []string {
		return []string{"worker", "--redis-url", r.URL(), "--listen", opsAddr, "--wdt-url", sb.APIURL(),
			"--sid", sandbox.DefaultSID, "--appkey", sandbox.DefaultAppKey, "--appsecret", appsecret}
	}
	wk := startCmd(t, workerArgs("sandbox:"+wrongSalt)...)
	wk.logged(t, "worker started")
	api := startCmd(t, "api", "--redis-url", r.URL(), "--listen", "127.0.0.1:0", "--allow-unauthenticated", "--metrics-listen", "127.0.0.1:0")
	apiMetrics := listenAddr(t, api.logged(t, "api metrics listening"), "addr")
	apiAddr := listenAddr(t, api.logged(t, "api listening"), "addr")

	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: wdtcancel-worker
    static_configs:
      - targets: [%q]
  - job_name: wdtcancel-api
    static_configs:
      - targets: [%q]
`, rules, opsAddr, apiMetrics)
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := testkit.FreeAddr(t)
	prom := testkit.Start(t, "prometheus", promBin, nil, "--config.file="+configFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	p := promClient{t: t, base: "http://" + promAddr}
	const within = 60 * time.Second
	upTargets := func() string { v, _ := p.query(`up`); return fmt.Sprint("up: ", v) }
	eventually(t, "both targets scraped and up", within, func() bool {
		return p.is(`sum(up{job=~"wdtcancel-worker|wdtcancel-api"})`, 2)
	}, upTargets)

	// Enqueue through the api: the worker's wrong secret is a
	// configuration fault, which holds every task.
	body, _ := json.Marshal(map[string]any{"pre_stockin_nos": nos, "source": "prometheus-e2e"})
	resp, err := http.Post("http://"+apiAddr+"/v1/cancellations", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/cancellations: %d", resp.StatusCode)
	}
	alertsSeen := func() string { b, _ := json.Marshal(p.alerts()); return string(b) }
	eventually(t, "WdtcancelConfigFault firing", within, func() bool {
		_, ok := p.firing("WdtcancelConfigFault", nil)
		return ok
	}, alertsSeen)
	a, _ := p.firing("WdtcancelConfigFault", nil)
	if a.Labels["severity"] != "critical" || !strings.Contains(a.Annotations["summary"], "wdtcancel retry --held") {
		t.Fatalf("config-fault alert %+v: want severity critical and a summary naming `wdtcancel retry --held`", a)
	}
	for q, want := range map[string]float64{
		`max(wdtcancel_config_fault)`:                                 1,
		`max(wdtcancel_breaker_open)`:                                 1,
		`sum(wdtcancel_calls_total{category="cancelled"})`:            0,
		`sum(wdtcancel_api_requests_total{code="200",method="post"})`: 1,
	} {
		eventually(t, fmt.Sprintf("%s = %v", q, want), within, func() bool { return p.is(q, want) },
			func() string { v, _ := p.query(q); return fmt.Sprint(v) })
	}
	// The breaker alert leaves an open breaker for a configuration fault
	// to the configuration-fault alert.
	if a, ok := p.firing("WdtcancelBreakerOpen", nil); ok {
		t.Fatalf("WdtcancelBreakerOpen fires for a configuration fault: %+v", a)
	}

	// The fix: restart the worker with the right secret, run the held
	// tasks now.
	if code := wk.stop(t); code != 0 {
		t.Fatalf("worker exit %d:\n%s", code, wk.stderr)
	}
	testkit.NoLeaks(t, "worker log", wk.stderr.String(), wrongSalt)
	wk = startCmd(t, workerArgs(sandbox.DefaultAppSecret)...)
	wk.logged(t, "worker started")
	if out, errOut, code := runCmd(t, context.Background(), "", "retry", "--held", "--redis-url", r.URL()); code != 0 {
		t.Fatalf("retry --held exit %d: %s%s", code, out, errOut)
	}
	eventually(t, "WdtcancelConfigFault cleared", within, func() bool {
		for _, a := range p.alerts() {
			if a.Labels["alertname"] == "WdtcancelConfigFault" {
				return false
			}
		}
		return true
	}, alertsSeen)
	for q, want := range map[string]float64{
		`max(wdtcancel_config_fault)`:                      0,
		`sum(wdtcancel_calls_total{category="cancelled"})`: 3,
		`sum(wdtcancel_calls_total{category="rejected"})`:  1,
		`max(wdtcancel_dead_letters)`:                      1,
		// The first worker's calls were counted as configuration faults
		// while it ran.
		`max(max_over_time(wdtcancel_calls_total{category="config"}[10m])) > bool 0`: 1,
	} {
		eventually(t, fmt.Sprintf("%s = %v", q, want), within, func() bool { return p.is(q, want) },
			func() string { v, _ := p.query(q); return fmt.Sprint(v) })
	}
	eventually(t, "WdtcancelDeadLettersRising firing for the rejected order", within, func() bool {
		_, ok := p.firing("WdtcancelDeadLettersRising", map[string]string{"category": "rejected"})
		return ok
	}, alertsSeen)
	for _, no := range nos[:3] {
		if o, _ := sb.Order(no); o.Status != sandbox.StateCancelled {
			t.Errorf("%s at the sandbox: %+v, want cancelled", no, o)
		}
	}

	prom.Signal(syscall.SIGTERM)
	if exited, err := prom.Wait(30 * time.Second); !exited || err != nil {
		t.Fatalf("prometheus after SIGTERM: exited %v, %v", exited, err)
	}
}

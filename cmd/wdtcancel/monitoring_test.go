package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// The monitoring kit: docs/monitoring/README.md says how each file is used.
const (
	monitoringDir = "../../docs/monitoring"
	rulesFile     = monitoringDir + "/wdtcancel.rules.yml"
	rulesTestFile = monitoringDir + "/wdtcancel.rules_test.yml"
	dashboardFile = monitoringDir + "/grafana-dashboard.json"
)

// requirePrometheusTool finds a Prometheus binary (promtool, prometheus) on
// PATH. Without it the test is skipped, unless WDTCANCEL_REQUIRE_PROMETHEUS=1
// (CI) makes a missing tool a failure.
func requirePrometheusTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("WDTCANCEL_REQUIRE_PROMETHEUS") == "1" {
		t.Fatalf("%s not on PATH and WDTCANCEL_REQUIRE_PROMETHEUS=1: apt-get install prometheus", name)
	}
	t.Skipf("%s not on PATH (apt-get install prometheus); set WDTCANCEL_REQUIRE_PROMETHEUS=1 to fail instead", name)
	return ""
}

// promRules is the part of a Prometheus rules file the tests read.
type promRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T, path string) promRules {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r promRules
	if err := yaml.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

func (r promRules) exprs() []string {
	var out []string
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			out = append(out, rule.Expr)
		}
	}
	return out
}

func (r promRules) records() []string {
	var out []string
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			if rule.Record != "" {
				out = append(out, rule.Record)
			}
		}
	}
	return out
}

func runPromtool(t *testing.T, promtool string, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestPrometheusRules checks the shipped rules with promtool and runs their
// unit tests, and holds each alert to the kit's standard: a severity, a
// summary that names the fix, and unit tests where it fires and where it
// does not.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	promtool := requirePrometheusTool(t, "promtool")
	runPromtool(t, promtool, "check", "rules", rulesFile)
	runPromtool(t, promtool, "test", "rules", rulesTestFile)

	raw, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tests.RuleFiles, []string{filepath.Base(rulesFile)}) {
		t.Fatalf("%s tests %v, want the shipped %s", rulesTestFile, tests.RuleFiles, filepath.Base(rulesFile))
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	alerts := 0
	for _, g := range readRules(t, rulesFile).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if !firing[r.Alert] || !quiet[r.Alert] {
				t.Errorf("alert %s: unit tests where it fires: %v, where it does not: %v; want both", r.Alert, firing[r.Alert], quiet[r.Alert])
			}
			if s := r.Annotations["summary"]; !strings.Contains(s, "Fix:") {
				t.Errorf("alert %s: summary does not name the fix (\"Fix: ...\"): %q", r.Alert, s)
			}
			if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" {
				t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, sev)
			}
		}
	}
	if alerts < 8 {
		t.Fatalf("%d alerts in %s, want the 8 the kit documents", alerts, rulesFile)
	}
}

// dashboardQueries returns every PromQL query of the Grafana dashboard: the
// panels' targets and the template variables' queries.
func dashboardQueries(t *testing.T) (exprs, variables []string) {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("dashboard panel %q has an empty query", p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		if q == "" {
			t.Errorf("dashboard variable %s has no query", v.Name)
		}
		variables = append(variables, q)
	}
	return exprs, variables
}

// grafanaVars are Grafana's variables in a query, replaced by what they
// expand to so promtool can parse the query.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$seller", ".*", "$queue", ".*")

// sellerless are the worker's series without a seller label (about Redis
// or about queues no seller of the worker owns): a seller filter on them
// matches nothing. TestMonitoringNamesExported checks the labels against a
// running worker.
var sellerless = map[string]bool{"wdtcancel_redis_evicting": true, "wdtcancel_redis_durable": true,
	"wdtcancel_redis_wait_unmet": true, "wdtcancel_unknown_seller_queues": true}

// TestDashboardQueriesParse has promtool parse every dashboard query (as a
// recording rule, Grafana's variables expanded) and checks the seller and
// queue variables are applied where they mean something.
func TestDashboardQueriesParse(t *testing.T) {
	t.Parallel()
	exprs, variables := dashboardQueries(t)
	if len(exprs) < 10 || len(variables) != 2 {
		t.Fatalf("dashboard has %d queries and %d query variables, want at least 10 and 2 (seller, queue)", len(exprs), len(variables))
	}
	for _, e := range exprs {
		names := promqlMetricNames(e)
		sellerScoped := slices.ContainsFunc(names, func(n string) bool {
			return strings.HasPrefix(n, "wdtcancel_") && !strings.HasPrefix(n, "wdtcancel_api_") && !sellerless[n]
		})
		if sellerScoped && !strings.Contains(e, `seller=~"$seller"`) {
			t.Errorf("dashboard query over a worker metric without the seller filter: %s", e)
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "asynq_") }) && !strings.Contains(e, `queue=~"$queue"`) {
			t.Errorf("dashboard query over asynq's metrics without the queue filter: %s", e)
		}
	}
	promtool := requirePrometheusTool(t, "promtool")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, err := json.Marshal(grafanaVars.Replace(e)) // a JSON string is a YAML string
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("      - record: dashboard_query_" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "\n        expr: " + string(q) + "\n")
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, promtool, "check", "rules", path)
}

// promqlKeywords are the words of PromQL that are not metric names when
// they stand outside a function call's name position.
var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"inf": true, "nan": true,
}

var (
	promqlStrings    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlMatchers   = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges     = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping   = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlGrafanaVar = regexp.MustCompile(`\$\{?\w+\}?`)
	promqlIdent      = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promqlNumber     = regexp.MustCompile(`\b\d[\w.]*`) // numbers and durations (5m, 1h30m, 1e3)
	labelValuesQuery = regexp.MustCompile(`^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)`)
)

// promqlMetricNames returns the metric names a PromQL query (or a Grafana
// label_values query) reads: the identifiers left once strings, label
// matchers, ranges, grouping clauses and Grafana variables are removed,
// that are neither a function called nor a keyword. It is a tokenizer, not
// a parser, which is enough for queries this kit writes.
func promqlMetricNames(q string) []string {
	if m := labelValuesQuery.FindStringSubmatch(q); m != nil {
		return []string{m[1]}
	}
	s := promqlStrings.ReplaceAllString(q, `""`)
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	s = promqlGrafanaVar.ReplaceAllString(s, " ")
	s = promqlNumber.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	var names []string
	for _, loc := range promqlIdent.FindAllStringIndex(s, -1) {
		word := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if promqlKeywords[word] || strings.HasPrefix(rest, "(") || seen[word] {
			continue
		}
		seen[word] = true
		names = append(names, word)
	}
	return names
}

func TestPromqlMetricNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q    string
		want []string
	}{
		{`sum by (seller, category) (rate(wdtcancel_calls_total{seller=~"$seller", category="x y"}[$__rate_interval]))`, []string{"wdtcancel_calls_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(a_bucket[5m])))`, []string{"a_bucket"}},
		{"(max by (seller) (a) == 1)\nunless on (seller)\n(max by (seller) (b) == 1)", []string{"a", "b"}},
		{`sum(rate(x_sum[1m])) / sum(rate(x_count[1m])) > 1e3`, []string{"x_sum", "x_count"}},
		{`abs(wdtcancel:rec:rate5m offset 5m) > 60`, []string{"wdtcancel:rec:rate5m"}},
		{`max(a) without (instance) or vector(0)`, []string{"a"}},
		{`label_values(asynq_queue_size, queue)`, []string{"asynq_queue_size"}},
		{`sum(a) by (x) + on(y) group_left(z) b`, []string{"a", "b"}},
	}
	for _, tt := range tests {
		if got := promqlMetricNames(tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("promqlMetricNames(%q) = %v, want %v", tt.q, got, tt.want)
		}
	}
}

// exportedNames reads a /metrics answer and returns the sample names in it
// (a histogram's _bucket, _sum and _count, as Prometheus stores them).
func exportedNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	code, body := testkit.Get(t, url)
	if code != 200 {
		t.Fatalf("GET %s: %d", url, code)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// selectorRE finds name{matchers} in PromQL; labelNameRE the label names
// of the matchers.
var (
	selectorRE  = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}`)
	labelNameRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

// exportedLabels reads a /metrics answer: each sample name with the label
// names its series carry.
func exportedLabels(t *testing.T, url string) map[string]map[string]bool {
	t.Helper()
	code, body := testkit.Get(t, url)
	if code != 200 {
		t.Fatalf("GET %s: %d", url, code)
	}
	out := map[string]map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		name = strings.Fields(name)[0]
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		if rest == "" {
			continue
		}
		for _, lm := range labelNameRE.FindAllStringSubmatch(rest[:strings.LastIndex(rest, "}")], -1) {
			out[name][lm[1]] = true
		}
	}
	return out
}

// TestMonitoringNamesExported checks every metric the dashboard and the
// rules read against reality: what a running worker (on a real Redis and
// the sandbox, after one task) and the api's --metrics-listen export, plus
// the recording rules the rules file defines.
func TestMonitoringNamesExported(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	sb, err := sandbox.NewServer(sandbox.Options{Orders: map[string]int{"MON1": sandbox.StateEditing}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	wk := startCmd(t, "worker", "--redis-url", r.URL(), "--listen", "127.0.0.1:0", "--wdt-url", sb.APIURL(),
		"--sid", sandbox.DefaultSID, "--appkey", sandbox.DefaultAppKey, "--appsecret", sandbox.DefaultAppSecret)
	ops := listenAddr(t, wk.logged(t, "worker started"), "ops")
	api := startCmd(t, "api", "--redis-url", r.URL(), "--listen", "127.0.0.1:0", "--allow-unauthenticated", "--metrics-listen", "127.0.0.1:0")
	apiMetrics := listenAddr(t, api.logged(t, "api metrics listening"), "addr")
	// One task, so asynq knows the queue and exports its series, and the
	// api one request so it exports its counter.
	apiAddr := listenAddr(t, api.logged(t, "api listening"), "addr")
	if code, body := testkit.Get(t, "http://"+apiAddr+"/v1/cancellations/MON1"); code != 200 && code != 404 {
		t.Fatalf("api GET: %d %s", code, body)
	}
	if _, errOut, code := runCmd(t, context.Background(), "", "enqueue", "--redis-url", r.URL(), "MON1"); code != 0 {
		t.Fatalf("enqueue %d: %s", code, errOut)
	}
	wk.loggedFor(t, "task done", "MON1")

	have := exportedNames(t, "http://"+ops+"/metrics")
	for n := range exportedNames(t, "http://"+apiMetrics+"/metrics") {
		have[n] = true
	}
	rules := readRules(t, rulesFile)
	for _, rec := range rules.records() {
		have[rec] = true
	}
	exprs, variables := dashboardQueries(t)
	used := map[string][]string{}
	for _, q := range append(append(exprs, variables...), rules.exprs()...) {
		names := promqlMetricNames(q)
		if len(names) == 0 {
			t.Errorf("no metric name found in query %q", q)
		}
		for _, n := range names {
			used[n] = append(used[n], q)
		}
	}
	var missing []string
	for n := range used {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	for _, n := range missing {
		t.Errorf("metric %s is read by %q but neither a worker nor the api exports it, and no recording rule defines it", n, used[n][0])
	}
	// The kit reads what the README's metric table promises.
	for _, n := range []string{"wdtcancel_calls_total", "wdtcancel_call_duration_seconds_bucket", "wdtcancel_config_fault", "wdtcancel_breaker_open",
		"wdtcancel_dead_letters", "wdtcancel_dead_lettered_total", "wdtcancel_dead_lettered_ambiguous_total", "wdtcancel_clock_offset_seconds",
		"wdtcancel_rate_limit_waits_total", "wdtcancel_redis_evicting", "asynq_queue_size", "asynq_queue_latency_seconds", "wdtcancel_api_requests_total",
		"wdtcancel_unknown_seller_queues"} {
		if len(used[n]) == 0 {
			t.Errorf("neither the dashboard nor the rules read %s", n)
		}
	}
	// Every alert's metric has a panel, and no panel filters on a label
	// its series do not carry (the "Redis evicting" panel once filtered on
	// seller, which wdtcancel_redis_evicting has not: it showed nothing).
	if !slices.ContainsFunc(exprs, func(q string) bool { return strings.Contains(q, "wdtcancel_unknown_seller_queues") }) {
		t.Error("no dashboard panel shows wdtcancel_unknown_seller_queues")
	}
	labels := exportedLabels(t, "http://"+ops+"/metrics")
	for _, q := range exprs {
		for _, m := range selectorRE.FindAllStringSubmatch(q, -1) {
			name, matchers := m[1], m[2]
			have, known := labels[name]
			if !known {
				continue
			}
			for _, lm := range labelNameRE.FindAllStringSubmatch(matchers, -1) {
				if !have[lm[1]] {
					t.Errorf("dashboard query %q filters %s on label %q, which its series do not carry (labels %v)", q, name, lm[1], have)
				}
			}
		}
	}
	t.Logf("%d metric names read by the dashboard and the rules", len(used))
}

// TestAlertsListedWhereDocumented: docs/monitoring/README.md's table and
// docs/operations.md's list name exactly the alerts of the rules file, so neither
// says "eight" when there are nine.
func TestAlertsListedWhereDocumented(t *testing.T) {
	t.Parallel()
	var rules []string
	for _, g := range readRules(t, rulesFile).Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				rules = append(rules, r.Alert)
			}
		}
	}
	slices.Sort(rules)
	listed := func(file, section, prefix string) []string {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		i := strings.Index(text, section)
		if i < 0 {
			t.Fatalf("%s has no %q", file, section)
		}
		var names []string
		started := false
		for _, line := range strings.Split(text[i+len(section):], "\n") {
			if !strings.HasPrefix(line, prefix+"`Wdtcancel") {
				if started && !strings.HasPrefix(line, " ") {
					break
				}
				continue
			}
			started = true
			name := strings.TrimPrefix(line, prefix+"`")
			names = append(names, name[:strings.Index(name, "`")])
		}
		slices.Sort(names)
		return names
	}
	for _, d := range []struct{ file, section, prefix string }{
		{"../../docs/monitoring/README.md", "## The alerts", "| "},
		{"../../docs/operations.md", "each alert's summary names the fix:", "* "},
	} {
		if got := listed(d.file, d.section, d.prefix); !slices.Equal(got, rules) {
			t.Errorf("%s lists %d alerts %v; the rules file has %d: %v", d.file, len(got), got, len(rules), rules)
		}
	}
}

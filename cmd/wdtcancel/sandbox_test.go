package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

func TestSandboxCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	orders := filepath.Join(dir, "orders.txt")
	os.WriteFile(orders, []byte("RK20 20\nRK80 80\n"), 0o644)
	sb := startCmd(t, "sandbox", "--listen", "127.0.0.1:0", "--orders", orders, "--unknown", "missing")
	addr := listenAddr(t, sb.logged(t, "sandbox listening"), "url")
	ctx := context.Background()
	creds, _ := wdt.NewCredentials("sandbox", "sandbox", "sandbox:sandbox")
	c, _ := wdt.New("http://"+addr+"/openapi", creds)
	for no, want := range map[string]wdt.Category{"RK20": wdt.Cancelled, "RK80": wdt.Rejected, "RKX": wdt.Rejected} {
		if got := wdt.CategoryOf(c.CancelPreStockin(ctx, no)); got != want {
			t.Errorf("%s: %s, want %s", no, got, want)
		}
	}
	if code := sb.stop(t); code != 0 {
		t.Fatalf("sandbox exited %d after cancel", code)
	}
}

func TestSandboxCommandBadOrdersFile(t *testing.T) {
	t.Parallel()
	_, _, code := runCmd(t, context.Background(), "", "sandbox", "--orders", "/nonexistent/orders.txt")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
}

// TestSandboxCommandFaultFlags runs the binary's sandbox with every call
// applied and then garbled: the client never sees a success, the order is
// cancelled all the same, and PUT puts it back for a rerun.
func TestSandboxCommandFaultFlags(t *testing.T) {
	t.Parallel()
	sb := startCmd(t, "sandbox", "--listen", "127.0.0.1:0", "--apply-fail-rate", "1", "--seed", "3")
	addr := listenAddr(t, sb.logged(t, "sandbox listening"), "url")
	ctx := context.Background()
	base := "http://" + addr
	creds, _ := wdt.NewCredentials("sandbox", "sandbox", "sandbox:sandbox")
	c, _ := wdt.New(base+"/openapi", creds, wdt.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
	if err := c.CancelPreStockin(ctx, "GF1"); err == nil {
		t.Fatal("a garbled answer read as success")
	}
	var o struct {
		Status  int `json:"status"`
		Garbled int `json:"garbled_responses"`
	}
	getJSON(t, base+"/_sandbox/orders/GF1", &o)
	if o.Status != 10 || o.Garbled != 1 {
		t.Fatalf("order after a garbled answer: %+v", o)
	}
	req, _ := http.NewRequest(http.MethodPut, base+"/_sandbox/orders/GF1", strings.NewReader(`{"status":20}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	getJSON(t, base+"/_sandbox/orders/GF1", &o)
	if resp.StatusCode != 200 || o.Status != 20 {
		t.Fatalf("PUT: %d, order %+v", resp.StatusCode, o)
	}
	var st struct {
		ByFault map[string]int `json:"by_fault"`
	}
	getJSON(t, base+"/_sandbox/stats", &st)
	if n := len(st.ByFault); n != 1 {
		t.Fatalf("by_fault %v, want one garbled_* fault", st.ByFault)
	}
	for name := range st.ByFault {
		if !strings.HasPrefix(name, "garbled_") {
			t.Fatalf("by_fault %v", st.ByFault)
		}
	}
	if code := sb.stop(t); code != 0 {
		t.Fatalf("sandbox exited %d after cancel", code)
	}
}

func TestSandboxCommandBadFaultRates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   []string
		errHas string
	}{
		{[]string{"--redirect-rate", "1.5"}, "redirect-rate 1.5 is outside 0..1"},
		{[]string{"--lax-json-rate", "-1"}, "lax-json-rate -1 is outside 0..1"},
		{[]string{"--fail-rate", "0.5", "--apply-fail-rate", "0.4", "--lost-response-rate", "0.2"}, "add up to 1.1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			_, stderr, code := runCmd(t, context.Background(), "", append([]string{"sandbox", "--listen", "127.0.0.1:0"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.errHas) {
				t.Fatalf("exit %d %q, want %d and %q", code, stderr, exitUsage, tt.errHas)
			}
		})
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestSandboxDocNamesEveryFault keeps docs/sandbox.md's list of by_fault
// names in step with the sandbox.
func TestSandboxDocNamesEveryFault(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../docs/sandbox.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range sandbox.FaultNames() {
		if !strings.Contains(string(raw), "`"+name+"`") {
			t.Errorf("docs/sandbox.md does not name the sandbox fault %s", name)
		}
	}
}

// sellersFile writes a sellers file for the sandbox with two sellers that
// share the number RKS: editing at shop-a (from an orders file next to the
// sellers file), completed at shop-b, whose quota is one call a minute.
func sellersFile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a-orders.txt"), []byte("RKS 20\n"), 0o644)
	path := filepath.Join(dir, "sellers.yaml")
	os.WriteFile(path, []byte(`inline_secrets: true
sellers:
  shop-a:
    sid: sid-a
    appkey: key-a
    appsecret: SecretAlpha7:SaltAlpha7
    sandbox:
      orders: a-orders.txt
      unknown: missing
      latency: 5ms
  shop-b:
    sid: sid-b
    appkey: key-b
    appsecret_env: WDT_SANDBOX_TEST_SECRET_B
    sandbox:
      orders: `+filepath.Join(dir, "b-orders.txt")+`
      rate_per_minute: 1
      seed: 4
`), 0o644)
	os.WriteFile(filepath.Join(dir, "b-orders.txt"), []byte("RKS 80\n"), 0o644)
	return path
}

// TestSandboxCommandSellers serves a sellers file: each seller's calls act
// on its own orders under its own quota, the inspection endpoints take
// ?seller=, and the log names each seller once and no secret.
func TestSandboxCommandSellers(t *testing.T) {
	t.Setenv("WDT_SANDBOX_TEST_SECRET_B", "SecretBeta7:SaltBeta7")
	t.Setenv("WDTCANCEL_SANDBOX_SELLERS", sellersFile(t))
	sb := startCmd(t, "sandbox", "--listen", "127.0.0.1:0")
	base := "http://" + listenAddr(t, sb.logged(t, "sandbox listening"), "url")
	lines := sb.stderr.lines.Wait(t, "one line per seller", 2, func(l logLine) bool { return l["msg"] == "sandbox seller" })
	if lines[0]["seller"] != "shop-a" || lines[0]["orders"] != 1.0 || lines[0]["unknown"] != "missing" ||
		lines[1]["seller"] != "shop-b" || lines[1]["rate_per_minute"] != 1.0 || lines[1]["seed"] != 4.0 {
		t.Errorf("seller lines %v", lines)
	}
	ctx := context.Background()
	client := func(sid, key, secret string) *wdt.Client {
		creds, _ := wdt.NewCredentials(sid, key, secret)
		c, _ := wdt.New(base+"/openapi", creds, wdt.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
		return c
	}
	a := client("sid-a", "key-a", "SecretAlpha7:SaltAlpha7")
	b := client("sid-b", "key-b", "SecretBeta7:SaltBeta7")
	for _, c := range []struct {
		name string
		c    *wdt.Client
		no   string
		want wdt.Category
	}{
		{"shop-a's RKS", a, "RKS", wdt.Cancelled},
		{"shop-a: unlisted is missing", a, "RKX", wdt.Rejected},
		{"shop-b's RKS is completed", b, "RKS", wdt.Rejected},
		{"shop-b over its quota", b, "RKS", wdt.RateLimited},
		{"shop-b's sid with shop-a's secret", client("sid-b", "key-b", "SecretAlpha7:SaltAlpha7"), "RKS", wdt.Config},
		{"an unknown sid", client("sid-z", "key-a", "SecretAlpha7:SaltAlpha7"), "RKS", wdt.Config},
	} {
		if got := wdt.CategoryOf(c.c.CancelPreStockin(ctx, c.no)); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	var o sandbox.Order
	getJSON(t, base+"/_sandbox/orders/RKS?seller=shop-a", &o)
	if o.Status != 10 || o.CancelCalls != 1 {
		t.Errorf("shop-a's RKS: %+v", o)
	}
	getJSON(t, base+"/_sandbox/orders/RKS?seller=shop-b", &o)
	if o.Status != 80 || o.CancelCalls != 1 {
		t.Errorf("shop-b's RKS: %+v", o)
	}
	var st sandbox.MultiStats
	getJSON(t, base+"/_sandbox/stats", &st)
	if st.Sellers["shop-a"].Cancellations != 1 || st.Sellers["shop-b"].ByStatus["100"] != 2 || st.Sellers["shop-b"].ByStatus["1"] != 1 || st.UnknownSID.Calls != 1 {
		t.Errorf("stats %+v", st)
	}
	resp, err := http.Get(base + "/_sandbox/orders/RKS")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an order without ?seller=: %d, want 400", resp.StatusCode)
	}
	if code := sb.stop(t); code != 0 {
		t.Fatalf("sandbox exited %d", code)
	}
	testkit.NoLeaks(t, "sandbox log", sb.stderr.String(), "SecretAlpha7", "SaltAlpha7", "SecretBeta7", "SaltBeta7")
}

// TestSandboxCommandSellersRefusals: a bad sellers file, or a per-seller
// flag beside it, is a usage error that says what to do.
func TestSandboxCommandSellersRefusals(t *testing.T) {
	good := sellersFile(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	entry := "inline_secrets: true\nsellers:\n  shop-a:\n    sid: s\n    appkey: k\n    appsecret: SecretAlpha7:SaltAlpha7\n"
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		errHas []string
	}{
		{"--sid beside --sellers", nil, []string{"--sellers", good, "--sid", "x"}, []string{"--sid (WDTCANCEL_SANDBOX_SID)", "sandbox: block"}},
		{"WDTCANCEL_SANDBOX_APPSECRET beside --sellers", map[string]string{"WDTCANCEL_SANDBOX_APPSECRET": "SecretEnv7:SaltEnv7"}, []string{"--sellers", good}, []string{"--appsecret (WDTCANCEL_SANDBOX_APPSECRET)"}},
		{"--latency and --seed beside --sellers", nil, []string{"--sellers", good, "--latency", "1s", "--seed", "3"}, []string{"--latency", "--seed"}},
		{"no such file", nil, []string{"--sellers", filepath.Join(dir, "none.yaml")}, []string{"none.yaml"}},
		{"secret variable unset", nil, []string{"--sellers", good}, []string{`seller "shop-b"`, "WDT_SANDBOX_TEST_SECRET_B is not set"}},
		{"unknown key in the sandbox block", nil, []string{"--sellers", write("k.yaml", entry+"    sandbox:\n      latnecy: 1s\n")}, []string{"latnecy"}},
		{"bad unknown policy", nil, []string{"--sellers", write("u.yaml", entry+"    sandbox:\n      unknown: maybe\n")}, []string{`seller "shop-a"`, "maybe"}},
		{"bad fault rate", nil, []string{"--sellers", write("f.yaml", entry+"    sandbox:\n      fail_rate: 1.5\n")}, []string{`seller "shop-a"`, "fail-rate 1.5 is outside 0..1"}},
		{"missing orders file", nil, []string{"--sellers", write("o.yaml", entry+"    sandbox:\n      orders: nope.txt\n")}, []string{`seller "shop-a"`, "nope.txt"}},
		{"negative quota", nil, []string{"--sellers", write("q.yaml", entry+"    sandbox:\n      rate_per_minute: -1\n")}, []string{`seller "shop-a"`, "rate_per_minute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, stderr, code := runCmd(t, context.Background(), "", append([]string{"sandbox", "--listen", "127.0.0.1:0"}, tt.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", code, exitUsage, stderr)
			}
			for _, h := range tt.errHas {
				if !strings.Contains(stderr, h) {
					t.Errorf("%q lacks %q", stderr, h)
				}
			}
			testkit.NoLeaks(t, "stderr", stderr, "SecretAlpha7", "SaltAlpha7", "SecretEnv7", "SaltEnv7")
		})
	}
}

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// TestSandboxREADMENamesEveryFault keeps the README's list of by_fault
// names in step with the sandbox.
func TestSandboxREADMENamesEveryFault(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range sandbox.FaultNames() {
		if !strings.Contains(string(raw), "`"+name+"`") {
			t.Errorf("README does not name the sandbox fault %s", name)
		}
	}
}

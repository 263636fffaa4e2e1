package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

func TestSandboxCommand(t *testing.T) {
	dir := t.TempDir()
	orders := filepath.Join(dir, "orders.txt")
	os.WriteFile(orders, []byte("RK20 20\nRK80 80\n"), 0o644)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		_, _, code := runCmd(t, ctx, "", "sandbox", "--listen", addr, "--orders", orders, "--unknown", "missing", "--log-level", "error")
		done <- code
	}()
	waitListening(t, addr)
	creds, _ := wdt.NewCredentials("sandbox", "sandbox", "sandbox:sandbox")
	c, _ := wdt.New("http://"+addr+"/openapi", creds)
	for no, want := range map[string]wdt.Category{"RK20": wdt.Cancelled, "RK80": wdt.Rejected, "RKX": wdt.Rejected} {
		if got := wdt.CategoryOf(c.CancelPreStockin(ctx, no)); got != want {
			t.Errorf("%s: %s, want %s", no, got, want)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("sandbox exited %d after cancel", code)
	}
}

func TestSandboxCommandBadOrdersFile(t *testing.T) {
	_, _, code := runCmd(t, context.Background(), "", "sandbox", "--orders", "/nonexistent/orders.txt")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
}

package worker_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestSecondWorkerOnABusyOpsPort: a second worker on the same host failed
// with "address already in use" on the default ops port although the README
// says to run one or more. With a fallback (the default port was not chosen
// explicitly) it serves on another port and says where at warn level;
// without one, Start fails with what to do.
func TestSecondWorkerOnABusyOpsPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r := testkit.NewRedis(t)
	conn, _ := asynq.ParseRedisURI(r.URL())
	creds, _ := wdt.NewCredentials(sandbox.DefaultSID, sandbox.DefaultAppKey, sandbox.DefaultAppSecret)
	api, err := wdt.New("http://127.0.0.1:1/openapi", creds)
	if err != nil {
		t.Fatal(err)
	}
	start := func(fallback string) (*worker.Worker, *observer.ObservedLogs, error) {
		core, logs := observer.New(zap.WarnLevel)
		w, err := worker.New(worker.Config{Redis: conn, Sellers: worker.SingleSeller(api, 0, 0), Listen: busy.Addr().String(), ListenFallback: fallback, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		err = w.Start(context.Background())
		if err != nil {
			w.Close()
		} else {
			t.Cleanup(w.Shutdown)
		}
		return w, logs, err
	}

	_, _, err = start("")
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("explicit busy port: %v, want a message naming --listen", err)
	}

	w, logs, err := start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("default busy port with a fallback: %v", err)
	}
	got := w.OpsAddr()
	if got == "" || got == busy.Addr().String() {
		t.Fatalf("ops on %q", got)
	}
	found := false
	for _, e := range logs.All() {
		if strings.Contains(e.Message, got) && strings.Contains(e.Message, "in use") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no warning naming the new address %s: %v", got, logs.All())
	}
	if c, err := net.Dial("tcp", got); err != nil {
		t.Fatalf("fallback port not serving: %v", err)
	} else {
		c.Close()
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/reconcile"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/internal/testkit/runview"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestEndToEndSeparateProcesses runs sandbox, worker and enqueue as separate
// processes of the real binary against a Redis server, then reconciles the
// sandbox's view of every order with `dlq ls --json` and the queue (package
// reconcile: the rules of the demo and the fault suite).
func TestEndToEndSeparateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const (
		secretPart = "E2eSecretK8m1"
		saltPart   = "E2eSaltP0o9"
	)
	bin, err := testkit.Build(t.TempDir(), ".")
	if err != nil {
		t.Fatal(err)
	}
	r := testkit.NewRedis(t)

	// 30 editing, 5 awaiting review, 5 completed, 3 already cancelled, and
	// 2 numbers the sandbox does not hold.
	var nos []string
	initial := map[string]int{}
	for i := 0; i < 45; i++ {
		no := fmt.Sprintf("E2E%03d", i)
		nos = append(nos, no)
		switch {
		case i < 30:
			initial[no] = sandbox.StateEditing
		case i < 35:
			initial[no] = sandbox.StateReview
		case i < 40:
			initial[no] = sandbox.StateCompleted
		case i < 43:
			initial[no] = sandbox.StateCancelled
		}
	}
	ordersFile := runview.WriteOrders(t, t.TempDir(), nos, initial)

	sbAddr, opsAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	env := []string{"REDIS_URL=" + r.URL(), "WDT_URL=http://" + sbAddr + "/openapi", "WDT_SID=e2e", "WDT_APPKEY=e2ekey", "WDT_APPSECRET=" + secretPart + ":" + saltPart,
		// The sandbox reads only its own variables, never the worker's WDT_*.
		"WDTCANCEL_SANDBOX_SID=e2e", "WDTCANCEL_SANDBOX_APPKEY=e2ekey", "WDTCANCEL_SANDBOX_APPSECRET=" + secretPart + ":" + saltPart}
	env = append(env, testkit.ProcessEnv(r)...)
	sb := testkit.Start(t, "sandbox", bin, env, "sandbox", "--listen", sbAddr, "--orders", ordersFile, "--unknown", "missing",
		"--fail-rate", "0.1", "--lost-response-rate", "0.05", "--clock-offset", "150s", "--seed", "11")
	testkit.WaitListening(t, sbAddr)
	wk := testkit.Start(t, "worker", bin, env, "worker", "--listen", opsAddr, "--concurrency", "4", "--backoff-base", "100ms", "--backoff-cap", "1s", "--shutdown-timeout", "5s")
	testkit.WaitListening(t, opsAddr)

	enq := testkit.Run(t, bin, env, "# batch\r\n"+strings.Join(nos, "\r\n")+"\r\n", "enqueue", "--file", "-", "--json", "--source", "e2e")
	var sum struct{ Enqueued, Duplicate, Invalid, Failed int }
	if enq.Code != 0 || json.Unmarshal([]byte(enq.Stdout), &sum) != nil || sum.Enqueued != len(nos) {
		t.Fatalf("enqueue exit %d: %s", enq.Code, enq.Output())
	}

	runview.WaitSettled(t, r.URL(), len(nos), 60*time.Second)

	ls := testkit.Run(t, bin, env, "", "dlq", "ls", "--json")
	if ls.Code != 0 {
		t.Fatalf("dlq ls --json exit %d: %s", ls.Code, ls.Output())
	}
	var sources []struct {
		No     string `json:"pre_stockin_no"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(ls.Stdout), &sources); err != nil {
		t.Fatal(err)
	}
	for _, s := range sources {
		if s.Source != "e2e" {
			t.Errorf("dead letter %s: source %q, want e2e", s.No, s.Source)
		}
	}
	orders, _ := runview.SandboxOrders(t, sbAddr)
	v := reconcile.Check(reconcile.Input{
		Nos: nos, Initial: initial, UnknownMissing: true,
		Orders: orders, Numbers: runview.View(t, r.URL(), runview.ParseDLQ(t, ls.Stdout), nos),
	})
	for _, p := range v.Problems {
		t.Error(p)
	}
	if v.Exhausted() != 0 || v.Dead < 10 {
		t.Errorf("want no order given up, and at least the 10 not editable dead: %s", v)
	}
	t.Logf("end to end: %s", v)

	// SIGTERM: the worker and the sandbox exit 0, the worker within its
	// shutdown timeout.
	wk.Signal(syscall.SIGTERM)
	if exited, err := wk.Wait(15 * time.Second); !exited || err != nil {
		t.Fatalf("worker after SIGTERM: exited %v, %v", exited, err)
	}
	sb.Signal(syscall.SIGTERM)
	if exited, err := sb.Wait(15 * time.Second); !exited || err != nil {
		t.Fatalf("sandbox after SIGTERM: exited %v, %v", exited, err)
	}
	for _, p := range []*testkit.Proc{wk, sb} {
		testkit.NoLeaks(t, p.Name+" output", p.Out.String(), secretPart, saltPart)
	}
	testkit.NoLeaks(t, "CLI output", enq.Output()+ls.Output(), secretPart, saltPart)
	if !strings.Contains(wk.Out.String(), `"msg":"worker stopped"`) {
		t.Fatalf("worker did not log a clean stop:\n%s", wk.Out)
	}
}

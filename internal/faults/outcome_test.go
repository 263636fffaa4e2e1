//go:build faults

package faults

import (
	"strings"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// 9. Apply-then-fail: the sandbox applies a share of cancels and then
// answers with a gateway page, a 5xx (one with {"status":0}), an empty or
// cut body or status 99; it answers another share with lax JSON without
// applying, and loses a share of responses after applying. The ground
// truth: no order cancelled at the sandbox is dead-lettered without
// ambiguous, no order the sandbox did not cancel is reported done.
func TestApplyThenFail(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{AppendFsync: "everysec"})
	o := makeOrders("AF", size(400, 3000), 5)
	e.startSandbox(o, "--apply-fail-rate", "0.2", "--lax-json-rate", "0.05", "--lost-response-rate", "0.05",
		"--latency", "5ms", "--seed", "9")
	e.startWorker("--concurrency", "4")
	e.startWorker("--concurrency", "4")
	e.enqueueAll(o.nos)
	settled := e.waitSettled(len(o.nos), 5*time.Minute)
	v := e.mustVerify(o)
	var stats struct {
		ByFault map[string]int `json:"by_fault"`
	}
	e.get("http://"+e.sbAddr+"/_sandbox/stats", &stats)
	applied, lax := 0, 0
	for f, n := range stats.ByFault {
		switch {
		case strings.HasPrefix(f, "garbled_"), f == "lost_response":
			applied += n
		case strings.HasPrefix(f, "lax_json"):
			lax += n
		}
	}
	if applied == 0 || lax == 0 {
		t.Errorf("the scenario did not exercise apply-then-fail and lax JSON: %v", stats.ByFault)
	}
	t.Logf("apply-then-fail: %s; settled in %s; %d answers garbled or lost after applying, %d lax-JSON answers (never taken as success); faults %v",
		v, settled.Round(time.Second), applied, lax, stats.ByFault)
}

// 10. A WDT outage longer than the whole retry schedule: every order is
// held by the circuit breaker without using its retries, readiness says
// why, and when WDT is back every order settles correctly, none exhausted.
func TestLongOutage(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{AppendFsync: "everysec"})
	o := makeOrders("LO", size(300, 2000), 5)
	e.startSandbox(o, "--latency", "5ms")
	// A retry schedule of about a second: without the breaker, every order
	// would be exhausted many times over during the outage.
	w := e.startWorker("--concurrency", "4", "--max-retry", "4", "--backoff-base", "100ms", "--backoff-cap", "400ms",
		"--breaker-threshold", "5", "--breaker-window", "1s", "--breaker-probe-every", "500ms", "--breaker-hold", "10m")
	e.killSandbox()
	e.enqueueAll(o.nos)
	outage := dur(8*time.Second, 30*time.Second)
	// The sandbox stays dead a fixed while: the outage is the fault, and
	// the assertion is what readiness and the breaker show during it.
	time.Sleep(outage)
	if code := readyz(w.ops); code != 503 {
		t.Errorf("readyz during the outage: %d, want 503", code)
	}
	back := time.Now()
	e.restartSandbox()
	e.waitSettled(len(o.nos), 3*time.Minute)
	recovered := time.Since(back)
	v := e.mustVerify(o)
	exhausted := v.Exhausted()
	if code := readyz(w.ops); code != 200 {
		t.Errorf("readyz after recovery: %d", code)
	}
	t.Logf("long outage: %s outage against a ~1 s retry schedule; %s; %d exhausted; every order settled %s after WDT came back",
		outage, v, exhausted, recovered.Round(100*time.Millisecond))
}

// 11. A Redis that evicts: the worker and enqueue refuse it, with the fix;
// with --allow-eviction the worker runs but readiness reports the risk.
func TestEvictingRedis(t *testing.T) {
	for _, policy := range []string{"volatile-lru", "allkeys-lru"} {
		t.Run(policy, func(t *testing.T) {
			e := newEnv(t, testkit.RedisOptions{MaxmemoryPolicy: policy, Maxmemory: "64mb"})
			o := makeOrders("EV", 20, 0)
			e.startSandbox(o)
			p := e.start("worker", "worker", "--listen", "")
			if exited, _ := p.Wait(30 * time.Second); !exited {
				t.Fatalf("worker on %s did not refuse to start: %.400s", policy, p.Out.String())
			}
			if code := p.ExitCode(); code != 2 || !strings.Contains(p.Out.String(), policy) || !strings.Contains(p.Out.String(), "noeviction") {
				t.Errorf("worker on %s: exit %d: %.400s", policy, code, p.Out.String())
			}
			r := e.cli(strings.Join(o.nos, "\n"), "enqueue", "--file", "-")
			if r.Code != 2 || !strings.Contains(r.Output(), "noeviction") {
				t.Errorf("enqueue on %s: exit %d: %.400s", policy, r.Code, r.Output())
			}
			w := e.startWorker("--allow-eviction")
			if code := readyz(w.ops); code != 503 {
				t.Errorf("readyz with --allow-eviction on %s: %d, want 503", policy, code)
			}
			t.Logf("evicting Redis (%s): worker and enqueue refuse (exit 2, naming noeviction); with --allow-eviction readiness is 503", policy)
		})
	}
}

// killSandbox stops the sandbox: every call is refused until restartSandbox.
func (e *env) killSandbox() {
	e.t.Helper()
	e.sandbox.Kill()
}

// restartSandbox starts the sandbox again on the same address with the same
// arguments (its orders start from the file again).
func (e *env) restartSandbox() {
	e.t.Helper()
	e.sandbox = e.start("sandbox", e.sandbox.Cmd.Args[1:]...)
	testkit.WaitListening(e.t, e.sbAddr)
}

//go:build faults

package faults

import (
	"fmt"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks/outcome"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// lookupOrders is makeOrders with every tenth order cancelled before the
// run and every twentieth number unknown to the sandbox (--unknown
// missing), so the lookup's already_cancelled and not_found rows run too.
func lookupOrders(prefix string, n int) orderSet {
	o := makeOrders(prefix, n, 5)
	for i, no := range o.nos {
		switch {
		case i%20 == 19:
			delete(o.state, no)
		case i%10 == 9:
			o.state[no] = 10
		}
	}
	return o
}

// lookupFlags give a worker the order lookup on the sandbox's Qimen route
// (its default Qimen app; the secret is the sandbox's published one).
func (e *env) lookupFlags() []string {
	return []string{"--qimen-url", "http://" + e.sbAddr + sandbox.QimenPath, "--qimen-appkey", sandbox.DefaultQimenAppKey,
		"--qimen-appsecret", sandbox.DefaultQimenAppSecret, "--qimen-target-appkey", sandbox.DefaultQimenTargetAppKey}
}

// 19. The order lookup (issue 22): the apply-then-fail and lost-response
// mixes with the lookup on end with no ambiguous dead letter and no
// misfile; with the lookup down, nothing is misfiled and the doubtful
// orders go ambiguous instead of clean.
func TestLookupSettles(t *testing.T) {
	mixes := []struct {
		name, prefix string
		sandbox      []string
		worker       []string
		outage       bool
	}{
		{"apply-then-fail", "LA", []string{"--apply-fail-rate", "0.2", "--lax-json-rate", "0.05", "--lost-response-rate", "0.05"}, nil, false},
		{"lost-response", "LL", []string{"--fail-rate", "0.1", "--lost-response-rate", "0.1"}, nil, false},
		{"lookup-outage", "LO", []string{"--lost-response-rate", "0.1", "--qimen-outage-rate", "1"}, []string{"--max-retry", "3"}, true},
	}
	for _, m := range mixes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, testkit.RedisOptions{AppendFsync: "everysec"})
			o := lookupOrders(m.prefix, size(300, 3000))
			e.startSandbox(o, append([]string{"--latency", "5ms", "--seed", "19"}, m.sandbox...)...)
			args := append(append([]string{"--concurrency", "4"}, e.lookupFlags()...), m.worker...)
			e.startWorker(args...)
			e.startWorker(args...)
			e.enqueueAll(o.nos)
			settled := e.waitSettled(len(o.nos), 5*time.Minute)
			v := e.verify(o)
			for i, p := range v.Problems {
				if i == 20 {
					t.Errorf("... and %d more", len(v.Problems)-20)
					break
				}
				t.Error(p)
			}
			var qs struct {
				Calls    int            `json:"calls"`
				ByResult map[string]int `json:"by_result"`
			}
			e.get("http://"+e.sbAddr+"/_sandbox/qimen/stats", &qs)
			figures := fmt.Sprintf("%s; already_cancelled %d, not_found %d; %d lookups %v; settled in %s",
				v, v.AlreadyCancelled, v.DeadBy[outcome.NotFound], qs.Calls, qs.ByResult, settled.Round(time.Second))
			if qs.Calls == 0 {
				t.Errorf("no lookup reached the sandbox: %s", figures)
			}
			if !m.outage {
				if v.Ambiguous != 0 || v.Exhausted() != 0 {
					t.Errorf("with the lookup on: %d ambiguous, %d exhausted; want 0 and 0", v.Ambiguous, v.Exhausted())
				}
				if v.DeadBy[outcome.NotFound] == 0 || v.AlreadyCancelled == 0 {
					t.Errorf("the not_found and already_cancelled rows did not run: %s", figures)
				}
			} else if v.DeadBy[outcome.NotFound] != 0 || v.AlreadyCancelled != 0 {
				t.Errorf("a lookup that never answers settled something: %s", figures)
			}
			t.Logf("lookup, %s: %s", m.name, figures)
		})
	}
}

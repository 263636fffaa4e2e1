//go:build faults

package faults

import (
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/reconcile"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// 15. Keep-alive desync: a gateway that answers 504 at once and writes the
// real answer later on the same connection (--desync-rate), or writes an
// unsolicited extra 200 {"status":0} after an answer (--extra-answer-rate),
// on a fifth of the calls; every 5th order already completed at WDT. With
// the default worker flags (a fresh connection per call) no call can read
// another's answer: 0 cancelled orders dead-lettered clean, 0 orders done
// that WDT did not cancel. The control runs the same with
// --reuse-connections and must be hit (answers misplaced, problems found),
// or the scenario proves nothing; it reports its figures instead of failing
// on them.
func TestKeepAliveDesync(t *testing.T) {
	for _, tt := range []struct {
		name, flag, fault string
	}{
		{"desync", "--desync-rate", sandbox.FaultDesync},
		{"extra answer", "--extra-answer-rate", sandbox.FaultExtraAnswer},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, reuse := range []bool{false, true} {
				mode := map[bool]string{false: "default", true: "control reuse-connections"}[reuse]
				t.Run(mode, func(t *testing.T) {
					e := newEnv(t, testkit.RedisOptions{AppendFsync: "everysec"})
					o := makeOrders("KA", size(400, 3000), 5)
					e.startSandbox(o, tt.flag, "0.2", "--latency", "5ms", "--seed", "15")
					var extra []string
					if reuse {
						extra = []string{"--reuse-connections"}
					}
					e.startWorker(append([]string{"--concurrency", "4"}, extra...)...)
					e.startWorker(append([]string{"--concurrency", "4"}, extra...)...)
					e.enqueueAll(o.nos)
					settled := e.waitSettled(len(o.nos), 5*time.Minute)
					var stats struct {
						Calls   int            `json:"calls"`
						ByFault map[string]int `json:"by_fault"`
					}
					e.get("http://"+e.sbAddr+"/_sandbox/stats", &stats)
					if !reuse {
						v := e.mustVerify(o)
						if stats.ByFault[tt.fault] == 0 || stats.ByFault[sandbox.FaultMisplacedAnswer] != 0 {
							t.Errorf("fresh connections: faults %v: want %s hit and no answer misplaced", stats.ByFault, tt.fault)
						}
						t.Logf("keep-alive %s, default flags (a fresh connection per call): %s; %d of %d calls hit, %d answers misplaced; settled in %s",
							tt.name, v, stats.ByFault[tt.fault], stats.Calls, stats.ByFault[sandbox.FaultMisplacedAnswer], settled.Round(100*time.Millisecond))
						return
					}
					v := e.verify(o)
					byRule := map[reconcile.Rule]int{}
					for _, p := range v.Problems {
						byRule[p.Rule]++
					}
					if stats.ByFault[sandbox.FaultMisplacedAnswer] == 0 || len(v.Problems) == 0 {
						t.Errorf("control: with --reuse-connections %d answers were misplaced and reconcile found %d problems; the scenario does not bite", stats.ByFault[sandbox.FaultMisplacedAnswer], len(v.Problems))
					}
					t.Logf("keep-alive %s, control --reuse-connections: %s; %d answers misplaced; %d cancelled orders dead-lettered clean, %d done that WDT did not cancel, %d other problems",
						tt.name, v, stats.ByFault[sandbox.FaultMisplacedAnswer], byRule[reconcile.RuleCancelledDeadClean], byRule[reconcile.RuleDoneNotCancelled],
						len(v.Problems)-byRule[reconcile.RuleCancelledDeadClean]-byRule[reconcile.RuleDoneNotCancelled])
				})
			}
		})
	}
}

package bench

import (
	"testing"
	"time"
)

// TestCommandCalls: every command's calls count, INFO's own do not, and
// Redis's CPU is user plus system.
func TestCommandCalls(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_evalsha:calls=10,usec=50,usec_per_call=5.00\r\n" +
		"cmdstat_get:calls=7,usec=7,usec_per_call=1.00\r\ncmdstat_info:calls=99,usec=1,usec_per_call=0.01\r\n" +
		"# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\nused_cpu_sys_children:9.0\r\n"
	calls, cpu, by := commandCalls(info)
	if calls != 17 || cpu != 3.75 || by["evalsha"] != 10 || by["get"] != 7 || by["info"] != 0 {
		t.Fatalf("calls %d, cpu %v, by %v; want 17, 3.75, evalsha 10 and get 7 without info", calls, cpu, by)
	}
}

// TestScoreCost judges made-up samples: calls counted inside the window
// only, the rate from first to last call, the longest gap, costs per call
// and beyond idle, and the bar.
func TestScoreCost(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	every := func(n int, gap time.Duration) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = t0.Add(time.Duration(i) * gap)
		}
		return out
	}
	a := costSample{at: t0, byCmd: map[string]int64{"get": 0}}
	b := costSample{at: t0.Add(10 * time.Second), cmds: 2000, cpu: 0.02, logBytes: 22000, byCmd: map[string]int64{"get": 100}}
	gapped := every(50, 100*time.Millisecond)
	for i := 0; i < 40; i++ {
		gapped = append(gapped, t0.Add(5900*time.Millisecond+time.Duration(i)*100*time.Millisecond))
	}
	idle := &QuotaIdle{RedisCmdsPerSec: 10, WorkerCPUPerSecMs: 1}
	tests := []struct {
		name     string
		accepted []time.Time
		limited  []time.Time
		calls    int
		used     float64
		gapMs    float64
		cmds     float64
		net      float64
		pass     bool
	}{
		// 100 calls 100 ms apart: 600/min exactly; 2000 commands, 100 of them idle's.
		{"at the rate", every(100, 100*time.Millisecond), nil, 100, 1, 100, 20, 19, true},
		{"calls after the window do not count", append(every(100, 100*time.Millisecond), t0.Add(11*time.Second)), nil, 100, 1, 100, 20, 19, true},
		{"a rate-limit answer fails", every(100, 100*time.Millisecond), []time.Time{t0}, 100, 1, 100, 20, 19, false},
		// 50 calls, a second's gap, 40 more: 89 intervals in 9.8 s.
		{"a gap fails the rate", gapped, nil, 90, 0.9082, 1000, 22.22, 21.11, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := scoreCost(1, 600, a, b, tt.accepted, tt.limited, idle)
			if row.Calls != tt.calls || row.Used != tt.used || row.MaxGapMs != tt.gapMs || row.RedisCmdsPerCall != tt.cmds ||
				row.RedisCmdsPerCallNet != tt.net || row.Pass != tt.pass {
				t.Fatalf("row %+v; want calls %d, used %v, max gap %v ms, %v (%v net) commands per call, pass %v",
					*row, tt.calls, tt.used, tt.gapMs, tt.cmds, tt.net, tt.pass)
			}
		})
	}
}

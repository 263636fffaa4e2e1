package bench

import (
	"strings"
	"testing"
	"time"
)

// TestValidateQuotaSellers: the multi-seller mode refuses, before anything
// starts, a number of sellers out of range, a backlog too small for the
// window (a queue that runs dry would read as a missed rate), and a run
// too large for Redis, naming the flag to change; without sellers it
// checks nothing.
func TestValidateQuotaSellers(t *testing.T) {
	tests := []struct {
		name    string
		sellers []int
		rates   []int
		backlog int
		wantErr string // "" = accepted
	}{
		{"no sellers: the single-seller rows", nil, []int{6000}, 1, ""},
		{"1, 3 and 100 sellers", []int{1, 3, 100}, []int{60, 600}, 3000, ""},
		{"zero sellers", []int{0}, []int{600}, 3000, "--at-quota-sellers 0"},
		{"too many sellers", []int{maxQuotaSellers + 1}, []int{600}, 100, "--at-quota-sellers 10001"},
		// 600/min over 2 s warm-up + 5 s window + 30 s slack = 370 tasks.
		{"backlog runs dry", []int{3}, []int{600}, 369, "--at-quota-backlog 369 is too small for 600/min"},
		{"backlog just enough", []int{3}, []int{600}, 371, ""},
		// 60/min: the window is 50 calls = 50 s, so 82 tasks (+1).
		{"slow rate lengthens the window", []int{100}, []int{60}, 82, "each seller needs at least 83 tasks"},
		{"too many tasks", []int{1000}, []int{600}, 3000, "3000000 tasks"},
		{"a zero rate", []int{3}, []int{0}, 3000, "--at-quota-rates 0"},
	}
	cluster := []struct {
		name    string
		sellers []int
		phases  []string
		url     string
		wantErr bool
	}{
		{"cluster, quota with sellers", []int{3}, []string{"quota"}, "", false},
		{"cluster without sellers", nil, []string{"quota"}, "", true},
		{"cluster with every phase", []int{3}, nil, "", true},
		{"cluster and another phase", []int{3}, []string{"quota", "idle"}, "", true},
		{"cluster and a Redis URL", []int{3}, []string{"quota"}, "redis://127.0.0.1:6379/0", true},
	}
	for _, tt := range cluster {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{RedisCluster: []string{"127.0.0.1:7000"}, RedisURL: tt.url, Phases: tt.phases, QuotaSellers: tt.sellers,
				QuotaRates: []int{600}, QuotaBacklog: 3000, QuotaRound: 5 * time.Second}
			err := o.validateQuotaSellers()
			if (err != nil) != tt.wantErr {
				t.Errorf("error %v, want an error: %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "--redis-cluster") {
				t.Errorf("error %q does not name --redis-cluster", err)
			}
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{QuotaSellers: tt.sellers, QuotaRates: tt.rates, QuotaBacklog: tt.backlog, QuotaRound: 5 * time.Second}
			err := o.validateQuotaSellers()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("accepted, want an error with %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
		})
	}
}

// TestScoreSellers folds made-up per-seller rows: the spread is over
// sellers, one seller below 99 % or one rate-limit answer fails the
// configuration, and the cost is per call of all sellers net of idle.
func TestScoreSellers(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	a := costSample{at: t0, cmds: 1000, cpu: 1}
	idle := &QuotaIdle{RedisCmdsPerSec: 10, WorkerCPUPerSecMs: 1}
	seller := func(used float64, limited int, gap float64) *QuotaCostRow {
		return &QuotaCostRow{Calls: 100, Used: used, RateLimitAnswers: limited, MaxGapMs: gap}
	}
	tests := []struct {
		name             string
		per              []*QuotaCostRow
		min, median, max float64
		below, limited   int
		gap              float64
		pass             bool
	}{
		{"all at the ceiling", []*QuotaCostRow{seller(0.992, 0, 110), seller(0.9915, 0, 120), seller(0.9921, 0, 105)}, 0.9915, 0.992, 0.9921, 0, 0, 120, true},
		{"one seller behind", []*QuotaCostRow{seller(0.992, 0, 110), seller(0.95, 0, 400), seller(0.9921, 0, 105)}, 0.95, 0.992, 0.9921, 1, 0, 400, false},
		{"one rate-limit answer", []*QuotaCostRow{seller(0.992, 0, 110), seller(0.992, 1, 110), seller(0.992, 0, 110)}, 0.992, 0.992, 0.992, 0, 1, 110, false},
		{"even count: median of the middle two", []*QuotaCostRow{seller(0.99, 0, 1), seller(0.992, 0, 1)}, 0.99, 0.991, 0.992, 0, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 20 commands and 0.2 ms a call, plus the idle 10/s and 1 ms/s.
			calls := float64(100 * len(tt.per))
			b := costSample{at: t0.Add(10 * time.Second), cmds: a.cmds + int64(20*calls) + 100, cpu: a.cpu + 0.0002*calls + 0.01}
			row := scoreSellers(2, len(tt.per), 600, 3000, a, b, tt.per, idle)
			if row.UsedMin != tt.min || row.UsedMedian != tt.median || row.UsedMax != tt.max || row.SellersBelow != tt.below ||
				row.RateLimitAnswers != tt.limited || row.MaxGapMs != tt.gap || row.Pass != tt.pass {
				t.Errorf("row %+v, want used %v/%v/%v, %d below, %d rate-limited, gap %v, pass %v", *row, tt.min, tt.median, tt.max, tt.below, tt.limited, tt.gap, tt.pass)
			}
			if want := round((20*calls + 100) / calls); row.RedisCmdsPerCall != want {
				t.Errorf("Redis commands per call %v, want %v", row.RedisCmdsPerCall, want)
			}
			if row.RedisCmdsPerCallNet != 20 || row.WorkerCPUPerCallNet != 0.2 {
				t.Errorf("net per call %v commands, %v ms CPU; want 20 and 0.2 (idle over 10 s subtracted)", row.RedisCmdsPerCallNet, row.WorkerCPUPerCallNet)
			}
			if row.Processes != 2 || row.Sellers != len(tt.per) || row.IntervalMs != 100.83 {
				t.Errorf("row %+v names the wrong configuration", *row)
			}
		})
	}
}

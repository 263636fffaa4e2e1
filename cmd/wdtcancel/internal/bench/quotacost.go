package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/pause"
)

// QuotaCostRes is phase quota: what a WDT call costs when the queue has a
// backlog and the limiter, not the work, decides when the next call goes,
// which is where users' workers spend their lives. Each configuration
// (worker processes × rate) runs on its own, so Redis's INFO commandstats
// and the workers' CPU belong to it alone.
type QuotaCostRes struct {
	Concurrency int `json:"concurrency"`
	Backlog     int `json:"backlog"`
	// Idle is what the same workers cost with an empty queue, per
	// process count: subtracted in the rows' *_net figures.
	Idle []QuotaIdle    `json:"idle"`
	Rows []QuotaCostRow `json:"configurations"`
	// Sellers: the multi-seller mode's rows (--at-quota-sellers), instead
	// of Idle and Rows.
	Sellers []QuotaSellersRow `json:"sellers,omitempty"`
	// Pass: every row used >= 99% of its rate with no rate-limit answer,
	// <= 25 Redis commands and <= 0.3 ms of worker CPU per call beyond idle.
	Pass bool `json:"pass"`
}

// QuotaIdle is the cost of worker processes with nothing to do.
type QuotaIdle struct {
	Processes         int     `json:"processes"`
	Seconds           float64 `json:"seconds"`
	RedisCmdsPerSec   float64 `json:"redis_commands_per_sec"`
	WorkerCPUPerSecMs float64 `json:"worker_cpu_ms_per_sec"` // all processes together
	LogBytesPerSec    float64 `json:"log_bytes_per_sec"`
}

// QuotaCostRow is one configuration at quota.
type QuotaCostRow struct {
	Processes int     `json:"processes"`
	Rate      int     `json:"rate_per_minute"`
	Seconds   float64 `json:"window_seconds"`
	Calls     int     `json:"calls"`
	// PerMinute: calls accepted in the window, first to last, per minute;
	// Used: that as a share of the rate (the limiter's ceiling is
	// 60/60.5 = 99.17%).
	PerMinute float64 `json:"calls_per_minute"`
	Used      float64 `json:"rate_used"`
	// RateLimitAnswers over the whole configuration, warm-up included.
	RateLimitAnswers int `json:"rate_limit_answers"`
	// MaxGapMs: the longest time between two calls in the window (the
	// interval is 60.5 s / rate).
	MaxGapMs float64 `json:"max_gap_ms"`
	// Per call in the window: every command Redis ran (INFO commandstats,
	// scripts' inner commands included, the bench's own INFO excluded),
	// Redis's CPU, the worker processes' CPU (/proc) and log bytes (at
	// --log-level info); *Net subtract what the same processes cost idle.
	RedisCmdsPerCall    float64 `json:"redis_commands_per_call"`
	RedisCmdsPerCallNet float64 `json:"redis_commands_per_call_net"`
	RedisCPUPerCallMs   float64 `json:"redis_cpu_ms_per_call"`
	WorkerCPUPerCallMs  float64 `json:"worker_cpu_ms_per_call"`
	WorkerCPUPerCallNet float64 `json:"worker_cpu_ms_per_call_net"`
	LogBytesPerCall     float64 `json:"log_bytes_per_call"`
	// RedisCmdsByName: the commands per call behind RedisCmdsPerCall,
	// by name (evalsha is the script call itself; its inner commands
	// count under their own names).
	RedisCmdsByName map[string]float64 `json:"redis_commands_per_call_by_name"`
	Pass            bool               `json:"pass"`
}

// quotaPass is the bar of issue 24.
func (row *QuotaCostRow) judge() {
	row.Pass = row.Used >= 0.99 && row.RateLimitAnswers == 0 && row.RedisCmdsPerCallNet <= 25 && row.WorkerCPUPerCallNet <= 0.3
}

// quotaCost runs phase quota: for each process count, the idle cost of
// the workers, then each rate with a backlog.
func (r *runner) quotaCost(ctx context.Context) error {
	if r.o.WorkerCommand == nil {
		r.res.Notes = append(r.res.Notes, "quota: skipped, no worker command")
		return nil
	}
	res := &QuotaCostRes{Concurrency: r.o.Concurrency, Backlog: r.o.QuotaBacklog, Pass: true}
	r.res.QuotaCost = res
	if len(r.o.QuotaSellers) > 0 {
		return r.quotaSellers(ctx, res)
	}
	for _, procs := range r.o.QuotaProcesses {
		idle, err := r.quotaIdle(ctx, procs)
		if err != nil {
			return fmt.Errorf("idle, %d processes: %w", procs, err)
		}
		res.Idle = append(res.Idle, *idle)
		for _, rate := range r.o.QuotaRates {
			row, err := r.quotaCostRun(ctx, procs, rate, idle)
			if err != nil {
				return fmt.Errorf("%d processes at %d/min: %w", procs, rate, err)
			}
			res.Rows = append(res.Rows, *row)
			res.Pass = res.Pass && row.Pass
			fmt.Fprintf(r.o.Out, "bench: quota %d processes at %d/min: %.2f%% of the rate, %d rate-limit answers, max gap %.0f ms, %.1f Redis commands (%.1f net of idle), %.3f ms worker CPU (%.3f net), %.0f log bytes per call\n",
				procs, rate, 100*row.Used, row.RateLimitAnswers, row.MaxGapMs, row.RedisCmdsPerCall, row.RedisCmdsPerCallNet, row.WorkerCPUPerCallMs, row.WorkerCPUPerCallNet, row.LogBytesPerCall)
		}
	}
	return nil
}

// costSample is one reading of what the counters say.
type costSample struct {
	at       time.Time
	cmds     int64 // every command Redis ran but INFO
	byCmd    map[string]int64
	redisCPU float64 // seconds
	cpu      float64 // seconds, all worker processes
	logBytes int64
}

func (r *runner) sample(ctx context.Context, pool *workerPool, logs *atomic.Int64) (costSample, error) {
	s := costSample{at: time.Now(), logBytes: logs.Load()}
	info, err := r.redisInfo(ctx, "commandstats", "cpu")
	if err != nil {
		return s, fmt.Errorf("INFO commandstats: %w", err)
	}
	s.cmds, s.redisCPU, s.byCmd = commandCalls(info)
	for _, pid := range pool.pids {
		s.cpu += procCPU(pid)
	}
	return s, nil
}

// commandCalls sums calls= over INFO commandstats, leaving out INFO
// itself (the bench's own readings), and adds up Redis's CPU seconds; on
// a Cluster info holds every master's, one after the other.
func commandCalls(info string) (calls int64, cpu float64, byCmd map[string]int64) {
	byCmd = make(map[string]int64)
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if name, rest, ok := strings.Cut(line, ":"); ok && strings.HasPrefix(name, "cmdstat_") && name != "cmdstat_info" {
			for _, f := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(f, "calls="); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					calls += n
					byCmd[strings.TrimPrefix(name, "cmdstat_")] += n // every node's, on a Cluster
				}
			}
		}
		if v, ok := strings.CutPrefix(line, "used_cpu_sys:"); ok {
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
		}
		if v, ok := strings.CutPrefix(line, "used_cpu_user:"); ok {
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
		}
	}
	return calls, cpu, byCmd
}

// procCPU is a live process's user and system CPU seconds, from /proc
// (0 where there is none).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux the bench runs on.
const clockTicks = 100

// quotaWorkers starts procs workers on queue q at rate against the WDT
// endpoint url, logging at info (a production worker's level) into a
// byte counter, and waits until each has registered with asynq.
func (r *runner) quotaWorkers(ctx context.Context, q, url string, procs, rate int, logs *atomic.Int64, profile string) (*workerPool, error) {
	env := []string{"REDIS_URL=" + r.url, "WDT_URL=" + url, "WDT_SID=sandbox", "WDT_APPKEY=sandbox", "WDT_APPSECRET=sandbox:sandbox"}
	if r.o.CPUProfile != "" {
		// The first process profiles its whole run (wdtcancel worker
		// --cpuprofile), one file per configuration.
		r.firstWorkerArgs = []string{"--cpuprofile", r.o.CPUProfile + ".quota-" + profile}
		defer func() { r.firstWorkerArgs = nil }()
	}
	pool, err := r.startWorkersLogging(procs, []string{"--queue", q, "--rate-per-minute", strconv.Itoa(rate)}, env, "info", logs)
	if err != nil {
		return nil, err
	}
	insp := asynq.NewInspectorFromRedisClient(r.rdb)
	deadline := time.Now().Add(30 * time.Second)
	for {
		servers, _ := insp.Servers()
		n := 0
		for _, s := range servers {
			if _, ok := s.Queues[q]; ok {
				n++
			}
		}
		if n >= procs {
			return pool, nil
		}
		select {
		case err := <-pool.exited:
			pool.stop()
			return nil, err
		default:
		}
		if time.Now().After(deadline) {
			pool.stop()
			return nil, fmt.Errorf("%d of %d workers registered with asynq after 30 s", n, procs)
		}
		if err := pause.For(ctx, 50*time.Millisecond); err != nil {
			pool.stop()
			return nil, err
		}
	}
}

// quotaIdle measures procs workers on an empty queue.
func (r *runner) quotaIdle(ctx context.Context, procs int) (*QuotaIdle, error) {
	q := r.queue(fmt.Sprintf("idle-%d", procs))
	var logs atomic.Int64
	pool, err := r.quotaWorkers(ctx, q, "http://127.0.0.1:1/openapi", procs, 600, &logs, fmt.Sprintf("idle-%d", procs))
	if err != nil {
		return nil, err
	}
	defer pool.stop()
	// Start-up work (the guards' first checks) is not idle cost.
	if err := pause.For(ctx, time.Second); err != nil {
		return nil, err
	}
	a, b, err := r.sampleWindow(ctx, pool, &logs)
	if err != nil {
		return nil, err
	}
	secs := b.at.Sub(a.at).Seconds()
	return &QuotaIdle{Processes: procs, Seconds: round(secs),
		RedisCmdsPerSec:   round(float64(b.cmds-a.cmds) / secs),
		WorkerCPUPerSecMs: round((b.cpu - a.cpu) * 1000 / secs),
		LogBytesPerSec:    round(float64(b.logBytes-a.logBytes) / secs)}, nil
}

// quotaCostRun is one configuration: a sandbox whose quota is the rate, a
// backlog, procs workers at the rate; measured over a window after a
// warm-up, as long as QuotaRound and at least 50 calls.
func (r *runner) quotaCostRun(ctx context.Context, procs, rate int, idle *QuotaIdle) (*QuotaCostRow, error) {
	apiURL, rec, stop, err := quotaSandbox(rate)
	if err != nil {
		return nil, err
	}
	defer stop()

	q := r.queue(fmt.Sprintf("cost-%d-%d", procs, rate))
	if err := r.fill(ctx, q, "C", r.o.QuotaBacklog); err != nil {
		return nil, err
	}
	var logs atomic.Int64
	pool, err := r.quotaWorkers(ctx, q, apiURL, procs, rate, &logs, fmt.Sprintf("%dx%d", procs, rate))
	if err != nil {
		return nil, err
	}
	defer pool.stop()
	if _, err := firstCall(ctx, rec); err != nil {
		return nil, err
	}
	// Warm-up: every worker holds its reservations by now.
	if err := pause.For(ctx, quotaWarmup); err != nil {
		return nil, err
	}
	window := max(r.o.QuotaRound, time.Duration(50*float64(time.Minute)/float64(rate)))
	a, err := r.sample(ctx, pool, &logs)
	if err != nil {
		return nil, err
	}
	if err := pause.For(ctx, window); err != nil {
		return nil, err
	}
	b, err := r.sample(ctx, pool, &logs)
	if err != nil {
		return nil, err
	}
	accepted, limited := rec.snapshot()
	return scoreCost(procs, rate, a, b, accepted, limited, idle), nil
}

// quotaWarmup is how long a configuration runs before its window opens.
const quotaWarmup = 2 * time.Second

// scoreCost turns two samples and the calls between them into a row.
func scoreCost(procs, rate int, a, b costSample, accepted, limited []time.Time, idle *QuotaIdle) *QuotaCostRow {
	row := &QuotaCostRow{Processes: procs, Rate: rate, RateLimitAnswers: len(limited)}
	secs := b.at.Sub(a.at).Seconds()
	row.Seconds = round(secs)
	var in []time.Time
	for _, t := range accepted {
		if !t.Before(a.at) && t.Before(b.at) {
			in = append(in, t)
		}
	}
	slices.SortFunc(in, func(x, y time.Time) int { return x.Compare(y) })
	row.Calls = len(in)
	if len(in) < 2 {
		return row
	}
	// First to last call: evenly spaced calls give the rate to within the
	// jitter of two arrivals, however short the window.
	row.PerMinute = round(float64(len(in)-1) / in[len(in)-1].Sub(in[0]).Minutes())
	row.Used = float64(int64(row.PerMinute/float64(rate)*10000+0.5)) / 10000
	var gap time.Duration
	for i := 1; i < len(in); i++ {
		gap = max(gap, in[i].Sub(in[i-1]))
	}
	row.MaxGapMs = ms(gap)
	n := float64(len(in))
	cmds := float64(b.cmds - a.cmds)
	cpu := b.cpu - a.cpu
	row.RedisCmdsPerCall = round(cmds / n)
	row.RedisCPUPerCallMs = round3((b.redisCPU - a.redisCPU) * 1000 / n)
	row.WorkerCPUPerCallMs = round3(cpu * 1000 / n)
	row.LogBytesPerCall = round(float64(b.logBytes-a.logBytes) / n)
	row.RedisCmdsByName = make(map[string]float64)
	for name, v := range b.byCmd {
		if d := float64(v - a.byCmd[name]); d > 0 {
			row.RedisCmdsByName[name] = round(d / n)
		}
	}
	if idle != nil {
		row.RedisCmdsPerCallNet = round(max(cmds-idle.RedisCmdsPerSec*secs, 0) / n)
		row.WorkerCPUPerCallNet = round3(max(cpu*1000-idle.WorkerCPUPerSecMs*secs, 0) / n)
	}
	row.judge()
	return row
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// sampleWindow samples the workers' and Redis's counters, waits
// QuotaRound, and samples them again: the window every idle cost is
// measured over.
func (r *runner) sampleWindow(ctx context.Context, pool *workerPool, logs *atomic.Int64) (a, b costSample, err error) {
	if a, err = r.sample(ctx, pool, logs); err != nil {
		return a, b, err
	}
	if err = pause.For(ctx, r.o.QuotaRound); err != nil {
		return a, b, err
	}
	b, err = r.sample(ctx, pool, logs)
	return a, b, err
}

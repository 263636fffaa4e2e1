// Package bench measures wdtcancel side by side with raw asynq on the same
// Redis in one run, so that machine noise cancels out in the ratios:
// processing, enqueue, idle pickup latency, scaling over worker processes
// (direct and over a delaying proxy) and resources. It backs `wdtcancel
// bench`; absolute figures on a shared machine are indicative, the ratios
// are the claim.
package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/redisserver"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// Options configure a run. Zero values take the defaults of Defaults.
type Options struct {
	RedisURL      string // "" = start one with the test helper
	Tasks         int    // processing phase, per variant and round
	Rounds        int    // processing rounds measured, after one warm-up
	Concurrency   int
	EnqueueTasks  int // one-by-one vs CancelMany
	CLITasks      int // numbers in the file the CLI reads
	PickupSamples int
	// DefaultPickupSamples are taken with asynq's default 1 s check
	// interval, for comparison; each costs about 0.75 s.
	DefaultPickupSamples int
	Processes            []int // scaling phase
	ScalingTasks         int
	// The multi-seller figure: sellers × orders each, on worker processes.
	SellerCount, SellerOrders, SellerProcesses int
	ProxyDelay                                 time.Duration // each way: 1 ms = about 2 ms round trip
	// WorkerCommand starts one worker process given extra args and env;
	// nil skips the scaling and resource phases.
	WorkerCommand func(args, env []string) *exec.Cmd
	// EnqueueCLI runs `wdtcancel enqueue --file` in-process.
	EnqueueCLI func(ctx context.Context, redisURL, queue, file string) error
	CPUProfile string // write a CPU profile of the real pipeline here
	// Phases to run (processing, enqueue, pickup, scaling, memory, sellers); empty
	// runs all.
	Phases []string
	Out    io.Writer
}

// Defaults are the figures the README reports.
var Defaults = Options{Tasks: 2000, Rounds: 5, Concurrency: 10, EnqueueTasks: 5000, CLITasks: 100000, PickupSamples: 100,
	DefaultPickupSamples: 20, Processes: []int{1, 2, 4}, ScalingTasks: 3000, ProxyDelay: time.Millisecond,
	SellerCount: 50, SellerOrders: 200, SellerProcesses: 2}

// Result is what `wdtcancel bench --json` prints.
type Result struct {
	// wdtcancel / the hand-rolled peer, median of rounds, with min and max.
	PeerRatio    float64 `json:"peer_ratio"`
	PeerRatioMin float64 `json:"peer_ratio_min"`
	PeerRatioMax float64 `json:"peer_ratio_max"`
	// wdtcancel / the peer that also keeps the crash-safety marks
	// (peer_safe: a sent mark before the call, a result after it): what
	// wdtcancel costs beyond the least any safe handler must do.
	SafePeerRatio    float64 `json:"safe_peer_ratio"`
	SafePeerRatioMin float64 `json:"safe_peer_ratio_min"`
	SafePeerRatioMax float64 `json:"safe_peer_ratio_max"`
	// wdtcancel / a no-op asynq handler, median of rounds, with min and max.
	ProcessingRatio    float64 `json:"processing_ratio"`
	ProcessingRatioMin float64 `json:"processing_ratio_min"`
	ProcessingRatioMax float64 `json:"processing_ratio_max"`
	EnqueueRatio       float64 `json:"enqueue_ratio"`
	EnqueueRatioMin    float64 `json:"enqueue_ratio_min"`
	EnqueueRatioMax    float64 `json:"enqueue_ratio_max"`
	PickupP50Ms        float64 `json:"pickup_p50_ms"`
	PickupP99Ms        float64 `json:"pickup_p99_ms"`

	Machine    Machine     `json:"machine"`
	Processing Processing  `json:"processing"`
	Enqueue    EnqueueRes  `json:"enqueue"`
	Pickup     Pickup      `json:"pickup"`
	Scaling    []ScaleRow  `json:"scaling,omitempty"`
	Resources  *Resources  `json:"resources,omitempty"`
	Sellers    *SellersRes `json:"sellers,omitempty"`
	Notes      []string    `json:"notes,omitempty"`
	// KeysLeft counts keys of the bench's queues found in Redis after
	// cleanup: 0, or the bench left something behind.
	KeysLeft int         `json:"keys_left_behind"`
	Took     JSONSeconds `json:"took_seconds"`
}

// Machine describes where the figures were taken.
type Machine struct {
	CPUs         int    `json:"cpus"`
	CPUModel     string `json:"cpu_model,omitempty"`
	GoVersion    string `json:"go_version"`
	RedisVersion string `json:"redis_version"`
	RedisKind    string `json:"redis"`
	// /proc/loadavg when the run started and ended: the machine is shared.
	LoadStart string `json:"loadavg_start,omitempty"`
	LoadEnd   string `json:"loadavg_end,omitempty"`
}

// Processing compares a no-op handler with the real pipeline.
type Processing struct {
	Tasks        int `json:"tasks"`
	Concurrency  int `json:"concurrency"`
	Rounds       int `json:"rounds"`
	WarmupRounds int `json:"warmup_rounds_discarded"`
	// Medians over the rounds.
	BaselinePerSec   float64 `json:"noop_tasks_per_sec"`
	PeerMedianPerSec float64 `json:"peer_tasks_per_sec"`
	RealMedianPerSec float64 `json:"real_tasks_per_sec"`
	// What a task result write (one HSET) costs the peer: peer with a
	// result / peer, median of rounds with min and max.
	ResultWriteRatio    float64 `json:"result_write_ratio"`
	ResultWriteRatioMin float64 `json:"result_write_ratio_min"`
	ResultWriteRatioMax float64 `json:"result_write_ratio_max"`
	// What a handler with wdtcancel's two crash guarantees pays at least in
	// Redis (a sent mark before the call and a result after it, see
	// peerSafe): peer_safe / peer, median of rounds with min and max. No
	// handler that keeps both can have a peer_ratio above it.
	SafeFloorRatio    float64 `json:"safe_floor_ratio"`
	SafeFloorRatioMin float64 `json:"safe_floor_ratio_min"`
	SafeFloorRatioMax float64 `json:"safe_floor_ratio_max"`
	// Per round, in round order.
	PeerSafePerSec   []float64 `json:"peer_safe_per_round"`
	NoopPerSec       []float64 `json:"noop_per_round"`
	PeerPerSec       []float64 `json:"peer_per_round"`
	PeerResultPerSec []float64 `json:"peer_result_per_round"`
	RealPerSec       []float64 `json:"wdtcancel_per_round"`
}

// EnqueueRes compares enqueue paths.
type EnqueueRes struct {
	Tasks            int       `json:"tasks"`
	OneByOnePerSec   float64   `json:"asynq_one_by_one_per_sec"`
	CancelManyPerSec float64   `json:"cancel_many_per_sec"`
	OneByOneRounds   []float64 `json:"asynq_one_by_one_per_round"`
	CancelManyRounds []float64 `json:"cancel_many_per_round"`
	// The CLI runs once (after the rounds), so its figure has no spread.
	CLITasks  int     `json:"cli_tasks,omitempty"`
	CLIPerSec float64 `json:"cli_file_per_sec,omitempty"`
	CLIRatio  float64 `json:"cli_ratio,omitempty"`
}

// Pickup is idle pickup latency.
type Pickup struct {
	Samples        int     `json:"samples"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
	DefaultSamples int     `json:"asynq_default_interval_samples"`
	DefaultP50Ms   float64 `json:"asynq_default_interval_p50_ms"`
}

// ScaleRow is one scaling measurement.
type ScaleRow struct {
	Processes int     `json:"processes"`
	ProxyRTT  string  `json:"redis_extra_rtt"`
	PerSec    float64 `json:"tasks_per_sec"`
	Ratio     float64 `json:"ratio_to_one_process"`
}

// Resources are worker and Redis costs.
type Resources struct {
	WorkerPeakRSSMB        float64 `json:"worker_peak_rss_mb"`
	WorkerCPUSecPer1000    float64 `json:"worker_cpu_seconds_per_1000_tasks"`
	RedisBytesPerQueued    float64 `json:"redis_bytes_per_queued_task"`
	RedisBytesPerDeadEntry float64 `json:"redis_bytes_per_dead_letter"`
	// What remembering one success costs (MEMORY USAGE): the result field
	// in asynq's task hash (a completed wdtcancel task's hash minus a
	// completed peer task's, whose handler writes no result) plus any
	// outcome-memory key left after the success. For comparison, the
	// 30-day confirmed key each success used to leave.
	RedisBytesPerSuccess         float64 `json:"redis_bytes_per_success_remembered"`
	RedisBytesOutcomeKeysPerTask float64 `json:"redis_outcome_memory_key_bytes_per_success"`
	RedisBytesLegacyConfirmedKey float64 `json:"redis_bytes_legacy_confirmed_key"`
}

// JSONSeconds is a duration printed as seconds.
type JSONSeconds time.Duration

// MarshalJSON prints seconds with millisecond precision.
func (d JSONSeconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(d).Seconds(), 'f', 3, 64)), nil
}

type runner struct {
	o      Options
	res    *Result
	conn   asynq.RedisConnOpt
	rdb    redis.UniversalClient
	url    string
	prefix string
	queues []string
}

func (o *Options) defaults() {
	d := Defaults
	if o.Tasks <= 0 {
		o.Tasks = d.Tasks
	}
	if o.Rounds <= 0 {
		o.Rounds = d.Rounds
	}
	if o.Concurrency <= 0 {
		o.Concurrency = d.Concurrency
	}
	if o.EnqueueTasks <= 0 {
		o.EnqueueTasks = d.EnqueueTasks
	}
	if o.CLITasks < 0 {
		o.CLITasks = 0
	} else if o.CLITasks == 0 {
		o.CLITasks = d.CLITasks
	}
	if o.PickupSamples <= 0 {
		o.PickupSamples = d.PickupSamples
	}
	if o.DefaultPickupSamples <= 0 {
		o.DefaultPickupSamples = d.DefaultPickupSamples
	}
	if len(o.Processes) == 0 {
		o.Processes = d.Processes
	}
	if o.ScalingTasks <= 0 {
		o.ScalingTasks = d.ScalingTasks
	}
	if o.SellerCount <= 0 {
		o.SellerCount = d.SellerCount
	}
	if o.SellerOrders <= 0 {
		o.SellerOrders = d.SellerOrders
	}
	if o.SellerProcesses <= 0 {
		o.SellerProcesses = d.SellerProcesses
	}
	if o.ProxyDelay <= 0 {
		o.ProxyDelay = d.ProxyDelay
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// Run runs every phase. Queues it creates are named wdtcancel-bench-* and
// deleted at the end, so a shared Redis is left as it was.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	start := time.Now()
	r := &runner{o: o, res: &Result{}, prefix: fmt.Sprintf("wdtcancel-bench-%d", time.Now().UnixNano()%1e6)}
	r.url = o.RedisURL
	r.res.Machine.RedisKind = "given"
	if r.url == "" {
		red, err := redisserver.Start(redisserver.Options{})
		if err != nil {
			return nil, err
		}
		defer red.Close()
		r.url = red.URL()
		r.res.Machine.RedisKind = "redis-server started by bench"
		if !red.Real {
			r.res.Machine.RedisKind = "embedded miniredis (no redis-server on PATH): figures are not representative"
		}
	}
	var err error
	if r.conn, err = asynq.ParseRedisURI(r.url); err != nil {
		return nil, fmt.Errorf("bench redis: %w", err)
	}
	r.rdb = r.conn.MakeRedisClient().(redis.UniversalClient)
	defer r.rdb.Close()
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("bench redis %s: %w", r.url, err)
	}
	defer r.cleanup()
	r.machine(ctx)
	r.res.Machine.LoadStart = loadavg()

	phases := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"processing", r.processing},
		{"enqueue", r.enqueue},
		{"pickup", r.pickup},
		{"scaling", r.scaling},
		{"memory", r.redisMemory},
		{"sellers", r.sellersPhase},
	}
	for _, p := range phases {
		if len(o.Phases) > 0 && !contains(o.Phases, p.name) {
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		fmt.Fprintf(o.Out, "bench: %s...\n", p.name)
		if err := p.fn(ctx); err != nil {
			return nil, fmt.Errorf("bench %s: %w", p.name, err)
		}
	}
	r.cleanup()
	r.res.KeysLeft = r.leftBehind(ctx)
	r.res.Machine.LoadEnd = loadavg()
	r.res.Took = JSONSeconds(time.Since(start))
	return r.res, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// loadavg is the first three fields of /proc/loadavg, "" elsewhere.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func (r *runner) queue(name string) string {
	q := r.prefix + "-" + name
	r.queues = append(r.queues, q)
	return q
}

func (r *runner) cleanup() {
	for _, q := range r.queues {
		r.drop(q)
	}
}

// drop deletes every key of queue q: asynq's (DeleteQueue leaves the
// completed tasks' hashes and the completed set behind, so they are
// deleted by pattern too) and wdtcancel's own.
func (r *runner) drop(q string) {
	ctx := context.Background()
	asynq.NewInspectorFromRedisClient(r.rdb).DeleteQueue(q, true)
	for _, pattern := range []string{"asynq:{" + globEscaper.Replace(q) + "}:*", store.QueuePattern(q)} {
		iter := r.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 500 {
				r.rdb.Del(ctx, keys...)
				keys = keys[:0]
			}
		}
		if len(keys) > 0 {
			r.rdb.Del(ctx, keys...)
		}
	}
	r.rdb.SRem(ctx, "asynq:queues", q)
}

var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

// LeftBehind counts the keys of the bench's queues still in Redis (0 after
// cleanup); for the test that a given Redis is left as it was.
func (r *runner) leftBehind(ctx context.Context) int {
	n := 0
	for _, q := range r.queues {
		for _, pattern := range []string{"asynq:{" + globEscaper.Replace(q) + "}:*", store.QueuePattern(q)} {
			iter := r.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
			for iter.Next(ctx) {
				n++
			}
		}
	}
	return n
}

func (r *runner) machine(ctx context.Context) {
	m := &r.res.Machine
	m.CPUs, m.GoVersion = runtime.NumCPU(), runtime.Version()
	if info, err := r.rdb.Info(ctx, "server").Result(); err == nil {
		m.RedisVersion = infoField(info, "redis_version")
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (r *runner) producer(queue string) (*enqueue.Client, error) {
	return enqueue.New(r.conn, enqueue.WithQueue(queue), enqueue.WithSource("bench"))
}

func numbers(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%07d", prefix, i)
	}
	return out
}

func (r *runner) fill(ctx context.Context, queue, prefix string, n int) error {
	p, err := r.producer(queue)
	if err != nil {
		return err
	}
	defer p.Close()
	res, err := p.CancelSlice(ctx, numbers(prefix, n), enqueue.ManyOptions{})
	if err != nil {
		return err
	}
	if s := enqueue.Summarize(res, false); s.Enqueued != n {
		return fmt.Errorf("fill %s: %+v", queue, s)
	}
	return nil
}

// benchLogger is what a production worker logs: JSON at info, here into
// io.Discard, so the real pipeline pays for its log lines.
func benchLogger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel))
}

// processing compares, in alternating rounds on the same Redis, four
// handlers over the same N tasks at the same concurrency and check interval:
// a no-op asynq handler; the hand-rolled peer (decode, sign, POST to the
// sandbox); the peer plus a task result write; and wdtcancel's worker. Each
// variant's rate is measured from its first to its last call (handler call
// for the no-op), so server start and stop are not in it. Round 0 is a
// warm-up and is discarded; the ratios are medians of per-round ratios,
// with min and max.
func (r *runner) processing(ctx context.Context) error {
	n, c := r.o.Tasks, r.o.Concurrency
	p := &r.res.Processing
	*p = Processing{Tasks: n, Concurrency: c, Rounds: r.o.Rounds, WarmupRounds: 1}
	kinds := []string{"noop", "peer", "peer_result", "peer_safe", "wdtcancel"}
	rates := map[string][]float64{}
	var peerRatios, procRatios, resultRatios, safeRatios, overSafeRatios []float64
	for round := 0; round <= r.o.Rounds; round++ {
		order := append([]string(nil), kinds...)
		if round%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		got := map[string]float64{}
		for _, k := range order {
			v, err := r.variant(ctx, k, round, n, c)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			got[k] = v
		}
		fmt.Fprintf(r.o.Out, "bench:   round %d%s: no-op %.0f/s, peer %.0f/s, peer+result %.0f/s, peer+mark+result %.0f/s, wdtcancel %.0f/s\n", round,
			map[bool]string{true: " (warm-up, discarded)"}[round == 0], got["noop"], got["peer"], got["peer_result"], got["peer_safe"], got["wdtcancel"])
		if round == 0 {
			continue
		}
		for _, k := range kinds {
			rates[k] = append(rates[k], round2(got[k]))
		}
		peerRatios = append(peerRatios, got["wdtcancel"]/got["peer"])
		procRatios = append(procRatios, got["wdtcancel"]/got["noop"])
		resultRatios = append(resultRatios, got["peer_result"]/got["peer"])
		safeRatios = append(safeRatios, got["peer_safe"]/got["peer"])
		overSafeRatios = append(overSafeRatios, got["wdtcancel"]/got["peer_safe"])
	}
	p.NoopPerSec, p.PeerPerSec, p.PeerResultPerSec, p.RealPerSec = rates["noop"], rates["peer"], rates["peer_result"], rates["wdtcancel"]
	p.PeerSafePerSec = rates["peer_safe"]
	p.SafeFloorRatio, p.SafeFloorRatioMin, p.SafeFloorRatioMax = spread(safeRatios)
	r.res.SafePeerRatio, r.res.SafePeerRatioMin, r.res.SafePeerRatioMax = spread(overSafeRatios)
	p.BaselinePerSec, p.RealMedianPerSec = round(median(rates["noop"])), round(median(rates["wdtcancel"]))
	p.PeerMedianPerSec = round(median(rates["peer"]))
	r.res.PeerRatio, r.res.PeerRatioMin, r.res.PeerRatioMax = spread(peerRatios)
	r.res.ProcessingRatio, r.res.ProcessingRatioMin, r.res.ProcessingRatioMax = spread(procRatios)
	p.ResultWriteRatio, p.ResultWriteRatioMin, p.ResultWriteRatioMax = spread(resultRatios)
	return nil
}

// variant runs n tasks through one kind of handler on a fresh queue and
// returns its rate, then deletes the queue.
func (r *runner) variant(ctx context.Context, kind string, round, n, c int) (float64, error) {
	q := r.queue(fmt.Sprintf("proc-%s-%d", kind, round))
	defer r.drop(q)
	if err := r.fill(ctx, q, "P", n); err != nil {
		return 0, err
	}
	if r.o.CPUProfile != "" && kind == "wdtcancel" && round == r.o.Rounds {
		f, err := os.Create(r.o.CPUProfile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	return r.variantOn(ctx, kind, q, n, c)
}

// variantOn runs the n tasks already in queue q through one kind of
// handler and returns its rate.
func (r *runner) variantOn(ctx context.Context, kind, q string, n, c int) (float64, error) {
	var sp span
	sp.init(n)
	if kind == "noop" {
		srv := asynq.NewServerFromRedisClient(r.rdb, asynq.Config{
			Concurrency: c, Queues: map[string]int{q: 1},
			TaskCheckInterval: worker.DefaultTaskCheckInterval, LogLevel: asynq.FatalLevel,
		})
		if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { sp.tick(); return nil })); err != nil {
			return 0, err
		}
		err := wait(ctx, sp.done, 10*time.Minute)
		srv.Shutdown()
		return sp.rate(), err
	}
	sb, err := sandbox.NewServer(sandbox.Options{OnCall: func(string) { sp.tick() }})
	if err != nil {
		return 0, err
	}
	defer sb.Close()
	if kind == "wdtcancel" {
		client, err := wdt.New(sb.APIURL(), sb.Credentials())
		if err != nil {
			return 0, err
		}
		w, err := worker.New(worker.Config{Redis: r.conn, API: client, Queue: q, Concurrency: c, Logger: benchLogger(), AllowVolatileRedis: true})
		if err != nil {
			return 0, err
		}
		if err := w.Start(ctx); err != nil {
			w.Close()
			return 0, err
		}
		err = wait(ctx, sp.done, 10*time.Minute)
		w.Shutdown()
		return sp.rate(), err
	}
	srv := asynq.NewServerFromRedisClient(r.rdb, asynq.Config{
		Concurrency: c, Queues: map[string]int{q: 1},
		TaskCheckInterval: worker.DefaultTaskCheckInterval, LogLevel: asynq.FatalLevel,
	})
	mode := map[string]peerMode{"peer": peerPlain, "peer_result": peerResult, "peer_safe": peerSafe}[kind]
	if err := srv.Start(peerHandler(sb.APIURL(), sb.Credentials(), wdt.DefaultHTTPClient(), r.rdb, mode)); err != nil {
		return 0, err
	}
	err = wait(ctx, sp.done, 10*time.Minute)
	srv.Shutdown()
	return sp.rate(), err
}

// span times n events from the first to the last.
type span struct {
	first, last, count atomic.Int64
	n                  int64
	done               chan struct{}
}

func (s *span) init(n int) { s.n, s.done = int64(n), make(chan struct{}) }

func (s *span) tick() {
	now := time.Now().UnixNano()
	s.first.CompareAndSwap(0, now)
	if s.count.Add(1) == s.n {
		s.last.Store(now)
		close(s.done)
	}
}

func (s *span) rate() float64 {
	d := time.Duration(s.last.Load() - s.first.Load())
	if d <= 0 {
		return 0
	}
	return float64(s.n-1) / d.Seconds()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is the median, min and max of v, rounded.
func spread(v []float64) (med, lo, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return round(median(s)), round(s[0]), round(s[len(s)-1])
}

func round2(f float64) float64 { return round(f) }

// enqueue: one-by-one asynq.Client.Enqueue vs CancelMany vs the CLI.
func (r *runner) enqueue(ctx context.Context) error {
	m := r.o.EnqueueTasks
	e := &r.res.Enqueue
	e.Tasks = m

	// Alternating rounds, the first a discarded warm-up; each round on
	// fresh queues, deleted right after.
	oneByOne := func(round int) (float64, error) {
		q := r.queue(fmt.Sprintf("enq-one-%d", round))
		defer r.drop(q)
		client := asynq.NewClientFromRedisClient(r.rdb)
		now := time.Now()
		t0 := time.Now()
		for _, no := range numbers("ONE", m) {
			task, err := tasks.NewCancelTask(no, "bench", now, asynq.Queue(q))
			if err != nil {
				return 0, err
			}
			if _, err := client.EnqueueContext(ctx, task); err != nil {
				return 0, err
			}
		}
		return float64(m) / time.Since(t0).Seconds(), nil
	}
	many := func(round int) (float64, error) {
		q := r.queue(fmt.Sprintf("enq-many-%d", round))
		defer r.drop(q)
		t0 := time.Now()
		if err := r.fill(ctx, q, "MANY", m); err != nil {
			return 0, err
		}
		return float64(m) / time.Since(t0).Seconds(), nil
	}
	var ratios []float64
	for round := 0; round <= r.o.Rounds; round++ {
		var one, mny float64
		var err1, err2 error
		if round%2 == 0 {
			one, err1 = oneByOne(round)
			mny, err2 = many(round)
		} else {
			mny, err2 = many(round)
			one, err1 = oneByOne(round)
		}
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if round == 0 {
			continue
		}
		e.OneByOneRounds = append(e.OneByOneRounds, round2(one))
		e.CancelManyRounds = append(e.CancelManyRounds, round2(mny))
		ratios = append(ratios, mny/one)
	}
	e.OneByOnePerSec, e.CancelManyPerSec = round(median(e.OneByOneRounds)), round(median(e.CancelManyRounds))
	r.res.EnqueueRatio, r.res.EnqueueRatioMin, r.res.EnqueueRatioMax = spread(ratios)

	if r.o.EnqueueCLI == nil || r.o.CLITasks == 0 {
		return nil
	}
	f, err := os.CreateTemp("", "wdtcancel-bench-*.txt")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriter(f)
	for _, no := range numbers("CLI", r.o.CLITasks) {
		bw.WriteString(no + "\n")
	}
	bw.Flush()
	f.Close()
	q3 := r.queue("enq-cli")
	t0 := time.Now()
	if err := r.o.EnqueueCLI(ctx, r.url, q3, f.Name()); err != nil {
		return fmt.Errorf("cli: %w", err)
	}
	e.CLITasks = r.o.CLITasks
	e.CLIPerSec = float64(r.o.CLITasks) / time.Since(t0).Seconds()
	e.CLIRatio = round(e.CLIPerSec / e.OneByOnePerSec)
	return nil
}

// pickup: enqueue one task into an idle queue and time until the sandbox
// receives the worker's call, p50/p99; and the same with asynq's default
// one-second check interval for comparison.
func (r *runner) pickup(ctx context.Context) error {
	qp := r.queue("pickup")
	arrived := make(chan time.Time, 1)
	sb, err := sandbox.NewServer(sandbox.Options{OnCall: func(string) { arrived <- time.Now() }})
	if err != nil {
		return err
	}
	defer sb.Close()
	client, _ := wdt.New(sb.APIURL(), sb.Credentials())
	w, err := worker.New(worker.Config{Redis: r.conn, API: client, Queue: qp, Concurrency: r.o.Concurrency, Logger: benchLogger(), AllowVolatileRedis: true})
	if err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		w.Close()
		return err
	}
	defer w.Shutdown()
	ac := asynq.NewClientFromRedisClient(r.rdb)
	sample := func(queue, no string, got <-chan time.Time) (time.Duration, error) {
		// A random pause so the enqueue lands anywhere in the poll cycle.
		time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
		task, _ := tasks.NewCancelTask(no, "bench", time.Now(), asynq.Queue(queue))
		t0 := time.Now()
		if _, err := ac.EnqueueContext(ctx, task); err != nil {
			return 0, err
		}
		select {
		case at := <-got:
			return at.Sub(t0), nil
		case <-time.After(10 * time.Second):
			return 0, errors.New("task not picked up within 10 s")
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	var lat []time.Duration
	for i := 0; i < r.o.PickupSamples; i++ {
		d, err := sample(qp, fmt.Sprintf("PICK%05d", i), arrived)
		if err != nil {
			return err
		}
		lat = append(lat, d)
	}
	p := &r.res.Pickup
	p.Samples = len(lat)
	p.P50Ms, p.P99Ms = ms(percentile(lat, 50)), ms(percentile(lat, 99))
	r.res.PickupP50Ms, r.res.PickupP99Ms = p.P50Ms, p.P99Ms

	// asynq's default check interval, fewer samples: each costs ~0.75 s.
	qd := r.queue("pickup-default")
	started := make(chan time.Time, 1)
	srv := asynq.NewServerFromRedisClient(r.rdb, asynq.Config{Concurrency: r.o.Concurrency, Queues: map[string]int{qd: 1}, LogLevel: asynq.FatalLevel})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { started <- time.Now(); return nil })); err != nil {
		return err
	}
	defer srv.Shutdown()
	var def []time.Duration
	for i := 0; i < r.o.DefaultPickupSamples; i++ {
		d, err := sample(qd, fmt.Sprintf("DEF%05d", i), started)
		if err != nil {
			return err
		}
		def = append(def, d)
	}
	p.DefaultSamples, p.DefaultP50Ms = len(def), ms(percentile(def, 50))
	return nil
}

// scaling: 1, 2, 4 worker processes on one Redis, direct and through a
// proxy that adds about 2 ms of round trip. Also the resources of the
// one-process run.
func (r *runner) scaling(ctx context.Context) error {
	if r.o.WorkerCommand == nil {
		r.res.Notes = append(r.res.Notes, "scaling and worker resources skipped: no worker command")
		return nil
	}
	red := strings.TrimPrefix(r.url, "redis://")
	hostport, _, _ := strings.Cut(red, "/")
	if strings.Contains(hostport, "@") {
		r.res.Notes = append(r.res.Notes, "scaling over the proxy skipped: Redis URL has a password")
	}
	proxy, err := startDelayProxy(hostport, r.o.ProxyDelay)
	if err != nil {
		return err
	}
	defer proxy.Close()
	var one [2]float64
	for pi, viaProxy := range []bool{false, true} {
		for _, procs := range r.o.Processes {
			url := r.url
			rtt := "0"
			if viaProxy {
				url = "redis://" + proxy.Addr() + "/0"
				rtt = (2 * r.o.ProxyDelay).String()
			}
			perSec, res, err := r.scaleRun(ctx, procs, url)
			if err != nil {
				return err
			}
			if procs == r.o.Processes[0] {
				one[pi] = perSec
				if !viaProxy && res != nil {
					r.res.Resources = res
				}
			}
			r.res.Scaling = append(r.res.Scaling, ScaleRow{Processes: procs, ProxyRTT: rtt, PerSec: round(perSec), Ratio: round(perSec / one[pi])})
			fmt.Fprintf(r.o.Out, "bench:   %d process(es), extra Redis RTT %s: %.0f tasks/s\n", procs, rtt, perSec)
		}
	}
	return nil
}

func (r *runner) scaleRun(ctx context.Context, procs int, redisURL string) (float64, *Resources, error) {
	return r.oneQueueRun(ctx, fmt.Sprintf("scale-%d-%d", procs, len(r.queues)), "SC", r.o.ScalingTasks, procs, redisURL, procs == 1)
}

// oneQueueRun fills a fresh queue with n tasks for the single seller and
// times procs worker processes through them, from the first call to the
// last; with resources, it also reads the first process's peak RSS and CPU.
func (r *runner) oneQueueRun(ctx context.Context, name, prefix string, n, procs int, redisURL string, resources bool) (float64, *Resources, error) {
	q := r.queue(name)
	var first, last, calls atomic.Int64
	done := make(chan struct{})
	sb, err := sandbox.NewServer(sandbox.Options{OnCall: func(string) {
		now := time.Now().UnixNano()
		first.CompareAndSwap(0, now)
		if calls.Add(1) == int64(n) {
			last.Store(now)
			close(done)
		}
	}})
	if err != nil {
		return 0, nil, err
	}
	defer sb.Close()
	if err := r.fill(ctx, q, prefix, n); err != nil {
		return 0, nil, err
	}
	env := []string{"REDIS_URL=" + redisURL, "WDT_URL=" + sb.APIURL(), "WDT_SID=sandbox", "WDT_APPKEY=sandbox", "WDT_APPSECRET=sandbox:sandbox"}
	pool, err := r.startWorkers(procs, []string{"--queue", q}, env)
	if err != nil {
		return 0, nil, err
	}
	waitErr := waitOrExit(ctx, done, pool.exited, 10*time.Minute)
	var res *Resources
	if resources && waitErr == nil {
		res = procResources(pool.pids[0], n)
	}
	pool.stop()
	if waitErr != nil {
		return 0, nil, waitErr
	}
	return float64(n-1) / time.Duration(last.Load()-first.Load()).Seconds(), res, nil
}

// procResources reads peak RSS and CPU time of a live process from /proc.
func procResources(pid, tasksDone int) *Resources {
	res := &Resources{}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		if v := infoField(strings.ReplaceAll(string(b), "\t", ""), "VmHWM"); v != "" {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			res.WorkerPeakRSSMB = round(kb / 1024)
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		if i := strings.LastIndex(s, ")"); i > 0 {
			f := strings.Fields(s[i+2:])
			if len(f) > 12 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				res.WorkerCPUSecPer1000 = round((ut + st) / 100 / float64(tasksDone) * 1000)
			}
		}
	}
	return res
}

// redisMemory: bytes per queued task and per dead-letter record.
func (r *runner) redisMemory(ctx context.Context) error {
	used := func() (float64, error) {
		info, err := r.rdb.Info(ctx, "memory").Result()
		if err != nil {
			return 0, err
		}
		return strconv.ParseFloat(infoField(info, "used_memory"), 64)
	}
	if _, err := used(); err != nil {
		r.res.Notes = append(r.res.Notes, "redis memory skipped: INFO memory unsupported")
		return nil
	}
	const k = 5000
	before, _ := used()
	q := r.queue("mem")
	if err := r.fill(ctx, q, "MEM", k); err != nil {
		return err
	}
	after, _ := used()
	if r.res.Resources == nil {
		r.res.Resources = &Resources{}
	}
	r.res.Resources.RedisBytesPerQueued = round((after - before) / k)
	dlq := worker.NewDLQ(r.rdb, r.queue("mem-dlq"))
	before, _ = used()
	now := time.Now()
	st := 100
	for _, no := range numbers("DEAD", k) {
		if err := dlq.Put(ctx, worker.Record{PreStockinNo: no, Category: wdt.Rejected, WDTStatus: &st, Message: "入库单状态不为待审核或编辑中",
			Error: "wdt wms.stockin.PreStockin.cancel: rejected: status 100: 入库单状态不为待审核或编辑中", Attempts: 1, Source: "bench",
			FirstEnqueuedAt: &now, DeadLetteredAt: now}); err != nil {
			return err
		}
	}
	after, _ = used()
	r.res.Resources.RedisBytesPerDeadEntry = round((after - before) / k)
	return r.successMemory(ctx)
}

// successMemory measures with MEMORY USAGE what a success leaves behind
// beyond what asynq keeps of any completed task.
func (r *runner) successMemory(ctx context.Context) error {
	const k = 300
	usage := func(keys []string) (float64, error) {
		var sum int64
		for _, key := range keys {
			n, err := r.rdb.MemoryUsage(ctx, key).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return 0, err
			}
			sum += n
		}
		return float64(sum), nil
	}
	taskKeys := func(q string) []string {
		var keys []string
		for _, no := range numbers("S", k) {
			keys = append(keys, "asynq:{"+q+"}:t:"+no)
		}
		return keys
	}
	if _, err := r.rdb.MemoryUsage(ctx, "wdtcancel-bench-probe").Result(); err != nil && !errors.Is(err, redis.Nil) {
		r.res.Notes = append(r.res.Notes, "success memory skipped: MEMORY USAGE unsupported")
		return nil
	}
	qr, qp := r.queue("mem-real"), r.queue("mem-peer")
	for _, q := range []string{qr, qp} {
		if err := r.fill(ctx, q, "S", k); err != nil {
			return err
		}
	}
	if _, err := r.variantOn(ctx, "wdtcancel", qr, k, r.o.Concurrency); err != nil {
		return err
	}
	if _, err := r.variantOn(ctx, "peer", qp, k, r.o.Concurrency); err != nil {
		return err
	}
	real, err := usage(taskKeys(qr))
	if err != nil {
		return err
	}
	peer, err := usage(taskKeys(qp))
	if err != nil {
		return err
	}
	var marks []string
	iter := r.rdb.Scan(ctx, 0, store.QueuePattern(qr), 1000).Iterator()
	for iter.Next(ctx) {
		// The outcome memory's marks; the Redis guard's probe key is not one.
		if k := iter.Val(); strings.Contains(k, "}:sent:") || strings.Contains(k, "}:unknown:") || strings.Contains(k, "}:confirmed:") {
			marks = append(marks, k)
		}
	}
	markBytes, err := usage(marks)
	if err != nil {
		return err
	}
	legacy := store.ConfirmedKey(qr, "S0000000")
	r.rdb.Set(ctx, legacy, time.Now().UTC().Format(time.RFC3339Nano), 30*24*time.Hour)
	legacyBytes, err := usage([]string{legacy})
	if err != nil {
		return err
	}
	res := r.res.Resources
	res.RedisBytesOutcomeKeysPerTask = round(markBytes / k)
	res.RedisBytesPerSuccess = round((real-peer)/k + markBytes/k)
	res.RedisBytesLegacyConfirmedKey = legacyBytes
	return nil
}

func wait(ctx context.Context, done <-chan struct{}, limit time.Duration) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(limit):
		return fmt.Errorf("not finished within %s", limit)
	}
}

func percentile(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

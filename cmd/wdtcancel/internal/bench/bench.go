// Package bench measures wdtcancel side by side with raw asynq on the same
// Redis in one run, so that machine noise cancels out in the ratios. It
// backs `wdtcancel bench`; absolute figures on a shared machine are
// indicative, the ratios are the claim.
//
// One file per phase (--phases), each filling its part of Result
// (result.go): processing.go (wdtcancel against a no-op handler and the
// hand-rolled peer of peer.go, each in its own process, over time-based
// windows: window.go, child.go), enqueue.go (one by one against CancelMany
// and the CLI), pickup.go (idle pickup latency), scaling.go (worker
// processes, direct and over the delaying proxy of proxy.go, and their
// resources), memory.go (Redis bytes per queued task, dead letter and
// success), sellers.go (many sellers on one pool), quotacost.go (the
// cost of a call at quota with a backlog) and quotasellers.go (its
// multi-seller mode: each seller's share of its rate). quota.go is the separate
// --quota check. bench.go runs the phases and cleans up;
// workers.go starts worker processes; stats.go holds the arithmetic. Every
// Redis key the bench names comes from package store.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/redisserver"
	"github.com/wdtcancel/wdtcancel/internal/redisurl"
	"github.com/wdtcancel/wdtcancel/internal/store"
)

// Options configure a run. Zero values take the defaults of Defaults.
type Options struct {
	RedisURL string // "" = start one with the test helper
	// Tasks: phases connections and memory, the tasks per variant and
	// round; phase processing, the least backlog a variant's queue starts
	// with (its backlogs are sized on its rates, see window.go).
	Tasks  int
	Rounds int // processing (and connections) rounds measured, after one warm-up
	// RoundTime: phase processing, the least length of each variant's
	// measured window; below MinRoundTime only with ShortRounds.
	RoundTime time.Duration
	// ShortRounds lets RoundTime go below MinRoundTime: the tests' knob
	// (bench --test-short-rounds); such figures are not measurements.
	ShortRounds bool
	Concurrency int
	// GroupCommitMax and GroupCommitLinger are the in-process workers'
	// (processing, pickup) worker.Config fields; 0: the defaults.
	GroupCommitMax    int
	GroupCommitLinger time.Duration
	EnqueueTasks      int // one-by-one vs CancelMany
	CLITasks          int // numbers in the file the CLI reads
	PickupSamples     int
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
	// Command starts the wdtcancel binary with args and env (phase
	// processing: `sandbox` and `bench --child KIND`); nil skips the
	// processing phase.
	Command func(args, env []string) *exec.Cmd
	// EnqueueCLI runs `wdtcancel enqueue --file` in-process.
	EnqueueCLI func(ctx context.Context, redisURL, queue, file string) error
	CPUProfile string // write a CPU profile of the real pipeline here
	// ReuseConnections makes wdtcancel's own client reuse kept-alive
	// connections (wdt.WithConnectionReuse) instead of its default, a fresh
	// connection per call: two runs, with and without, give what the fresh
	// connection costs. The peers always reuse theirs, as a hand-rolled
	// handler would.
	ReuseConnections bool
	// Phase quota: worker processes × rates, each with a backlog of
	// QuotaBacklog tasks, measured over QuotaRound (and at least 50
	// calls) after a warm-up.
	QuotaProcesses []int
	QuotaRates     []int
	QuotaRound     time.Duration
	QuotaBacklog   int
	// QuotaSellers, when set, switches phase quota to its multi-seller
	// mode (quotasellers.go): for each number, that many sellers served
	// by the same workers through a sellers file, each with its own
	// sandbox quota = its rate (QuotaRates) and a backlog of QuotaBacklog
	// tasks of its own; the single-seller rows are not run.
	QuotaSellers []int
	// RedisCluster: measure on this Redis Cluster (node addresses, as the
	// worker's --redis-cluster) instead of RedisURL; phase quota's
	// multi-seller mode only.
	RedisCluster []string
	// Phase idle: one worker process serving each number of sellers with
	// empty queues, measured over QuotaRound; then IdleSamples tasks, each
	// for a different seller idle since the start, timed to the call.
	IdleSellers []int
	IdleSamples int
	// Phases to run (processing, enqueue, pickup, scaling, memory, sellers,
	// connections, quota, events, idle); empty runs all.
	Phases []string
	Out    io.Writer
}

// Defaults are the figures docs/performance.md reports.
var Defaults = Options{Tasks: 2000, Rounds: 5, RoundTime: MinRoundTime, Concurrency: 10, EnqueueTasks: 5000, CLITasks: 100000, PickupSamples: 100,
	DefaultPickupSamples: 20, Processes: []int{1, 2, 4}, ScalingTasks: 3000, ProxyDelay: time.Millisecond,
	SellerCount: 50, SellerOrders: 200, SellerProcesses: 2,
	QuotaProcesses: []int{1, 2, 4}, QuotaRates: []int{240, 600, 6000}, QuotaRound: 5 * time.Second, QuotaBacklog: 3000,
	IdleSellers: []int{1, 20, 200, 1000}, IdleSamples: 20}

type runner struct {
	// firstWorkerArgs go to the first process startWorkersLogging starts
	// (the quota phase's --cpuprofile).
	firstWorkerArgs []string
	o               Options
	res             *Result
	conn            asynq.RedisConnOpt
	rdb             redis.UniversalClient
	url             string
	// embedded: the Redis is the miniredis the bench started for want of
	// a redis-server; it keeps nothing across a crash, and says so.
	embedded bool
	prefix   string
	queues   []string
}

// defaults fills in Defaults for every figure left at zero or below;
// CLITasks below zero means none.
func (o *Options) defaults() {
	d := Defaults
	o.Tasks = positiveOr(o.Tasks, d.Tasks)
	o.Rounds = positiveOr(o.Rounds, d.Rounds)
	if o.RoundTime == 0 {
		o.RoundTime = d.RoundTime
	}
	o.Concurrency = positiveOr(o.Concurrency, d.Concurrency)
	o.EnqueueTasks = positiveOr(o.EnqueueTasks, d.EnqueueTasks)
	if o.CLITasks < 0 {
		o.CLITasks = 0
	} else {
		o.CLITasks = positiveOr(o.CLITasks, d.CLITasks)
	}
	o.PickupSamples = positiveOr(o.PickupSamples, d.PickupSamples)
	o.DefaultPickupSamples = positiveOr(o.DefaultPickupSamples, d.DefaultPickupSamples)
	if len(o.Processes) == 0 {
		o.Processes = d.Processes
	}
	o.ScalingTasks = positiveOr(o.ScalingTasks, d.ScalingTasks)
	o.SellerCount = positiveOr(o.SellerCount, d.SellerCount)
	o.SellerOrders = positiveOr(o.SellerOrders, d.SellerOrders)
	o.SellerProcesses = positiveOr(o.SellerProcesses, d.SellerProcesses)
	o.ProxyDelay = positiveOr(o.ProxyDelay, d.ProxyDelay)
	if len(o.QuotaProcesses) == 0 {
		o.QuotaProcesses = d.QuotaProcesses
	}
	if len(o.QuotaRates) == 0 {
		o.QuotaRates = d.QuotaRates
	}
	// Rounds are time-based and at least 3 s, so a round is not one burst.
	o.QuotaRound = max(positiveOr(o.QuotaRound, d.QuotaRound), 3*time.Second)
	o.QuotaBacklog = positiveOr(o.QuotaBacklog, d.QuotaBacklog)
	if len(o.IdleSellers) == 0 {
		o.IdleSellers = d.IdleSellers
	}
	o.IdleSamples = positiveOr(o.IdleSamples, d.IdleSamples)
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// open connects to the Redis to measure on: the Redis Cluster of
// RedisCluster, RedisURL, or a redis-server it starts; the returned func
// closes what it opened.
func (r *runner) open(ctx context.Context) (func(), error) {
	r.url = r.o.RedisURL
	r.res.Machine.RedisKind = "given"
	stop := func() {}
	var err error
	switch {
	case len(r.o.RedisCluster) > 0:
		r.res.Machine.RedisKind = "Redis Cluster (given)"
		r.conn, err = redisurl.Cluster(r.o.RedisCluster)
	case r.url == "":
		var red *redisserver.Redis
		if red, err = redisserver.Start(redisserver.Options{}); err != nil {
			return nil, err
		}
		stop = red.Close
		r.url = red.URL()
		r.res.Machine.RedisKind = "redis-server started by bench"
		if !red.Real {
			r.embedded = true
			r.res.Machine.RedisKind = "embedded miniredis (no redis-server on PATH): figures are not representative"
		}
		r.conn, err = redisurl.Parse(r.url)
	default:
		r.conn, err = redisurl.Parse(r.url)
	}
	if err != nil {
		stop()
		return nil, fmt.Errorf("bench redis: %w", err)
	}
	r.rdb = r.conn.MakeRedisClient().(redis.UniversalClient)
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		r.rdb.Close()
		stop()
		return nil, fmt.Errorf("bench redis %s: %w", r.redisName(), err)
	}
	return func() { r.rdb.Close(); stop() }, nil
}

// redisName names the Redis measured on, without a password.
func (r *runner) redisName() string {
	if len(r.o.RedisCluster) > 0 {
		names := make([]string, len(r.o.RedisCluster))
		for i, a := range r.o.RedisCluster {
			names[i] = redisurl.MaskClusterAddr(a)
		}
		return "cluster " + strings.Join(names, ",")
	}
	return redisurl.MaskURL(r.url)
}

// redisEnv is the worker processes' setting for the same Redis.
func (r *runner) redisEnv() string {
	if len(r.o.RedisCluster) > 0 {
		return "REDIS_CLUSTER=" + strings.Join(r.o.RedisCluster, ",")
	}
	return "REDIS_URL=" + r.url
}

// positiveOr is v, or def when v is zero or below.
func positiveOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Run runs every phase. Queues it creates are named wdtcancel-bench-* and
// deleted at the end, so a shared Redis is left as it was.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	if err := o.validateQuotaSellers(); err != nil {
		return nil, err
	}
	if err := validateRoundTime(o.RoundTime, o.ShortRounds); err != nil {
		return nil, err
	}
	start := time.Now()
	r := &runner{o: o, res: &Result{}, prefix: fmt.Sprintf("wdtcancel-bench-%d", time.Now().UnixNano()%1e6)}
	closeRedis, err := r.open(ctx)
	if err != nil {
		return nil, err
	}
	defer closeRedis()
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
		{"connections", r.connections},
		{"quota", r.quotaCost},
		{"events", r.eventsPhase},
		{"idle", r.idlePhase},
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
	for _, pattern := range queuePatterns(q) {
		r.scan(ctx, pattern, func(c redis.Cmdable, keys []string) { c.Del(ctx, keys...) })
	}
	r.rdb.SRem(ctx, store.AsynqQueuesKey, q)
	r.rdb.ZRem(ctx, store.ActiveQueuesKey, q)
}

// queuePatterns match every key of queue q: asynq's and wdtcancel's own.
func queuePatterns(q string) []string {
	return []string{store.AsynqQueuePattern(q), store.QueuePattern(q)}
}

// LeftBehind counts the keys of the bench's queues still in Redis (0 after
// cleanup); for the test that a given Redis is left as it was.
func (r *runner) leftBehind(ctx context.Context) int {
	n := 0
	for _, q := range r.queues {
		for _, pattern := range queuePatterns(q) {
			r.scan(ctx, pattern, func(_ redis.Cmdable, keys []string) { n += len(keys) })
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

// producer enqueues into queue, a base queue of the bench's own that no
// worker may have served yet (phases fill it before starting workers).
func (r *runner) producer(queue string) (*enqueue.Client, error) {
	return enqueue.New(r.conn, enqueue.WithQueue(queue), enqueue.WithSource("bench"), enqueue.WithAllowUnknownSeller())
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

package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/httpserver"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// Config assembles a worker process.
type Config struct {
	Redis asynq.RedisConnOpt
	API   Caller

	Queue       string
	Concurrency int

	RatePerMinute int
	MaxInflight   int
	// SlotWait is how long a task may wait for a call slot before it is
	// rescheduled (without using a retry).
	SlotWait time.Duration

	Handler HandlerOptions
	Breaker BreakerOptions

	// TaskCheckInterval is how often an idle worker looks for new tasks.
	// asynq's default of 1 s makes idle pickup take about 750 ms on average.
	TaskCheckInterval time.Duration
	// DelayedTaskCheckInterval is how often retry and scheduled tasks are
	// moved back to pending.
	DelayedTaskCheckInterval time.Duration
	ShutdownTimeout          time.Duration

	// Listen is the ops HTTP address; "" disables it.
	Listen string
	// ListenFallback, when set, is where the ops server listens if Listen
	// is already in use (another worker on the same host on the default
	// port), logged at warn level with the address; e.g. "127.0.0.1:0" for
	// any free port. Empty: a busy Listen fails Start with what to do.
	ListenFallback     string
	MonitoringWritable bool
	// OpsHTTP bounds the ops HTTP server: timeouts, header size, open
	// connections. Zero fields take httpserver's defaults.
	OpsHTTP httpserver.Options

	// AllowEviction starts the worker on a Redis whose maxmemory-policy is
	// not noeviction; /readyz reports it all the same.
	AllowEviction bool
	// RedisCheckInterval is how often the eviction policy and a write
	// probe are checked (DefaultRedisCheckInterval).
	RedisCheckInterval time.Duration

	Logger   *zap.Logger
	Registry *prometheus.Registry

	// OnAttempt, when set, is called once for every finished attempt with
	// what it did (the same facts as its "task ..." log line): for
	// alerting, metrics or audit of your own, and for tests that wait on
	// outcomes. It runs on the task's goroutine after the attempt's Redis
	// writes (dead-letter record, cooldown) and before asynq records the
	// task's new state, so it must be quick and safe for concurrent use.
	// An attempt that shutdown cut short before it called WDT is handed
	// back to asynq untouched and reports nothing; one cut mid-call
	// reports what the handler made of it (an unknown outcome, retry),
	// although asynq hands that task back without using a retry.
	OnAttempt func(Attempt)
}

// Defaults of Config.
const (
	DefaultConcurrency              = 10
	DefaultSlotWait                 = 2 * time.Second
	DefaultTaskCheckInterval        = 20 * time.Millisecond
	DefaultDelayedTaskCheckInterval = time.Second
	DefaultShutdownTimeout          = 30 * time.Second
	DefaultListen                   = "127.0.0.1:8080"
)

// Worker is one worker process: the asynq server and the ops HTTP server.
type Worker struct {
	cfg      Config
	rdb      redis.UniversalClient
	srv      *asynq.Server
	handler  *Handler
	ready    *Readiness
	metrics  *Metrics
	dlq      *DLQ
	limiter  *Limiter
	breaker  *Breaker
	registry *prometheus.Registry
	ops      *http.Server
	opsLn    net.Listener
	opsDone  chan error
	closers  []func() error
	guard    *redisGuard

	shutdownOnce sync.Once
	stopProber   chan struct{}
	proberDone   chan struct{}
}

// New validates cfg and builds the worker; nothing runs until Start.
func New(cfg Config) (*Worker, error) {
	if cfg.Redis == nil || cfg.API == nil {
		return nil, errors.New("worker: Redis and API are required")
	}
	if cfg.Queue == "" {
		cfg.Queue = tasks.DefaultQueue
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.SlotWait <= 0 {
		cfg.SlotWait = DefaultSlotWait
	}
	if cfg.TaskCheckInterval <= 0 {
		cfg.TaskCheckInterval = DefaultTaskCheckInterval
	}
	if cfg.DelayedTaskCheckInterval <= 0 {
		cfg.DelayedTaskCheckInterval = DefaultDelayedTaskCheckInterval
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.RatePerMinute < 0 || cfg.MaxInflight < 0 {
		return nil, errors.New("worker: --rate-per-minute and --max-inflight must be 0 (no limit) or positive")
	}
	cfg.Handler.withDefaults()
	rdb, ok := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("worker: unsupported redis option %T", cfg.Redis)
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	w := &Worker{cfg: cfg, rdb: rdb, registry: reg, ready: NewReadiness(rdb), dlq: NewDLQ(rdb, cfg.Queue)}
	w.closers = append(w.closers, rdb.Close)
	w.guard = newRedisGuard(rdb, cfg.Queue, cfg.AllowEviction, cfg.RedisCheckInterval, cfg.Logger, w.ready)
	w.ready.refresh = w.guard.check
	w.breaker = NewBreaker(rdb, cfg.Queue, cfg.Breaker)
	w.ready.WatchBreaker(w.breaker)
	w.metrics = NewMetrics(reg, cfg.API.Clock(), w.dlq, w.breaker)
	w.guard.evictingGauge = w.metrics.RedisEvicting
	w.limiter = NewLimiter(rdb, cfg.Queue, LimiterOptions{
		RatePerMinute: cfg.RatePerMinute, MaxInflight: cfg.MaxInflight,
		Lease: tasks.DefaultTimeout, MaxWait: cfg.SlotWait,
	})
	w.handler = &Handler{
		api: cfg.API, dlq: w.dlq, memory: store.NewOutcomeMemory(rdb, cfg.Queue),
		insp: asynq.NewInspectorFromRedisClient(rdb), limiter: w.limiter, breaker: w.breaker,
		metrics: w.metrics, log: cfg.Logger, opts: cfg.Handler, queue: cfg.Queue, onAttempt: cfg.OnAttempt,
	}
	w.handler.runHeld = w.releaseHeld
	w.srv = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   map[string]int{cfg.Queue: 1},
		RetryDelayFunc:           cfg.Handler.Backoff.RetryDelayFunc,
		IsFailure:                IsFailure,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		Logger:                   newAsynqLogger(cfg.Logger),
		ErrorHandler:             archiveWatch(cfg.Logger),
		LogLevel:                 asynq.WarnLevel,
		HealthCheckFunc: func(err error) {
			if err != nil {
				cfg.Logger.Warn("redis health check failed", zap.Error(err))
			}
		},
	})
	return w, nil
}

// releaseHeld runs the held tasks now: this worker's call closed the breaker.
func (w *Worker) releaseHeld() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := RunHeld(ctx, w.rdb, w.cfg.Queue)
	if err != nil {
		w.cfg.Logger.Warn("could not release every held task; the rest run after their hold delay or with `wdtcancel retry --held`", zap.Int("released", n), zap.Error(err))
		return
	}
	w.cfg.Logger.Info("held tasks released", zap.Int("released", n))
}

// startProber makes sure an open breaker gets its probe even when every task
// is held for a long delay: every ProbeEvery it releases one held task, whose
// call then becomes the probe. A starting worker frees the probe slot first,
// since it may carry the fixed configuration.
func (w *Worker) startProber() {
	w.stopProber, w.proberDone = make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(w.proberDone)
		defer cancel()
		go func() { <-w.stopProber; cancel() }()
		if st, err := w.breaker.State(ctx); err == nil && st != nil {
			w.breaker.FreeProbe(ctx)
		}
		t := time.NewTicker(w.breaker.opts.ProbeEvery)
		defer t.Stop()
		for {
			if st, err := w.breaker.State(ctx); err == nil && st != nil {
				if _, err := RunOneHeld(ctx, w.rdb, w.cfg.Queue); err != nil && ctx.Err() == nil {
					w.cfg.Logger.Warn("circuit breaker open: could not release a held task for the probe", zap.Error(err))
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (w *Worker) stopProberLoop() {
	if w.stopProber == nil {
		return
	}
	close(w.stopProber)
	<-w.proberDone
	w.stopProber = nil
}

// Breaker is the shared circuit breaker.
func (w *Worker) Breaker() *Breaker { return w.breaker }

// Handler is the task handler, for tests that drive it directly.
func (w *Worker) Handler() *Handler { return w.handler }

// Metrics are the worker's own series.
func (w *Worker) Metrics() *Metrics { return w.metrics }

// DLQ is the dead-letter store.
func (w *Worker) DLQ() *DLQ { return w.dlq }

// Readiness is the readiness state.
func (w *Worker) Readiness() *Readiness { return w.ready }

// Registry holds the worker's metrics.
func (w *Worker) Registry() *prometheus.Registry { return w.registry }

// OpsAddr is the address the ops server listens on, once started.
func (w *Worker) OpsAddr() string {
	if w.opsLn == nil {
		return ""
	}
	return w.opsLn.Addr().String()
}

// Start checks Redis, binds the ops port and starts processing. It refuses
// a Redis that may evict unless AllowEviction.
func (w *Worker) Start(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := w.rdb.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("redis unreachable: %w", err)
	}
	if err := w.guard.atStart(ctx); err != nil {
		return err
	}
	if w.cfg.Listen != "" {
		ln, err := w.listenOps()
		if err != nil {
			return err
		}
		w.opsLn = ln
		handler, closeOps := w.opsHandler()
		w.closers = append(w.closers, closeOps)
		w.ops = httpserver.New(handler, w.cfg.OpsHTTP)
		w.opsDone = make(chan error, 1)
		go func() { w.opsDone <- w.ops.Serve(ln) }()
	}
	if err := w.srv.Start(w.handler); err != nil {
		w.closeOps()
		return fmt.Errorf("start asynq server: %w", err)
	}
	w.guard.start()
	if err := store.PublishMaxRetry(ctx, w.rdb, w.cfg.Queue, w.cfg.Handler.MaxRetry); err != nil {
		w.cfg.Logger.Warn("could not publish --max-retry for status; status shows the task's own budget", zap.Error(err))
	}
	w.startProber()
	w.cfg.Logger.Info("worker started", zap.String("queue", w.cfg.Queue), zap.Int("concurrency", w.cfg.Concurrency),
		zap.Int("rate_per_minute", w.cfg.RatePerMinute), zap.Int("max_inflight", w.cfg.MaxInflight),
		zap.String("ops", w.OpsAddr()))
	return nil
}

// Shutdown turns readiness red, stops fetching new tasks, waits up to
// ShutdownTimeout for in-flight tasks, hands the rest back to the queue,
// then stops the ops server.
// It is safe to call more than once.
func (w *Worker) Shutdown() { w.shutdownOnce.Do(w.shutdown) }

func (w *Worker) shutdown() {
	w.ready.ShuttingDown()
	w.cfg.Logger.Info("shutting down: readiness is red, no new tasks are fetched")
	w.stopProberLoop()
	w.srv.Stop()
	w.srv.Shutdown()
	// Handlers asynq gave up on have had their context cancelled; let them
	// record the outcome of a cut call before Redis is closed.
	done := make(chan struct{})
	go func() { w.handler.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		w.cfg.Logger.Warn("handlers still running 10 s after shutdown; their calls' outcomes stay marked unknown")
	}
	w.Close()
	w.cfg.Logger.Info("worker stopped")
}

// Close releases the Redis connections of a worker that was never started
// or failed to start. Shutdown calls it.
func (w *Worker) Close() {
	w.guard.stop()
	w.closeOps()
	// Marks still waiting to be cleared are written before Redis closes.
	w.handler.memory.Close()
	for _, c := range w.closers {
		c()
	}
	w.closers = nil
}

func (w *Worker) closeOps() {
	if w.ops == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w.ops.Shutdown(ctx)
	<-w.opsDone
	w.ops = nil
}

// Run starts the worker and shuts it down when ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(ctx); err != nil {
		w.Close()
		return err
	}
	<-ctx.Done()
	w.Shutdown()
	return nil
}

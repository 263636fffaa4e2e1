package worker

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
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
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// Config assembles a worker process.
type Config struct {
	Redis asynq.RedisConnOpt
	// Sellers are the sellers a worker serves, each in its own queue
	// (tasks.QueueFor(Queue, name)) with its own client, limits, breaker,
	// dead-letter queue and outcome memory (docs/sellers.md). At least
	// one; a single-seller worker is SingleSeller's one lane, the seller
	// "default" on Queue itself. There is one shape for both, so nothing
	// reads "the main seller" apart from the others.
	Sellers []SellerLane
	// SellerShare is the share of Concurrency one seller may use at once:
	// ceil(Concurrency × SellerShare) tasks. Zero: 0.5 with two or more
	// sellers, 1 with one.
	SellerShare float64
	// UnknownSellerCheckInterval is how often the worker looks for queues
	// with tasks of sellers it does not serve
	// (DefaultUnknownSellerCheckInterval).
	UnknownSellerCheckInterval time.Duration

	Queue       string
	Concurrency int

	// SlotWait is how long a task may wait in the worker for its call
	// slot, reserved in the shared limiter, before it is rescheduled
	// (without using a retry); never past the task's deadline less the
	// call's own timeout. Waiting costs no Redis command (Limiter.Acquire).
	SlotWait time.Duration

	// GroupCommitMax caps how many calls of a seller share one write of
	// their sent marks, and of their results (worker/groupcommit.go):
	// DefaultGroupCommitMax when 0; 1 writes each alone.
	// GroupCommitLinger is how long a call that finds no write under way
	// waits for company before its mark is written: 0 (the default) writes
	// at once, and calls that arrive during a write share the next.
	GroupCommitMax    int
	GroupCommitLinger time.Duration

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
	// AllowVolatileRedis starts the worker on a Redis that does not keep
	// writes across a crash (no AOF with appendfsync always/everysec, and
	// replicas not all waited for) or will not say (INFO restricted).
	// Without it Start refuses such a Redis with the fix. With it,
	// /readyz's durability detail, wdtcancel_redis_durable and a warning
	// at start show the gap; readiness stays green.
	AllowVolatileRedis bool
	// RedisWaitReplicas, when above 0, makes the writes a failover must
	// not lose (the sent mark, the confirmation, the dead-letter record)
	// wait for that many replicas, up to RedisWaitTimeout
	// (store.DefaultWaitTimeout when 0); AutoReplicas waits for every
	// replica each queue's master reports (the CLI's default). 0 is off.
	// See store.Durable.
	RedisWaitReplicas int
	RedisWaitTimeout  time.Duration
	// RedisWaitUnmetBound is how long replica waits may keep failing on a
	// master before /readyz turns red (store.DefaultUnmetBound when 0).
	RedisWaitUnmetBound time.Duration
	// RedisCheckInterval is how often the eviction policy and a write
	// probe are checked (DefaultRedisCheckInterval).
	RedisCheckInterval time.Duration
	// LossCheckInterval is how often each queue's epoch marker is bumped
	// to notice a Redis that lost writes (DefaultLossCheckInterval). With
	// several sellers, the queues with work are bumped this often and the
	// idle ones one at a time in turn (docs/sellers.md); a queue whose
	// calls bump its marker is bumped in full every lossFullEvery (5 s).
	LossCheckInterval time.Duration

	// Activity tunes how a worker with several sellers polls only the
	// queues that have work (activity.go, docs/sellers.md "Idle sellers
	// cost nothing"). A single-seller worker polls its queue as asynq
	// does.
	Activity ActivityOptions

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

	// Notify is the webhook delivery of outcome events (notify.go); a
	// seller's own NotifyURL replaces it. URL "": no delivery.
	Notify NotifyOptions
	// EventsMaxLen and EventsMaxAge cap each queue's events stream
	// (store.DefaultEventsMaxLen, store.DefaultEventsMaxAge when 0).
	EventsMaxLen int64
	EventsMaxAge time.Duration
}

// SellerLane is one seller a worker serves.
type SellerLane struct {
	// Name is the seller's name (tasks.ValidateSeller); "" is
	// tasks.DefaultSeller, whose queue is the base queue.
	Name string
	// API is the seller's own WDT client. Give each seller its own HTTP
	// client (wdt.NewHTTPClient): no connection is reused across sids.
	API Caller
	// Lookup is the seller's order lookup (*qimen.Client, sharing API's
	// clock, with an HTTP client of its own); nil: the seller has none
	// and the outcome memory alone decides, as before (docs/qimen.md).
	Lookup Looker
	// RatePerMinute and MaxInflight are the seller's call limits across
	// every worker on this Redis (0: no limit).
	RatePerMinute int
	MaxInflight   int
	// NotifyURL and NotifySecret replace Config.Notify's URL and secret
	// for this seller's outcome events.
	NotifyURL    string
	NotifySecret []byte
}

// SingleSeller is the one lane of a single-seller worker: the seller
// "default", on the base queue, calling api within the given limits
// (0: no limit).
func SingleSeller(api Caller, ratePerMinute, maxInflight int) []SellerLane {
	return []SellerLane{{Name: tasks.DefaultSeller, API: api, RatePerMinute: ratePerMinute, MaxInflight: maxInflight}}
}

// DefaultSellerShare is Config.SellerShare's default with several sellers.
const DefaultSellerShare = 0.5

// Defaults of Config.
const (
	DefaultConcurrency              = 10
	DefaultSlotWait                 = time.Minute
	DefaultTaskCheckInterval        = 20 * time.Millisecond
	DefaultDelayedTaskCheckInterval = time.Second
	DefaultShutdownTimeout          = 30 * time.Second
	DefaultListen                   = "127.0.0.1:8080"
)

// Worker is one worker process: the asynq server and the ops HTTP server.
type Worker struct {
	cfg   Config
	rdb   redis.UniversalClient
	srv   *asynq.Server
	ready *Readiness
	// lanes are the sellers served, sorted by name; byQueue finds a task's
	// lane by its queue.
	lanes   []*Lane
	byQueue map[string]*Lane
	watch   *sellerWatch
	// replicas is the replica wait's per-master state, shared by the
	// lanes' Durables and the durability guard.
	replicas *store.Replicas
	backlog  *backlog // pending tasks per seller queue, for the share gates
	registry *prometheus.Registry
	ops      *http.Server
	opsLn    net.Listener
	opsDone  chan error
	closers  []func() error
	guard    *redisGuard
	loss     *lossGuard
	// act is the activity tracker of a worker with several sellers (nil
	// with one): asynq polls only the queues with work.
	act *activity
	// Outcome events (events.go): series, webhook delivery.
	events     *eventVecs
	stopNotify context.CancelFunc
	notifyWG   sync.WaitGroup

	shutdownOnce sync.Once
}

// Lane is one seller's share of a worker: its queue, client, limiter,
// breaker, dead-letter queue, outcome memory and metrics. Nothing in a lane
// is shared with another seller's.
type Lane struct {
	name, queue string
	api         Caller
	rpm, flight int
	handler     *Handler
	limiter     *Limiter
	breaker     *Breaker
	dlq         *DLQ
	metrics     *Metrics
	log         *zap.Logger
	notifier    *notifier // nil: no webhook for this seller

	stopProber chan struct{}
	proberDone chan struct{}
}

// Name is the lane's seller.
func (l *Lane) Name() string { return l.name }

// Queue is the seller's queue.
func (l *Lane) Queue() string { return l.queue }

// Breaker is the seller's circuit breaker.
func (l *Lane) Breaker() *Breaker { return l.breaker }

// Metrics are the seller's series.
func (l *Lane) Metrics() *Metrics { return l.metrics }

// DLQ is the seller's dead-letter store.
func (l *Lane) DLQ() *DLQ { return l.dlq }

// API is the seller's WDT client.
func (l *Lane) API() Caller { return l.api }

// New validates cfg and builds the worker; nothing runs until Start.
func New(cfg Config) (*Worker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	lanes, err := laneConfigs(cfg.Sellers)
	if err != nil {
		return nil, err
	}
	if _, err := store.NewDurable(nil, cfg.Queue, cfg.RedisWaitReplicas, cfg.RedisWaitTimeout); err != nil {
		return nil, fmt.Errorf("worker: --redis-wait-replicas: %w", err)
	}
	rdb, ok := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("worker: unsupported redis option %T", cfg.Redis)
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	w := &Worker{cfg: cfg, rdb: rdb, registry: reg, ready: NewReadiness(rdb), byQueue: make(map[string]*Lane, len(lanes))}
	w.ready.multi = !single(lanes)
	w.closers = append(w.closers, rdb.Close)
	w.guard = newRedisGuard(rdb, cfg.Queue, cfg.AllowEviction, cfg.RedisCheckInterval, cfg.Logger, w.ready)
	w.replicas = store.NewReplicas(0)
	w.guard.durability = newDurabilityGuard(rdb, cfg, w.replicas, w.ready)
	registerDurabilityMetrics(reg, w.guard.durability)
	w.ready.refresh = w.guard.check
	w.loss = newLossGuard(cfg.LossCheckInterval)
	w.ready.lostWrites = w.loss.reasons
	lostGauge := lossGauge(reg)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	vecs := newMetricVecs(reg)
	queues := make(map[string]int, len(lanes))
	names := make([]string, 0, len(lanes))
	laneQueues := make([]string, 0, len(lanes))
	for _, lc := range lanes {
		laneQueues = append(laneQueues, tasks.QueueFor(cfg.Queue, lc.Name))
	}
	w.backlog = newBacklog(rdb, laneQueues)
	asynqRdb := rdb
	if len(lanes) > 1 {
		w.act = newActivity(rdb, laneQueues, cfg.Activity, cfg.Logger)
		// asynq gets a client of its own whose hook answers its polling
		// of closed queues; every other command goes to Redis as before.
		if asynqRdb, ok = cfg.Redis.MakeRedisClient().(redis.UniversalClient); !ok {
			return nil, fmt.Errorf("worker: unsupported redis option %T", cfg.Redis)
		}
		asynqRdb.AddHook(w.act)
		w.closers = append(w.closers, asynqRdb.Close)
		w.act.onOpen = w.loss.bumpQueue
		w.loss.active = w.act.isOpen
		w.backlog.active = w.act.isOpen
		w.backlog.waiting = w.act.mayHavePending
		w.act.forwardEvery = cfg.DelayedTaskCheckInterval
	}
	for _, lc := range lanes {
		l := w.newLane(lc, insp, vecs)
		l.handler.loss = w.loss.addLane(rdb, l.queue, l.handler.durable, lostGauge.WithLabelValues(l.name), l.log)
		w.lanes = append(w.lanes, l)
		w.byQueue[l.queue] = l
		queues[l.queue] = 1
		names = append(names, l.name)
	}
	w.paceFetches()
	w.guard.evictingGauge = vecs.evicting
	w.watch = newSellerWatch(rdb, insp, cfg.Queue, names, cfg.UnknownSellerCheckInterval, cfg.Logger, w.ready)
	unknownSellerGauge(reg, w.watch.count)
	w.srv = asynq.NewServerFromRedisClient(asynqRdb, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   queues,
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

// paceFetches lets the activity hook fetch each seller's tasks by its
// slots (pacing.go): a worker of several sellers only.
func (w *Worker) paceFetches() {
	if w.act == nil {
		return
	}
	for _, l := range w.lanes {
		w.act.byQ[l.queue].pacer = l.limiter
		l.limiter.onClaimReleased = w.act.broadcast
	}
}

// laneConfigs checks the sellers: each named once, with a client and sane
// limits. They come back sorted by name.
func laneConfigs(sellers []SellerLane) ([]SellerLane, error) {
	out := make([]SellerLane, 0, len(sellers))
	seen := make(map[string]bool, len(sellers))
	for _, s := range sellers {
		s.Name = cmp.Or(s.Name, tasks.DefaultSeller)
		if err := tasks.ValidateSeller(s.Name); err != nil {
			return nil, fmt.Errorf("worker: %w", err)
		}
		switch {
		case seen[s.Name]:
			return nil, fmt.Errorf("worker: seller %q is listed twice", s.Name)
		case s.API == nil:
			return nil, fmt.Errorf("worker: seller %q has no API client", s.Name)
		case s.RatePerMinute < 0 || s.MaxInflight < 0:
			return nil, fmt.Errorf("worker: seller %q: rate_per_minute (--rate-per-minute) and max_inflight (--max-inflight) must be 0 (no limit) or positive", s.Name)
		}
		seen[s.Name] = true
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// single reports whether lanes are one single-seller worker's: the seller
// "default" alone, whose readiness and log lines name no seller.
func single(lanes []SellerLane) bool {
	return len(lanes) == 1 && lanes[0].Name == tasks.DefaultSeller
}

// newLane builds one seller's lane: every piece of state scoped by the
// seller's queue, and its own handler.
func (w *Worker) newLane(lc SellerLane, insp *asynq.Inspector, vecs *metricVecs) *Lane {
	cfg := w.cfg
	q := tasks.QueueFor(cfg.Queue, lc.Name)
	l := &Lane{name: lc.Name, queue: q, api: lc.API, rpm: lc.RatePerMinute, flight: lc.MaxInflight,
		log: cfg.Logger.With(zap.String("seller", lc.Name))}
	// The store knows its seller under any base queue (NewDLQ alone maps
	// only tasks.DefaultQueue's); laneConfigs validated the name.
	var err error
	if l.dlq, err = store.NewSellerDLQ(w.rdb, cfg.Queue, lc.Name); err != nil {
		l.dlq = NewDLQ(w.rdb, q)
	}
	l.breaker = NewBreaker(w.rdb, q, cfg.Breaker)
	w.ready.WatchSellerBreaker(lc.Name, l.breaker)
	l.metrics = vecs.seller(lc.Name, lc.API.Clock(), l.dlq, l.breaker)
	l.limiter = NewLimiter(w.rdb, q, LimiterOptions{
		RatePerMinute: lc.RatePerMinute, MaxInflight: lc.MaxInflight,
		Lease: tasks.DefaultTimeout, MaxWait: cfg.SlotWait,
	})
	// Settings checked in New; each queue waits on its own slot's master.
	durable, _ := store.NewTrackedDurable(w.rdb, w.replicas, q, cfg.RedisWaitReplicas, cfg.RedisWaitTimeout)
	l.handler = &Handler{durable: durable,
		api: lc.API, dlq: l.dlq, memory: store.NewOutcomeMemory(w.rdb, q),
		insp: insp, limiter: l.limiter, breaker: l.breaker,
		metrics: l.metrics, log: l.log, opts: cfg.Handler, queue: q, seller: lc.Name,
		share: newShareGate(cfg.Concurrency, cfg.SellerShare, w.backlog.othersWaiting(q)), onAttempt: cfg.OnAttempt,
		lookup: lc.Lookup, groupMax: cfg.GroupCommitMax, groupLinger: cfg.GroupCommitLinger,
	}
	l.handler.runHeld = func() { w.releaseHeld(l) }
	w.wireEvents(l, lc)
	return l
}

// ProcessTask hands a task to the lane of its queue. asynq fetches only the
// lanes' queues, so a task without a lane is a bug; it is held, never
// dead-lettered.
func (w *Worker) ProcessTask(ctx context.Context, t *asynq.Task) error {
	q, _ := asynq.GetQueueName(ctx)
	l := w.byQueue[q]
	w.act.begin(q)
	defer w.act.end(q)
	if w.act != nil && l != nil {
		// The activity hook counted the task in hand for its seller
		// (pacing.go); the limiter gives the count back when the
		// reservation is answered, this when the task ends without one.
		var claim *fetchClaim
		ctx, claim = withFetchClaim(ctx, l.limiter)
		defer claim.release()
	}
	if l == nil {
		return snooze(wdt.Config, jitter(w.cfg.Handler.ConfigFaultDelay), heldError(fmt.Errorf("queue %q is not one of this worker's sellers' queues", q)))
	}
	return l.handler.ProcessTask(ctx, t)
}

// releaseHeld runs a seller's held tasks now: this worker's call closed the
// seller's breaker.
func (w *Worker) releaseHeld(l *Lane) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := RunHeld(ctx, w.rdb, l.queue)
	if n > 0 {
		w.act.openNow(ctx, l.queue)
	}
	if err != nil {
		l.log.Warn("could not release every held task; the rest run after their hold delay or with `wdtcancel retry --held`", zap.Int("released", n), zap.Error(err))
		return
	}
	l.log.Info("held tasks released", zap.Int("released", n))
}

// startProber makes sure a seller's open breaker gets its probe even when
// every task is held for a long delay: every ProbeEvery it releases one held
// task, whose call then becomes the probe. A starting worker frees the probe
// slot first, since it may carry the fixed configuration.
func (w *Worker) startProber(l *Lane) {
	l.stopProber, l.proberDone = make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(l.proberDone)
		defer cancel()
		go func() { <-l.stopProber; cancel() }()
		if st, err := l.breaker.State(ctx); err == nil && st != nil {
			l.breaker.FreeProbe(ctx)
		}
		t := time.NewTicker(l.breaker.opts.ProbeEvery)
		defer t.Stop()
		for {
			// A queue without any task has nothing to hold, nor a held
			// task to release: its breaker is not read.
			if w.act.hasTasks(l.queue) {
				w.probe(ctx, l)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// probe releases one held task of l if its breaker is open.
func (w *Worker) probe(ctx context.Context, l *Lane) {
	if st, err := l.breaker.State(ctx); err != nil || st == nil {
		return
	}
	ran, err := RunOneHeld(ctx, w.rdb, l.queue)
	if err != nil && ctx.Err() == nil {
		l.log.Warn("circuit breaker open: could not release a held task for the probe", zap.Error(err))
	}
	if ran {
		w.act.openNow(ctx, l.queue)
	}
}

func (w *Worker) stopProbers() {
	for _, l := range w.lanes {
		if l.stopProber == nil {
			continue
		}
		close(l.stopProber)
		<-l.proberDone
		l.stopProber = nil
	}
}

// Sellers are the lanes of the sellers this worker serves, sorted by name.
func (w *Worker) Sellers() []*Lane { return append([]*Lane(nil), w.lanes...) }

// Seller is the lane of one seller, nil when the worker does not serve it.
func (w *Worker) Seller(name string) *Lane {
	for _, l := range w.lanes {
		if l.name == name {
			return l
		}
	}
	return nil
}

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
// a Redis that may evict unless AllowEviction, and one that does not keep
// writes across a crash (or will not say) unless AllowVolatileRedis.
func (w *Worker) Start(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := w.rdb.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("redis unreachable: %w", err)
	}
	if err := w.guard.atStart(ctx); err != nil {
		return err
	}
	// The first bump sets this process's baseline and reads a loss other
	// processes recorded, so readiness shows it from the start.
	w.loss.check(ctx)
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
	// Queues with work open before asynq's first poll.
	w.act.start()
	if err := w.srv.Start(w); err != nil {
		w.act.stop()
		w.closeOps()
		return fmt.Errorf("start asynq server: %w", err)
	}
	w.guard.start()
	w.loss.start()
	w.watch.start()
	w.startNotifiers(ctx)
	if len(w.lanes) > 1 {
		w.backlog.start()
	}
	for _, l := range w.lanes {
		if err := store.PublishMaxRetry(ctx, w.rdb, l.queue, w.cfg.Handler.MaxRetry); err != nil {
			l.log.Warn("could not publish --max-retry for status; status shows the task's own budget", zap.Error(err))
		}
		// Announced before "worker started", so producers started after it
		// accept the seller (the seller watch refreshes it).
		if err := store.Announce(ctx, w.rdb, l.queue); err != nil {
			l.log.Warn("could not announce the seller; producers refuse it until the next seller check (15 s) or with --allow-unknown-seller", zap.Error(err))
		}
		w.startProber(l)
	}
	if !w.ready.multi {
		l := w.lanes[0]
		w.cfg.Logger.Info("worker started", zap.String("queue", w.cfg.Queue), zap.Int("concurrency", w.cfg.Concurrency),
			zap.Int("rate_per_minute", l.rpm), zap.Int("max_inflight", l.flight),
			zap.String("ops", w.OpsAddr()))
		return nil
	}
	for _, l := range w.lanes {
		l.log.Info("serving seller", zap.String("queue", l.queue), zap.Int("rate_per_minute", l.rpm), zap.Int("max_inflight", l.flight))
	}
	w.cfg.Logger.Info("worker started", zap.String("queue", w.cfg.Queue), zap.Int("sellers", len(w.lanes)),
		zap.Int("concurrency", w.cfg.Concurrency), zap.Int("seller_share_tasks", shareLimit(w.cfg.Concurrency, w.cfg.SellerShare)),
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
	w.stopProbers()
	// A dequeue held while nothing was open returns now.
	w.act.stop()
	// Tasks waiting for a slot go back to the queue now, not after their
	// wait: the shutdown would otherwise last up to --slot-wait.
	for _, l := range w.lanes {
		l.limiter.Stop()
	}
	w.srv.Stop()
	w.srv.Shutdown()
	// Handlers asynq gave up on have had their context cancelled; let them
	// record the outcome of a cut call before Redis is closed.
	done := make(chan struct{})
	go func() {
		for _, l := range w.lanes {
			l.handler.running.Wait()
		}
		close(done)
	}()
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
	w.stopNotifiers()
	w.guard.stop()
	w.loss.stop()
	w.act.stop()
	w.watch.stop()
	w.backlog.stop()
	w.closeOps()
	// Marks still waiting to be cleared are written before Redis closes.
	for _, l := range w.lanes {
		l.handler.closeMarks()
		l.handler.memory.Close()
	}
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

package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/cmd/wdtcancel/internal/sellerconf"
	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// sellerLanes builds each seller's WDT client, each with an HTTP client of
// its own and its own clock: a fresh connection per call, or, for a seller
// with reuse_connections, a keep-alive pool of its own (no connection is
// reused across sids).
func sellerLanes(sellers []sellerconf.Seller) ([]worker.SellerLane, error) {
	lanes := make([]worker.SellerLane, 0, len(sellers))
	for _, s := range sellers {
		opts := []wdt.Option{wdt.WithHTTPClient(wdt.NewHTTPClient())}
		if s.ReuseConnections {
			opts = []wdt.Option{wdt.WithHTTPClient(wdt.NewKeepAliveHTTPClient()), wdt.WithConnectionReuse()}
		}
		c, err := wdt.New(s.URL, s.Credentials, opts...)
		if err != nil {
			return nil, fmt.Errorf("seller %q: %w", s.Name, err)
		}
		look, err := lookupFor(s.Name, s.Qimen, c)
		if err != nil {
			return nil, err
		}
		lane := worker.SellerLane{Name: s.Name, API: c, Lookup: look, RatePerMinute: s.RatePerMinute, MaxInflight: s.MaxInflight}
		if s.Notify != nil {
			lane.NotifyURL, lane.NotifySecret = s.Notify.URL, s.Notify.Secret
		}
		lanes = append(lanes, lane)
	}
	return lanes, nil
}

func newWorkerCmd() *cobra.Command {
	var (
		redis config.Redis
		api   sellerconf.WDT
		cfg   worker.Config
		logs  logFlags
		wait  config.RedisWait
		qf    sellerconf.QimenFlags

		sellersPath string
		cpuProfile  string
		notify      notifyFlags
		// limits are --rate-per-minute and --max-inflight: the single
		// seller's limits, or every seller's default in a sellers file.
		limits sellerconf.Defaults
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the worker pool: take cancel tasks, call WDT, retry, dead-letter",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			defer log.Sync()
			var started func()
			if sellersPath == "" {
				started, err = singleSeller(&cfg, &api, &qf, limits, log, &redis)
			} else {
				started, err = sellersFromFile(&cfg, sellersPath, &api, &qf, limits, log, &redis)
			}
			if err != nil {
				return usageErr(err)
			}
			if cfg.Redis, err = redis.ConnOpt(); err != nil {
				return usageErr(err)
			}
			cfg.Logger = log
			if err := notify.resolve(&cfg); err != nil {
				return usageErr(err)
			}
			if cfg.RedisWaitReplicas, err = wait.Count(); err != nil {
				return usageErr(err)
			}
			cfg.RedisWaitTimeout = wait.Timeout
			cfg.ListenFallback = opsListenFallback(cmd.Flags().Lookup("listen"))
			w, err := worker.New(cfg)
			if err != nil {
				return usageErr(err)
			}
			stopProfile, err := startCPUProfile(cpuProfile)
			if err != nil {
				return usageErr(err)
			}
			defer stopProfile()
			started()
			if err := w.Run(cmd.Context()); err != nil {
				return usageErr(fmt.Errorf("%w (redis %s)", err, redis.String()))
			}
			return nil
		},
	}
	f := cmd.Flags()
	redis.AddFlags(f)
	api.AddFlags(f)
	qf.AddFlags(f)
	f.StringVar(&sellersPath, "sellers", "", "sellers file (YAML, docs/sellers.md): serve every seller in it, each in its own queue <queue>:<seller>; without it WDT_SID/WDT_APPKEY/WDT_APPSECRET are the one seller \"default\"")
	f.Float64Var(&cfg.SellerShare, "seller-share", 0, "share of --concurrency one seller may use at once (0 < share <= 1; default 0.5 with two or more sellers, 1 with one)")
	f.StringVar(&cfg.Queue, "queue", tasks.DefaultQueue, "queue to work (the seller \"default\"'s; seller NAME works <queue>:NAME)")
	f.IntVar(&cfg.Concurrency, "concurrency", worker.DefaultConcurrency, "tasks processed at once by this process")
	f.IntVar(&limits.RatePerMinute, "rate-per-minute", 0, "WDT calls per minute across all workers on this Redis, spread evenly (0 = no limit)")
	f.IntVar(&limits.MaxInflight, "max-inflight", 0, "WDT calls in flight at once across all workers on this Redis (0 = no limit)")
	f.DurationVar(&cfg.SlotWait, "slot-wait", worker.DefaultSlotWait, "longest wait in the worker for a reserved call slot (no Redis command while waiting; never past the task's deadline less the call's timeout) before the task is rescheduled (no retry used)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this worker's whole run to this file (go tool pprof), for performance work")
	f.IntVar(&cfg.GroupCommitMax, "group-commit-max", worker.DefaultGroupCommitMax, "most calls of a seller whose sent marks, and whose results, share one Redis script and replica wait (group commit; 1 writes each alone)")
	f.DurationVar(&cfg.GroupCommitLinger, "group-commit-linger", 0, "how long a call that finds no write of marks under way waits for others before its mark is written (0: at once; calls arriving during a write share the next)")
	f.IntVar(&cfg.Handler.MaxRetry, "max-retry", worker.DefaultMaxRetry, "failed attempts (request not sent, or sent with no definite answer) before dead-lettering as exhausted; held attempts do not count")
	f.DurationVar(&cfg.Handler.Backoff.Base, "backoff-base", worker.DefaultBackoff.Base, "first retry delay; doubles per failure, with jitter")
	f.DurationVar(&cfg.Handler.Backoff.Cap, "backoff-cap", worker.DefaultBackoff.Cap, "longest retry delay")
	f.DurationVar(&cfg.Handler.Cooldown, "cooldown", worker.DefaultCooldown, "pause of every worker after a WDT rate-limit answer")
	f.DurationVar(&cfg.Handler.ConfigFaultDelay, "config-fault-delay", worker.DefaultConfigFaultDelay, "how long a task is held after a configuration fault (no retry used); wdtcancel retry --held runs held tasks at once")
	f.IntVar(&cfg.Breaker.Threshold, "breaker-threshold", worker.DefaultBreakerThreshold, "endpoint failures (not sent, or no definite answer) that open the shared circuit breaker when no call got a definite answer for --breaker-window")
	f.DurationVar(&cfg.Breaker.Window, "breaker-window", worker.DefaultBreakerWindow, "how long without any definite WDT answer, across all workers, before endpoint failures open the breaker")
	f.DurationVar(&cfg.Breaker.ProbeEvery, "breaker-probe-every", worker.DefaultBreakerProbeEvery, "while the breaker is open, one probe call per this interval; the first definite answer closes it")
	f.DurationVar(&cfg.Handler.BreakerHoldDelay, "breaker-hold", worker.DefaultBreakerHoldDelay, "how long a task waits while the breaker is open (no retry used); closing the breaker releases held tasks at once")
	f.DurationVar(&cfg.TaskCheckInterval, "task-check-interval", worker.DefaultTaskCheckInterval, "how often an idle worker polls for new tasks")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", worker.DefaultShutdownTimeout, "on SIGTERM, how long in-flight tasks may finish before they are handed back")
	f.StringVar(&cfg.Listen, "listen", worker.DefaultListen, "ops HTTP address: /healthz, /readyz, /metrics, /monitoring/ (\"\" disables); if left at the default and busy, any free port (logged)")
	f.BoolVar(&cfg.MonitoringWritable, "monitoring-writable", false, "let asynqmon change tasks (delete, run, archive); read-only by default")
	config.AddAllowEvictionFlag(f, &cfg.AllowEviction)
	notify.add(f, &cfg)
	config.AddAllowVolatileFlag(f, &cfg.AllowVolatileRedis)
	wait.AddFlags(f, "the sent mark before each call, the confirmation and the dead-letter record")
	logs.add(cmd)
	return cmd
}

// singleSeller makes cfg a worker for the one seller the flags describe
// (no sellers file), with the order lookup when --qimen-* are given. It
// returns what to log once the worker has started.
func singleSeller(cfg *worker.Config, api *sellerconf.WDT, qf *sellerconf.QimenFlags, limits sellerconf.Defaults, log *zap.Logger, redis *config.Redis) (func(), error) {
	client, err := api.Client()
	if err != nil {
		return nil, err
	}
	cfg.Sellers = worker.SingleSeller(client, limits.RatePerMinute, limits.MaxInflight)
	q, err := qf.Resolve()
	if err != nil {
		return nil, err
	}
	if cfg.Sellers[0].Lookup, err = lookupFor("default", q, client); err != nil {
		return nil, err
	}
	return func() {
		log.Info("starting", zap.String("wdt_url", client.Endpoint()), zap.String("sid", client.Credentials().SID),
			zap.Bool("reuse_connections", api.Reuse()), zap.Bool("order_lookup", q != nil), zap.String("redis", redis.String()))
	}, nil
}

// sellersFromFile makes cfg a worker for the sellers of the file at path;
// the flags' limits and URL are every seller's defaults, and the
// single-seller flags that would contradict the file are refused.
func sellersFromFile(cfg *worker.Config, path string, api *sellerconf.WDT, qf *sellerconf.QimenFlags, limits sellerconf.Defaults, log *zap.Logger, redis *config.Redis) (func(), error) {
	if err := api.SellersFileConflict(); err != nil {
		return nil, err
	}
	if err := qimenFlagsConflict(*qf); err != nil {
		return nil, err
	}
	sellers, err := sellerconf.Load(path, os.LookupEnv, sellerconf.Defaults{
		URL: api.URL, RatePerMinute: limits.RatePerMinute, MaxInflight: limits.MaxInflight, ConnectionClose: api.ConnectionClose,
		ReuseConnections: api.ReuseConnections,
	})
	if err != nil {
		return nil, err
	}
	if cfg.Sellers, err = sellerLanes(sellers); err != nil {
		return nil, err
	}
	return func() {
		for _, s := range sellers {
			log.Info("seller", zap.String("seller", s.Name), zap.String("wdt_url", s.URL), zap.String("sid", s.Credentials.SID),
				zap.Bool("reuse_connections", s.ReuseConnections), zap.Bool("order_lookup", s.Qimen != nil))
		}
		log.Info("starting", zap.String("sellers_file", path), zap.Int("sellers", len(sellers)), zap.String("redis", redis.String()))
	}, nil
}

// startCPUProfile profiles the process into path until the returned stop
// is called (a no-op without a path): `wdtcancel bench --cpuprofile` gives
// it to a worker process of its quota phase, so the profile covers the
// worker for the whole run.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w (give a writable file path)", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

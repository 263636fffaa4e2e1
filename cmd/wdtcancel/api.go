package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/httpserver"
	"github.com/wdtcancel/wdtcancel/tasks"
)

func newAPICmd() *cobra.Command {
	var (
		redis           config.Redis
		listen, queue   string
		metricsListen   string
		opts            enqueue.APIOptions
		unauthenticated bool
		allowEvict      bool
		allowVolatile   bool
		allowUnknown    bool
		wait            config.RedisWait
		logs            logFlags
	)
	cmd := &cobra.Command{
		Use:   "api",
		Short: "HTTP producer: POST /v1/cancellations, GET /v1/cancellations/{no}",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return usageErr(err)
			}
			if opts.Token == "" {
				if !unauthenticated {
					return usageErr(errors.New("no API token: set WDTCANCEL_API_TOKEN (or --token), or pass --allow-unauthenticated to serve without one on loopback"))
				}
				if !isLoopback(listen) {
					return usageErr(fmt.Errorf("--allow-unauthenticated only on a loopback address, not %s", listen))
				}
			}
			log, err := logs.logger()
			if err != nil {
				return err
			}
			defer log.Sync()
			replicas, err := wait.Count()
			if err != nil {
				return usageErr(err)
			}
			copts := append(allowOptions(allowVolatile, allowUnknown), enqueue.WithWaitReplicas(replicas, wait.Timeout), enqueue.WithQueue(queue))
			c, err := openProducer(cmd.Context(), &redis, copts...)
			if err != nil {
				return err
			}
			defer c.Close()
			policy, err := redisChecks{allowEvict: allowEvict, allowVolatile: allowVolatile,
				warnEvict: func(policy string) {
					log.Warn("redis may silently drop queued tasks; serving anyway because of --allow-eviction", zap.String("maxmemory_policy", policy))
				},
				warnVolatile: func(problem error) {
					log.Warn("redis is not known to keep writes across a crash: a crash can lose acknowledged enqueues; serving anyway because of --allow-volatile-redis", zap.String("durability", problem.Error()))
				},
			}.check(cmd.Context(), c)
			if err != nil {
				return err
			}
			guard := &apiGuard{c: c, log: log, interval: apiRedisCheckInterval}
			guard.record()
			guard.lastKey = ""
			if d := c.Durability(); d.Allowed {
				guard.lastKey = "allowed: " + d.Problem.Error()
			}
			defer guard.start()()
			if policy == "" {
				log.Debug("redis does not report maxmemory_policy: eviction not checked")
			}
			opts.Logger = log
			ln, err := httpserver.Listen(listen, httpOptions)
			if err != nil {
				return usageErr(fmt.Errorf("api listen on %s: %w", listen, err))
			}
			var h http.Handler = enqueue.NewAPI(c, opts)
			if metricsListen != "" {
				mln, err := httpserver.Listen(metricsListen, httpOptions)
				if err != nil {
					ln.Close()
					return usageErr(fmt.Errorf("api --metrics-listen on %s: %w", metricsListen, err))
				}
				var stop func()
				h, stop = serveAPIMetrics(cmd.Context(), log, mln, h, guard.collector())
				defer stop()
			}
			log.Info("api listening", zap.String("addr", ln.Addr().String()), zap.Bool("authenticated", opts.Token != ""), zap.String("redis", redis.String()))
			return serveUntilDone(cmd.Context(), log, ln, h, httpOptions)
		},
	}
	f := cmd.Flags()
	redis.AddFlags(f)
	f.StringVar(&listen, "listen", "127.0.0.1:8090", "address to serve the API on")
	f.StringVar(&metricsListen, "metrics-listen", "", "address to serve Prometheus /metrics on, a listener of its own so the API's token does not guard it (\"\" disables)")
	f.StringVar(&queue, "queue", tasks.DefaultQueue, "queue to enqueue into")
	f.StringVar(&opts.Token, "token", "", "bearer token callers must send (env WDTCANCEL_API_TOKEN; prefer the env var)")
	f.BoolVar(&unauthenticated, "allow-unauthenticated", false, "serve without a token (loopback addresses only)")
	f.Int64Var(&opts.MaxBodyBytes, "max-body-bytes", enqueue.DefaultMaxBodyBytes, "largest request body accepted (413 above)")
	f.IntVar(&opts.MaxNumbers, "max-numbers", enqueue.DefaultMaxNumbers, "most numbers in one request (413 above)")
	config.AddAllowEvictionFlag(f, &allowEvict)
	config.AddAllowVolatileFlag(f, &allowVolatile)
	config.AddAllowUnknownSellerFlag(f, &allowUnknown)
	wait.AddFlags(f, "each enqueue")
	logs.add(cmd)
	return cmd
}

// serveAPIMetrics serves /metrics on ln until ctx ends or stop is called:
// the API's requests by status code and method, and the Go runtime. It
// returns h counting its requests. The labels are bounded: promhttp folds
// any non-standard method into "unknown".
func serveAPIMetrics(ctx context.Context, log *zap.Logger, ln net.Listener, h http.Handler, extra ...prometheus.Collector) (http.Handler, func()) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(extra...)
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wdtcancel_api_requests_total", Help: "Requests to the HTTP producer by status code and method.",
	}, []string{"code", "method"})
	reg.MustRegister(requests)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	log.Info("api metrics listening", zap.String("addr", ln.Addr().String()))
	go func() {
		defer close(done)
		if err := serveUntilDone(ctx, log, ln, mux, httpOptions); err != nil {
			log.Error("api metrics server stopped", zap.Error(err))
		}
	}()
	return promhttp.InstrumentHandlerCounter(requests, h), func() { cancel(); <-done }
}

// httpOptions bound the servers serveUntilDone runs (api, sandbox): zero
// values take httpserver's defaults; api's listener also takes its
// connection cap. Tests shorten them.
var httpOptions httpserver.Options

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

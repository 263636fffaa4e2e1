package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/httpserver"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

func newSandboxCmd() *cobra.Command {
	var (
		opts                sandbox.Options
		ordersFile, unknown string
		listen              string
		logs                logFlags
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the WDT sandbox: a faithful fake of the open API for tests and trials",
		Long: `Run the WDT sandbox: a faithful fake of the open API for tests and trials.

Endpoints:
  POST /openapi                  the API (wms.stockin.PreStockin.cancel)
  GET  /_sandbox/orders          every order
  GET  /_sandbox/orders/{no}     one order: status, cancel_calls, lost_responses, garbled_responses
  PUT  /_sandbox/orders/{no}     set its state, body {"status": 20} (10, 20, 30, 37, 40, 80)
  GET  /_sandbox/stats           calls by answered status and by injected fault
  /_sandbox/elsewhere            where --redirect-rate points; answers {"status":0}, touches nothing

Faults: each API call draws once from --seed and meets at most one fault, in
this order: --fail-rate, --redirect-rate, --lax-json-rate (in front of WDT:
the order is left alone), --apply-fail-rate, --lost-response-rate (WDT
applies the call, then the answer is garbled or lost). The rates add up to
at most 1. The same seed and the same calls give the same faults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			defer log.Sync()
			if opts.Unknown, err = sandbox.ParseUnknown(unknown); err != nil {
				return usageErr(err)
			}
			if ordersFile != "" {
				if opts.Orders, err = sandbox.ReadOrdersFile(ordersFile); err != nil {
					return usageErr(err)
				}
			}
			opts.Logger = log
			sb, err := sandbox.New(opts)
			if err != nil {
				return usageErr(err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return usageErr(fmt.Errorf("sandbox listen on %s: %w", listen, err))
			}
			log.Info("sandbox listening", zap.String("url", "http://"+ln.Addr().String()+"/openapi"),
				zap.Int("orders", len(opts.Orders)), zap.String("unknown", string(opts.Unknown)),
				zap.Duration("clock_offset", opts.ClockOffset), zap.Int("rate_per_minute", opts.RatePerMinute),
				zap.Int("max_concurrency", opts.MaxConcurrency), zap.Duration("latency", opts.Latency),
				zap.Float64("fail_rate", opts.FailRate), zap.Float64("redirect_rate", opts.RedirectRate),
				zap.Float64("lax_json_rate", opts.LaxJSONRate), zap.Float64("apply_fail_rate", opts.ApplyFailRate),
				zap.Float64("lost_response_rate", opts.LostResponseRate), zap.Int64("seed", opts.Seed))
			return serveUntilDone(cmd.Context(), log, ln, sb, sandboxHTTPOptions())
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8081", "address to serve the sandbox on")
	f.StringVar(&ordersFile, "orders", "", "file of \"NO STATE\" lines (states 10, 20, 30, 37, 40, 80)")
	f.StringVar(&unknown, "unknown", "editing", "what an unlisted number is: editing (cancellable once) or missing")
	f.StringVar(&opts.SID, "sid", sandbox.DefaultSID, "sid the sandbox accepts")
	f.StringVar(&opts.AppKey, "appkey", sandbox.DefaultAppKey, "appkey the sandbox accepts")
	f.StringVar(&opts.AppSecret, "appsecret", sandbox.DefaultAppSecret, "appsecret (secret:salt) the sandbox accepts")
	f.DurationVar(&opts.ClockOffset, "clock-offset", 0, "simulated server clock minus real clock, e.g. 300s")
	f.IntVar(&opts.RatePerMinute, "rate-per-minute", 0, "calls accepted per sliding minute before the vendor's rate-limit answer (0 = no quota)")
	f.DurationVar(&opts.QuotaWindow, "quota-window", time.Minute, "window of --rate-per-minute; shorten only to compress time in demos")
	f.IntVar(&opts.MaxConcurrency, "max-concurrency", 0, "calls in flight at once; a call arriving when all are taken gets the vendor's concurrency-limit answer at once (0 = no quota)")
	f.DurationVar(&opts.Latency, "latency", 0, "delay added to every API call (not to one refused for concurrency)")
	f.Float64Var(&opts.FailRate, "fail-rate", 0, "share of calls answered by a gateway fault before WDT: 502, HTML page, empty body or reset; order untouched")
	f.Float64Var(&opts.RedirectRate, "redirect-rate", 0, "share of calls answered 302 to /_sandbox/elsewhere with the signed query; order untouched")
	f.Float64Var(&opts.LaxJSONRate, "lax-json-rate", 0, "share of calls answered with JSON only a lax parser takes for success ({\"status\":-0}, {\"STATUS\":0}, ...); order untouched")
	f.Float64Var(&opts.ApplyFailRate, "apply-fail-rate", 0, "share of calls applied, then answered with a gateway page, 5xx, empty, cut or status-99 body")
	f.Float64Var(&opts.LostResponseRate, "lost-response-rate", 0, "share of calls applied and then dropped without an answer")
	f.Int64Var(&opts.Seed, "seed", 1, "seed of the fault sequence and of the rate-limit messages' punctuation")
	logs.add(cmd)
	return cmd
}

// serveUntilDone serves h on ln until ctx ends (SIGINT/SIGTERM), then shuts
// down gracefully within 10 s.
func serveUntilDone(ctx context.Context, log *zap.Logger, ln net.Listener, h http.Handler, opts httpserver.Options) error {
	srv := httpserver.New(h, opts)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sandboxHTTPOptions keep idle connections longer than the WDT client's own
// idle timeout, as WDT's servers do: the sandbox must not cut a connection
// just as a call goes out and so invent unknown outcomes.
func sandboxHTTPOptions() httpserver.Options {
	o := httpOptions
	if o.IdleTimeout == 0 {
		o.IdleTimeout = httpserver.SandboxIdleTimeout
	}
	return o
}

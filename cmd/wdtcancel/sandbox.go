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
	"github.com/wdtcancel/wdtcancel/worker/wdt/wdttest"
)

func newSandboxCmd() *cobra.Command {
	var (
		opts                wdttest.Options
		ordersFile, unknown string
		listen              string
		logs                logFlags
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the WDT sandbox: a faithful fake of the open API for tests and trials",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			defer log.Sync()
			if opts.Unknown, err = wdttest.ParseUnknown(unknown); err != nil {
				return usageErr(err)
			}
			if ordersFile != "" {
				if opts.Orders, err = wdttest.ReadOrdersFile(ordersFile); err != nil {
					return usageErr(err)
				}
			}
			opts.Logger = log
			sb, err := wdttest.New(opts)
			if err != nil {
				return usageErr(err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return usageErr(fmt.Errorf("sandbox listen on %s: %w", listen, err))
			}
			log.Info("sandbox listening", zap.String("url", "http://"+ln.Addr().String()+"/openapi"),
				zap.Int("orders", len(opts.Orders)), zap.String("unknown", string(opts.Unknown)),
				zap.Duration("clock_offset", opts.ClockOffset), zap.Float64("fail_rate", opts.FailRate),
				zap.Float64("lost_response_rate", opts.LostResponseRate), zap.Int("rate_per_minute", opts.RatePerMinute))
			return serveUntilDone(cmd.Context(), log, ln, sb)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8081", "address to serve the sandbox on")
	f.StringVar(&ordersFile, "orders", "", "file of \"NO STATE\" lines (states 10, 20, 30, 80)")
	f.StringVar(&unknown, "unknown", "editing", "what an unlisted number is: editing (cancellable once) or missing")
	f.StringVar(&opts.SID, "sid", wdttest.DefaultSID, "sid the sandbox accepts")
	f.StringVar(&opts.AppKey, "appkey", wdttest.DefaultAppKey, "appkey the sandbox accepts")
	f.StringVar(&opts.AppSecret, "appsecret", wdttest.DefaultAppSecret, "appsecret (secret:salt) the sandbox accepts")
	f.DurationVar(&opts.ClockOffset, "clock-offset", 0, "simulated server clock minus real clock, e.g. 300s")
	f.IntVar(&opts.RatePerMinute, "rate-per-minute", 0, "calls accepted per sliding minute before the vendor's rate-limit answer (0 = no quota)")
	f.DurationVar(&opts.QuotaWindow, "quota-window", time.Minute, "window of --rate-per-minute; shorten only to compress time in demos")
	f.IntVar(&opts.MaxConcurrency, "max-concurrency", 0, "calls in flight at once before the vendor's concurrency-limit answer (0 = no quota)")
	f.DurationVar(&opts.Latency, "latency", 0, "delay added to every API call")
	f.Float64Var(&opts.FailRate, "fail-rate", 0, "share of calls answered by a gateway fault: 502, HTML page, empty body or reset")
	f.Float64Var(&opts.LostResponseRate, "lost-response-rate", 0, "share of calls applied and then dropped without an answer")
	f.Int64Var(&opts.Seed, "seed", 1, "seed of the fault sequence")
	logs.add(cmd)
	return cmd
}

// serveUntilDone serves h on ln until ctx ends (SIGINT/SIGTERM), then shuts
// down gracefully within 10 s.
func serveUntilDone(ctx context.Context, log *zap.Logger, ln net.Listener, h http.Handler) error {
	srv := httpserver.New(h, httpOptions)
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

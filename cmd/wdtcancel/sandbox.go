package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/cmd/wdtcancel/internal/sellerconf"
	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/httpserver"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

func newSandboxCmd() *cobra.Command {
	var (
		opts                sandbox.Options
		ordersFile, unknown string
		qimenMatch          string
		sellersFile         string
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
  POST /router/qm                the Qimen route: wdt.wms.stockin.prestockin.search on the same orders
  GET  /_sandbox/qimen/stats     Qimen calls by result

The Qimen route verifies the TOP md5 signature (--qimen-appkey,
--qimen-appsecret, --qimen-target-appkey) and WDT's wdt_sign (--sid,
--appkey, --appsecret), both clocks, and requires a time window (mt_from/mt_to
or ct_from/ct_to); an order cancelled through /openapi answers state 10
there. Its faults (--qimen-outage-rate, --qimen-garbled-rate,
--qimen-stale-rate) draw from a generator of their own seeded by --seed, so
the API's faults replay the same with or without them.

Several sellers: --sellers PATH serves every seller of a sellers file
(docs/sellers.md) on one address, each with its sid, appkey and appsecret
and the settings of its optional sandbox: block (rate_per_minute,
max_concurrency, latency, clock_offset, fail_rate, lost_response_rate,
apply_fail_rate, redirect_rate, lax_json_rate, desync_rate,
extra_answer_rate, unknown, orders, seed). Calls
go to the seller their sid names; an unknown sid is answered "sid is not
exists". The inspection endpoints then take ?seller=NAME; without it, stats
and the order list come by seller, and one order is a 400 (numbers are per
seller). The per-seller flags (--sid ... --seed) are refused beside it.

Faults: each API call draws once from --seed and meets at most one fault, in
this order: --fail-rate, --redirect-rate, --lax-json-rate (in front of WDT:
the order is left alone), --apply-fail-rate, --lost-response-rate (WDT
applies the call, then the answer is garbled or lost), --desync-rate,
--extra-answer-rate (WDT applies the call, then the answers on its
kept-alive connection fall one behind the requests: a 504 first and the real
answer to the next request, or an extra 200 {"status":0} after the real
one). The rates add up to at most 1. The same seed and the same calls give
the same faults.`,
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
			if opts.Qimen.Match, err = sandbox.ParseQimenMatch(qimenMatch); err != nil {
				return usageErr(err)
			}
			if ordersFile != "" {
				if opts.Orders, err = sandbox.ReadOrdersFile(ordersFile); err != nil {
					return usageErr(err)
				}
			}
			if sellersFile != "" {
				return serveSellers(cmd, log, sellersFile, listen, opts.QuotaWindow)
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
				zap.String("qimen_url", "http://"+ln.Addr().String()+sandbox.QimenPath),
				zap.String("qimen_appkey", opts.Qimen.AppKey), zap.String("qimen_target_appkey", opts.Qimen.TargetAppKey),
				zap.String("qimen_match", string(opts.Qimen.Match)), zap.Float64("qimen_outage_rate", opts.Qimen.OutageRate),
				zap.Float64("qimen_garbled_rate", opts.Qimen.GarbledRate), zap.Float64("qimen_stale_rate", opts.Qimen.StaleRate),
				zap.Int("orders", len(opts.Orders)), zap.String("unknown", string(opts.Unknown)),
				zap.Duration("clock_offset", opts.ClockOffset), zap.Int("rate_per_minute", opts.RatePerMinute),
				zap.Int("max_concurrency", opts.MaxConcurrency), zap.Duration("latency", opts.Latency),
				zap.Float64("fail_rate", opts.FailRate), zap.Float64("redirect_rate", opts.RedirectRate),
				zap.Float64("lax_json_rate", opts.LaxJSONRate), zap.Float64("apply_fail_rate", opts.ApplyFailRate),
				zap.Float64("lost_response_rate", opts.LostResponseRate), zap.Float64("desync_rate", opts.DesyncRate),
				zap.Float64("extra_answer_rate", opts.ExtraAnswerRate), zap.Int64("seed", opts.Seed))
			return serveUntilDone(cmd.Context(), log, ln, sb, sandboxHTTPOptions())
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8081", "address to serve the sandbox on")
	f.StringVar(&ordersFile, "orders", "", "file of \"NO STATE\" lines (states 10, 20, 30, 37, 40, 80)")
	f.StringVar(&sellersFile, "sellers", "", "sellers file (YAML, docs/sellers.md): serve each of its sellers, with its sandbox: block; replaces --sid, --appkey, --appsecret and the other per-seller flags")
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
	f.Float64Var(&opts.DesyncRate, "desync-rate", 0, "share of calls applied, answered 504 at once, and whose real answer is written later on the same kept-alive connection, as the reply to the next request on it")
	f.Float64Var(&opts.ExtraAnswerRate, "extra-answer-rate", 0, "share of calls applied and answered, followed by an unsolicited extra 200 {\"status\":0} on the same kept-alive connection")
	f.Int64Var(&opts.Seed, "seed", 1, "seed of the fault sequence and of the rate-limit messages' punctuation")
	f.StringVar(&opts.Qimen.AppKey, "qimen-appkey", sandbox.DefaultQimenAppKey, "Qimen app key the Qimen route accepts")
	f.StringVar(&opts.Qimen.AppSecret, "qimen-appsecret", sandbox.DefaultQimenAppSecret, "Qimen app secret the Qimen route verifies the TOP signature with")
	f.StringVar(&opts.Qimen.TargetAppKey, "qimen-target-appkey", sandbox.DefaultQimenTargetAppKey, "target_app_key the Qimen route accepts")
	f.StringVar(&qimenMatch, "qimen-match", "exact", "how the Qimen search matches stockin_no: exact, or prefix (RK1 finds RK10 too, so lookups page)")
	f.Float64Var(&opts.Qimen.OutageRate, "qimen-outage-rate", 0, "share of Qimen calls met by an outage: 503 page, 502, reset, or a remote-timeout envelope")
	f.Float64Var(&opts.Qimen.GarbledRate, "qimen-garbled-rate", 0, "share of Qimen calls answered with a garbled envelope (HTML, empty, cut, duplicate or string status, trailing text)")
	f.Float64Var(&opts.Qimen.StaleRate, "qimen-stale-rate", 0, "share of Qimen calls answered with a changed order's previous state and modified time")
	logs.add(cmd)
	return cmd
}

// sellerFlags are the sandbox flags that describe one seller. Beside
// --sellers they are refused: each seller's credentials come from the file
// and its orders, quotas and faults from its sandbox: block, and a flag that
// applied to all of them at once would say something else.
var sellerFlags = []string{"sid", "appkey", "appsecret", "orders", "unknown", "clock-offset", "rate-per-minute",
	"max-concurrency", "latency", "fail-rate", "redirect-rate", "lax-json-rate", "apply-fail-rate", "lost-response-rate",
	"desync-rate", "extra-answer-rate", "seed",
	"qimen-appkey", "qimen-appsecret", "qimen-target-appkey", "qimen-match", "qimen-outage-rate", "qimen-garbled-rate", "qimen-stale-rate"}

// serveSellers is `wdtcancel sandbox --sellers PATH`: one sandbox per seller
// of the file behind one address (sandbox.NewMulti). quotaWindow applies to
// every seller: it compresses time for a whole demo.
func serveSellers(cmd *cobra.Command, log *zap.Logger, path, listen string, quotaWindow time.Duration) error {
	var set []string
	for _, name := range sellerFlags {
		if cmd.Flags().Changed(name) {
			set = append(set, fmt.Sprintf("--%s (%s)", name, config.EnvNameFor("sandbox", name)))
		}
	}
	if len(set) > 0 {
		return usageErr(fmt.Errorf("--sellers %s is given and so is %s: with a sellers file, each seller's sid, appkey and appsecret come from the file and its orders, quotas, latency, clock and faults from its sandbox: block; move them there and unset the flags",
			path, strings.Join(set, ", ")))
	}
	opts, err := sandboxSellers(path, os.LookupEnv, quotaWindow, log)
	if err != nil {
		return usageErr(err)
	}
	m, err := sandbox.NewMulti(opts)
	if err != nil {
		return usageErr(fmt.Errorf("sellers file %s: %w", path, err))
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return usageErr(fmt.Errorf("sandbox listen on %s: %w", listen, err))
	}
	for _, o := range opts {
		// What says how the seller behaves; never its appsecret.
		log.Info("sandbox seller", zap.String("seller", o.Name), zap.String("sid", o.SID),
			zap.Int("orders", len(o.Orders)), zap.String("unknown", string(o.Unknown)),
			zap.Duration("clock_offset", o.ClockOffset), zap.Int("rate_per_minute", o.RatePerMinute),
			zap.Int("max_concurrency", o.MaxConcurrency), zap.Duration("latency", o.Latency),
			zap.Float64("fail_rate", o.FailRate), zap.Float64("redirect_rate", o.RedirectRate),
			zap.Float64("lax_json_rate", o.LaxJSONRate), zap.Float64("apply_fail_rate", o.ApplyFailRate),
			zap.Float64("lost_response_rate", o.LostResponseRate), zap.Float64("desync_rate", o.DesyncRate),
			zap.Float64("extra_answer_rate", o.ExtraAnswerRate), zap.Int64("seed", o.Seed))
	}
	log.Info("sandbox listening", zap.String("url", "http://"+ln.Addr().String()+"/openapi"),
		zap.Strings("sellers", m.Sellers()), zap.Duration("quota_window", quotaWindow))
	return serveUntilDone(cmd.Context(), log, ln, m, sandboxHTTPOptions())
}

// sandboxSellers reads a sellers file into one sandbox.Options per seller.
// A seller's orders file, when relative, is found next to the sellers file.
func sandboxSellers(path string, lookupEnv func(string) (string, bool), quotaWindow time.Duration, log *zap.Logger) ([]sandbox.Options, error) {
	// The sandbox has no use for a seller's url, but the file's rules want
	// one; any valid default lets entries without it pass.
	sellers, err := sellerconf.Load(path, lookupEnv, sellerconf.Defaults{URL: wdt.TestURL})
	if err != nil {
		return nil, err
	}
	out := make([]sandbox.Options, 0, len(sellers))
	for _, s := range sellers {
		o := sandbox.Options{Name: s.Name, SID: s.Credentials.SID, AppKey: s.Credentials.AppKey,
			AppSecret: s.Credentials.Secret + ":" + s.Credentials.Salt, QuotaWindow: quotaWindow,
			Unknown: sandbox.UnknownEditing, Logger: log}
		if b := s.Sandbox; b != nil {
			o.RatePerMinute, o.MaxConcurrency = b.RatePerMinute, b.MaxConcurrency
			o.Latency, o.ClockOffset = b.Latency, b.ClockOffset
			o.FailRate, o.RedirectRate, o.LaxJSONRate = b.FailRate, b.RedirectRate, b.LaxJSONRate
			o.ApplyFailRate, o.LostResponseRate, o.Seed = b.ApplyFailRate, b.LostResponseRate, b.Seed
			o.DesyncRate, o.ExtraAnswerRate = b.DesyncRate, b.ExtraAnswerRate
			o.Qimen.OutageRate, o.Qimen.GarbledRate, o.Qimen.StaleRate = b.QimenOutageRate, b.QimenGarbledRate, b.QimenStaleRate
			if o.Qimen.Match, err = sandbox.ParseQimenMatch(b.QimenMatch); err != nil {
				return nil, fmt.Errorf("sellers file %s: seller %q: sandbox: %w", path, s.Name, err)
			}
			if o.Unknown, err = sandbox.ParseUnknown(b.Unknown); err != nil {
				return nil, fmt.Errorf("sellers file %s: seller %q: sandbox: %w", path, s.Name, err)
			}
			if b.RatePerMinute < 0 || b.MaxConcurrency < 0 || b.Latency < 0 {
				return nil, fmt.Errorf("sellers file %s: seller %q: sandbox: rate_per_minute, max_concurrency and latency must be 0 (none) or more", path, s.Name)
			}
			if b.Orders != "" {
				file := b.Orders
				if !filepath.IsAbs(file) {
					file = filepath.Join(filepath.Dir(path), file)
				}
				if o.Orders, err = sandbox.ReadOrdersFile(file); err != nil {
					return nil, fmt.Errorf("sellers file %s: seller %q: sandbox: %w", path, s.Name, err)
				}
			}
		}
		if q := s.Qimen; q != nil {
			// The sandbox accepts the Qimen app the workers are given.
			o.Qimen.AppKey, o.Qimen.AppSecret, o.Qimen.TargetAppKey = q.Credentials.AppKey, q.Credentials.AppSecret, q.Credentials.TargetAppKey
		}
		if err := o.Faults().Validate(); err != nil {
			return nil, fmt.Errorf("sellers file %s: seller %q: %w", path, s.Name, err)
		}
		if err := o.Qimen.Validate(); err != nil {
			return nil, fmt.Errorf("sellers file %s: seller %q: %w", path, s.Name, err)
		}
		out = append(out, o)
	}
	return out, nil
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

// Package demo runs the whole of wdtcancel in one process, for `wdtcancel
// demo`: an embedded Redis, the WDT sandbox with a mix of orders and faults,
// a worker, and a batch enqueued through the real producer path. It then
// reconciles what the worker reports with the sandbox's own ground truth,
// with package reconcile: the check the fault suite and the end-to-end test
// make too.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/httpserver"
	"github.com/wdtcancel/wdtcancel/internal/reconcile"
	"github.com/wdtcancel/wdtcancel/internal/redisserver"
	"github.com/wdtcancel/wdtcancel/internal/redisurl"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// Options configure a demo run.
type Options struct {
	Orders int
	Listen string // worker ops HTTP (asynqmon, metrics)
	// ListenFallback is where the ops HTTP goes if Listen is busy
	// (worker.Config.ListenFallback); "" fails instead.
	ListenFallback string
	SandboxListen  string
	RedisURL       string // "" = embedded miniredis
	Seed           int64
	ExitWhenDone   bool
	Interactive    bool // redraw the progress line in place
	// Progress draws the live line; nil: one on Out, per Interactive. Give
	// the logger Progress.LogWriter so log lines do not tear the line.
	Progress *Progress
	Out      io.Writer
	Logger   *zap.Logger
	// NoLookup runs the worker without the order lookup (the sandbox's
	// Qimen route stays unused), to show the ambiguous dead letters a
	// deployment without Qimen credentials gets.
	NoLookup bool
}

// Kinds of demo orders, by what WDT will say.
const (
	KindEditable  = "editable (20)"
	KindReview    = "awaiting review (30)"
	KindCompleted = "completed (80)"
	KindCancelled = "already cancelled (10)"
	KindUnknown   = "unknown number"
)

// Summary is the end of a demo run: the verdict of reconciling the worker's
// view with the sandbox's ground truth (package reconcile, the same check
// the fault suite and the end-to-end test make), and the run's other figures.
type Summary struct {
	reconcile.Verdict
	Mix              map[string]int
	Retries          int // attempts that used the retry budget
	ClockCorrections int
	RateLimited      int // rate-limit answers from WDT
	SandboxCalls     int // every API call, faults and refusals included
	SandboxByStatus  map[string]int
	SandboxByFault   map[string]int
	Lookup           bool // the worker had the order lookup
	Lookups          int  // Qimen calls the sandbox received
	Elapsed          time.Duration
}

// kindOf spreads the order kinds deterministically: 70% editable, 10%
// awaiting review, 10% completed, 5% already cancelled, 5% unknown.
func kindOf(i int) string {
	switch r := i % 20; {
	case r < 14:
		return KindEditable
	case r < 16:
		return KindReview
	case r < 18:
		return KindCompleted
	case r < 19:
		return KindCancelled
	}
	return KindUnknown
}

var kindState = map[string]int{KindEditable: 20, KindReview: 30, KindCompleted: 80, KindCancelled: 10}

// Run runs the demo until every order is settled and, unless ExitWhenDone,
// then until ctx ends, serving asynqmon and metrics meanwhile.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.Orders <= 0 {
		return nil, errors.New("demo: --orders must be positive")
	}
	o = o.withDefaults()
	start := time.Now()

	// Redis: embedded unless told otherwise.
	redisURL, redisDesc, stopRedis, err := startRedis(o.RedisURL)
	if err != nil {
		return nil, err
	}
	defer stopRedis()
	conn, err := redisurl.Parse(redisURL)
	if err != nil {
		return nil, fmt.Errorf("demo redis: %w", err)
	}

	// The sandbox, with the order mix and faults.
	nos, orders, mix := demoOrders(o.Orders)
	sb, apiURL, stopSandbox, err := startSandbox(o, orders)
	if err != nil {
		return nil, err
	}
	defer stopSandbox()

	w, look, err := startWorker(ctx, o, conn, apiURL)
	if err != nil {
		return nil, err
	}
	defer w.Shutdown()
	printHeader(o, redisDesc, apiURL, w, mix, look)

	if err := enqueueAll(ctx, conn, nos, redisDesc); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "enqueued %d tasks\n", o.Orders)

	insp := asynq.NewInspector(conn)
	defer insp.Close()
	if err := waitSettled(ctx, insp, o, start); err != nil {
		return nil, err
	}
	sum, err := summarize(ctx, nos, orders, mix, insp, w, sb)
	if err != nil {
		return nil, err
	}
	sum.Elapsed = time.Since(start)
	sum.Lookup, sum.Lookups = look != nil, sb.QimenStats().Calls
	printSummary(o.Out, sum)
	if !o.ExitWhenDone {
		fmt.Fprintf(o.Out, "\nasynqmon and metrics stay up at http://%s — press Ctrl-C to exit\n", w.OpsAddr())
		<-ctx.Done()
	}
	return sum, nil
}

// withDefaults is o with its zero fields filled.
func (o Options) withDefaults() Options {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Progress == nil {
		o.Progress = NewProgress(o.Out, o.Interactive)
	}
	return o
}

// startRedis is the Redis at url, or an embedded one when url is empty:
// its URL, how the header names it, and what stops it.
func startRedis(url string) (string, string, func(), error) {
	if url != "" {
		// The banner is printed: never with the password.
		return url, "Redis at " + redisurl.MaskURL(url), func() {}, nil
	}
	r, err := redisserver.Start(redisserver.Options{Embedded: true})
	if err != nil {
		return "", "", nil, err
	}
	return r.URL(), "an embedded Redis (miniredis)", r.Close, nil
}

// demoOrders are the demo's n numbers, the sandbox state of each that has
// one, and how many of each kind.
func demoOrders(n int) (nos []string, orders, mix map[string]int) {
	nos = make([]string, n)
	orders = make(map[string]int)
	mix = make(map[string]int)
	for i := range nos {
		// No '-': asynqmon's ID column shows an ID up to its first '-'
		// (it abbreviates UUIDs that way), so DEMO-00018 would read DEMO.
		nos[i] = fmt.Sprintf("DEMO%05d", i+1)
		k := kindOf(i)
		mix[k]++
		if st, ok := kindState[k]; ok {
			orders[nos[i]] = st
		}
	}
	return nos, orders, mix
}

// startSandbox serves the sandbox with the demo's faults on
// o.SandboxListen; it returns the API URL and what stops it.
func startSandbox(o Options, orders map[string]int) (*sandbox.Sandbox, string, func(), error) {
	sbOpts := sandbox.Options{
		Orders: orders, Unknown: sandbox.UnknownMissing,
		ClockOffset: 200 * time.Second, Latency: 10 * time.Millisecond,
		FailRate: 0.05, LostResponseRate: 0.03, Seed: o.Seed,
		RatePerMinute: 40, QuotaWindow: 5 * time.Second,
	}
	sb, err := sandbox.New(sbOpts)
	if err != nil {
		return nil, "", nil, err
	}
	sbLn, err := net.Listen("tcp", o.SandboxListen)
	if err != nil {
		return nil, "", nil, fmt.Errorf("demo sandbox listen on %s: %w", o.SandboxListen, err)
	}
	sbSrv := httpserver.New(sb, httpserver.Options{IdleTimeout: httpserver.SandboxIdleTimeout})
	go sbSrv.Serve(sbLn)
	return sb, "http://" + sbLn.Addr().String() + "/openapi", func() { sbSrv.Close() }, nil
}

// startWorker starts the worker as `wdtcancel worker` would run it.
// With the order lookup on the sandbox's Qimen route unless NoLookup.
func startWorker(ctx context.Context, o Options, conn asynq.RedisConnOpt, apiURL string) (*worker.Worker, worker.Looker, error) {
	creds, _ := wdt.NewCredentials(sandbox.DefaultSID, sandbox.DefaultAppKey, sandbox.DefaultAppSecret)
	client, err := wdt.New(apiURL, creds)
	if err != nil {
		return nil, nil, err
	}
	look, err := demoLookup(o, qimenURLOf(apiURL), client)
	if err != nil {
		return nil, nil, err
	}
	sellers := worker.SingleSeller(client, 600, 0)
	sellers[0].Lookup = look
	w, err := worker.New(worker.Config{
		Redis: conn, Sellers: sellers, Concurrency: 8, Listen: o.Listen, ListenFallback: o.ListenFallback,
		Handler: worker.HandlerOptions{
			Cooldown: 3 * time.Second, Backoff: worker.Backoff{Base: 200 * time.Millisecond, Cap: 2 * time.Second},
		},
		ShutdownTimeout: 5 * time.Second, Logger: o.Logger,
		// The embedded Redis lives in memory by design; a Redis given
		// with --redis-url is a scratch one for the demo too.
		AllowVolatileRedis: true,
	})
	if err != nil {
		return nil, nil, err
	}
	if err := w.Start(ctx); err != nil {
		w.Close()
		return nil, nil, err
	}
	return w, look, nil
}

// qimenURLOf is the sandbox's Qimen route next to its /openapi.
func qimenURLOf(apiURL string) string {
	return strings.TrimSuffix(apiURL, "/openapi") + sandbox.QimenPath
}

func printHeader(o Options, redisDesc, apiURL string, w *worker.Worker, mix map[string]int, look worker.Looker) {
	fmt.Fprintf(o.Out, "wdtcancel demo: %d return pre-stockin orders on %s\n", o.Orders, redisDesc)
	fmt.Fprintf(o.Out, "  sandbox   %s  (server clock +200s, 5%% gateway faults, 3%% lost responses, quota 40 calls per 5 s)\n", apiURL)
	printLookupLine(o.Out, look, qimenURLOf(apiURL))
	fmt.Fprintf(o.Out, "  asynqmon  http://%s%s/\n", w.OpsAddr(), worker.MonitoringPath)
	fmt.Fprintf(o.Out, "  metrics   http://%s/metrics\n", w.OpsAddr())
	fmt.Fprintf(o.Out, "  orders    %s\n", formatMix(mix))
	fmt.Fprintf(o.Out, "  redis     not checked for durability (--allow-volatile-redis): the demo's data may live in memory only; production refuses such a Redis\n")
}

// enqueueAll enqueues every number through the real producer path.
func enqueueAll(ctx context.Context, conn asynq.RedisConnOpt, nos []string, redisDesc string) error {
	prod, err := enqueue.New(conn, enqueue.WithSource("demo"), enqueue.WithAllowVolatileRedis())
	if err != nil {
		return err
	}
	defer prod.Close()
	res, err := prod.CancelSlice(ctx, nos, enqueue.ManyOptions{})
	if err != nil {
		return fmt.Errorf("demo enqueue: %w", err)
	}
	return shortfall(enqueue.Summarize(res, false), len(nos), redisDesc)
}

// shortfall says why not all n demo numbers were enqueued, and what to do
// (nil when all were). The demo's numbers are fixed (DEMO00001...), so a
// Redis that ran the demo before holds them already: its tasks are
// duplicates and the demo cannot reconcile.
func shortfall(s enqueue.Summary, n int, redisDesc string) error {
	if s.Enqueued == n {
		return nil
	}
	if s.Duplicate > 0 {
		return fmt.Errorf("demo enqueue: %d of the %d demo numbers (DEMO00001...) are already queued or done in %s, from an earlier demo: run it on an empty Redis (leave --redis-url out for the embedded one, or use another database, redis://host:port/N, or FLUSHDB a scratch one)", s.Duplicate, n, redisDesc)
	}
	var first string
	for _, it := range s.Items {
		if it.Result != enqueue.Enqueued && it.Error != "" {
			first = ": first error: " + it.PreStockinNo + ": " + it.Error
			break
		}
	}
	return fmt.Errorf("demo enqueue: %d of %d numbers enqueued (%d failed, %d unknown, %d invalid) in %s%s: check that Redis answers and accepts writes, then run the demo again", s.Enqueued, n, s.Failed, s.Unknown, s.Invalid, redisDesc, first)
}

// waitSettled shows live progress until no task is pending, active or
// waiting for a retry.
func waitSettled(ctx context.Context, insp *asynq.Inspector, o Options, start time.Time) error {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		q, err := insp.GetQueueInfo(tasks.DefaultQueue)
		if err == nil {
			o.Progress.Draw(fmt.Sprintf("[%5.1fs] queued %d  in flight %d  waiting to retry %d  %s %d  %s %d",
				time.Since(start).Seconds(), q.Pending, q.Active, q.Retry+q.Scheduled, wordCancelled, q.Completed, wordDead, q.Archived))
			if q.Pending+q.Active+q.Retry+q.Scheduled == 0 && q.Archived+q.Completed >= o.Orders {
				o.Progress.End()
				return nil
			}
		}
		select {
		case <-ctx.Done():
			o.Progress.End()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func summarize(ctx context.Context, nos []string, orders, mix map[string]int, insp *asynq.Inspector, w *worker.Worker, sb *sandbox.Sandbox) (*Summary, error) {
	st := sb.Stats()
	s := &Summary{
		Mix:              mix,
		ClockCorrections: int(counterValue(w.Seller("default").Metrics().ClockResyncs)),
		RateLimited:      int(counterValue(w.Seller("default").Metrics().Calls.WithLabelValues(string(wdt.RateLimited)))),
		SandboxCalls:     st.Calls, SandboxByStatus: st.ByStatus, SandboxByFault: st.ByFault,
	}
	recs, err := w.Seller("default").DLQ().List(ctx)
	if err != nil {
		return nil, err
	}
	dead := make(map[string]reconcile.DeadLetter, len(recs))
	for _, r := range recs {
		dl := reconcile.DeadLetter{PreStockinNo: r.PreStockinNo, Category: r.Category, Ambiguous: r.Ambiguous}
		if r.LookedUp != nil {
			b, _ := json.Marshal(r.LookedUp)
			raw := json.RawMessage(b)
			dl.LookedUp = &raw
		}
		dead[r.PreStockinNo] = dl
		s.Retries += r.Attempts - 1
	}
	numbers := make(map[string]reconcile.Number, len(nos))
	for _, no := range nos {
		var task *asynq.TaskInfo
		if info, err := insp.GetTaskInfo(tasks.DefaultQueue, no); err == nil {
			task = info
		}
		var rec *reconcile.DeadLetter
		if r, ok := dead[no]; ok {
			rec = &r
		}
		n := reconcile.NumberOf(task, rec)
		if n.Fate == reconcile.Done {
			s.Retries += task.Retried
		}
		numbers[no] = n
	}
	s.Verdict = reconcile.Check(reconcile.Input{
		Nos: nos, Initial: orders, UnknownMissing: true, Orders: reconcileOrders(sb.Orders()), Numbers: numbers,
	})
	return s, nil
}

// reconcileOrders is the sandbox's view as reconcile takes it: the same
// fields, as plain values.
func reconcileOrders(list []sandbox.Order) []reconcile.Order {
	out := make([]reconcile.Order, len(list))
	for i, o := range list {
		out[i] = reconcile.Order(o)
	}
	return out
}

func formatMix(mix map[string]int) string {
	var parts []string
	for _, k := range []string{KindEditable, KindReview, KindCompleted, KindCancelled, KindUnknown} {
		parts = append(parts, fmt.Sprintf("%d %s", mix[k], k))
	}
	return strings.Join(parts, ", ")
}

// formatCounts prints counts by name, sorted: "0:122 100:36 7:1".
func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func printSummary(w io.Writer, s *Summary) {
	line := func(label string, n int) { fmt.Fprintf(w, "  %-46s %6d\n", label, n) }
	fmt.Fprintf(w, "\nsummary after %s\n", s.Elapsed.Round(100*time.Millisecond))
	line("orders", s.Orders)
	if !s.Lookup {
		line(wordCancelled+" (WDT answered 0)", s.Done)
	} else {
		line(wordCancelled+" (WDT answered 0), or found cancelled", s.Done)
		line("  of which already cancelled before the task (looked up)", s.AlreadyCancelled)
	}
	for _, c := range s.Categories() {
		line(wordDead+" "+string(c), s.DeadBy[c])
	}
	line("  of which ambiguous (outcome unknown earlier)", s.Ambiguous)
	line("    and in fact cancelled at the sandbox", s.AmbiguousCancelled)
	if s.Lost+s.Unsettled > 0 {
		line("neither "+wordCancelled+" nor "+wordDead, s.Lost+s.Unsettled)
	}
	line("retries (network, unknown outcome)", s.Retries)
	line("rate-limit answers (no retry used)", s.RateLimited)
	line("clock corrections", s.ClockCorrections)
	if s.Lookup {
		line("order lookups (Qimen route)", s.Lookups)
	}
	fmt.Fprintln(w, "sandbox ground truth")
	line("API calls (faults and refusals included)", s.SandboxCalls)
	line("calls that reached an order", s.Calls)
	line("orders called more than once", s.CalledMoreThanOnce)
	line("orders whose answer was lost or garbled", s.LostOrGarbled)
	line("orders cancelled by wdtcancel's calls", s.CancelledAtSandbox)
	fmt.Fprintf(w, "  %-22s %s\n", "answers by status", formatCounts(s.SandboxByStatus))
	fmt.Fprintf(w, "  %-22s %s\n", "faults", formatCounts(s.SandboxByFault))
	if !s.OK() {
		fmt.Fprintf(w, "MISMATCH between wdtcancel and the sandbox (%d):\n", len(s.Problems))
		for _, p := range s.Problems {
			fmt.Fprintln(w, "  "+p.String())
		}
		return
	}
	fmt.Fprintf(w, "reconciled: every order settled and filed as the sandbox saw it; the sandbox's %d cancellations = %d confirmed + %d ambiguous\n",
		s.CancelledAtSandbox, s.Done-s.AlreadyCancelled, s.AmbiguousCancelled)
	if s.NotCancelled > 0 {
		fmt.Fprintf(w, "given up without a definite answer (exhausted), still editable at the sandbox: %d; re-drive with `wdtcancel dlq requeue --all`\n", s.NotCancelled)
	}
}

// counterValue reads a counter the worker exports (prometheus's testutil
// does the same, but would link a test kit into the binary).
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// demoLookup is the worker's order lookup on the sandbox's Qimen route,
// with the sandbox's default Qimen app, as `wdtcancel worker --qimen-*`
// would build it; nil with NoLookup.
func demoLookup(o Options, url string, api *wdt.Client) (worker.Looker, error) {
	if o.NoLookup {
		return nil, nil
	}
	c, err := qimen.New(qimen.Config{URL: url, WDT: api.Credentials(), Clock: api.Clock(), HTTP: wdt.NewHTTPClient(),
		Qimen: qimen.Credentials{AppKey: sandbox.DefaultQimenAppKey, AppSecret: sandbox.DefaultQimenAppSecret, TargetAppKey: sandbox.DefaultQimenTargetAppKey}})
	if err != nil {
		return nil, fmt.Errorf("demo lookup: %w", err)
	}
	return c, nil
}

func printLookupLine(out io.Writer, look worker.Looker, qimenURL string) {
	if look == nil {
		fmt.Fprintf(out, "  lookup    off (--no-lookup): doubtful outcomes are dead-lettered ambiguous\n")
		return
	}
	fmt.Fprintf(out, "  lookup    %s  (the Qimen route: doubtful outcomes are settled by the order's state)\n", qimenURL)
}

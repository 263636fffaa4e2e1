// Package demo runs the whole of wdtcancel in one process, for `wdtcancel
// demo`: an embedded Redis, the WDT sandbox with a mix of orders and faults,
// a worker, and a batch enqueued through the real producer path. It then
// reconciles what the worker reports with the sandbox's own ground truth.
package demo

import (
	"context"
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
	"github.com/wdtcancel/wdtcancel/internal/redisserver"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// Options configure a demo run.
type Options struct {
	Orders        int
	Listen        string // worker ops HTTP (asynqmon, metrics)
	SandboxListen string
	RedisURL      string // "" = embedded miniredis
	Seed          int64
	ExitWhenDone  bool
	Interactive   bool // redraw the progress line in place
	Out           io.Writer
	Logger        *zap.Logger
}

// Kinds of demo orders, by what WDT will say.
const (
	KindEditable  = "editable (20)"
	KindReview    = "awaiting review (30)"
	KindCompleted = "completed (80)"
	KindCancelled = "already cancelled (10)"
	KindUnknown   = "unknown number"
)

// Summary is the end of a demo run: the worker's view and the sandbox's.
type Summary struct {
	Orders    int
	Mix       map[string]int
	Cancelled int // tasks done
	Dead      map[wdt.Category]int
	Ambiguous int
	// AmbiguousCancelled are ambiguous dead letters whose order the sandbox
	// did cancel (by the attempt whose response was lost).
	AmbiguousCancelled int
	Retries            int // attempts that used the retry budget
	ClockCorrections   int
	RateLimited        int // rate-limit answers from WDT
	SandboxCancelled   int // orders the sandbox moved to state 10
	SandboxCalls       int
	SandboxByStatus    map[string]int
	SandboxByFault     map[string]int
	Elapsed            time.Duration
	Problems           []string // disagreements between the two views
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
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	start := time.Now()

	// Redis: embedded unless told otherwise.
	redisURL, redisDesc := o.RedisURL, "Redis at "+o.RedisURL
	if redisURL == "" {
		r, err := redisserver.Start(redisserver.Options{Embedded: true})
		if err != nil {
			return nil, err
		}
		defer r.Close()
		redisURL, redisDesc = r.URL(), "an embedded Redis (miniredis)"
	}
	conn, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		return nil, fmt.Errorf("demo redis: %w", err)
	}

	// The sandbox, with the order mix and faults.
	nos := make([]string, o.Orders)
	orders := make(map[string]int)
	mix := make(map[string]int)
	for i := range nos {
		nos[i] = fmt.Sprintf("DEMO-%05d", i+1)
		k := kindOf(i)
		mix[k]++
		if st, ok := kindState[k]; ok {
			orders[nos[i]] = st
		}
	}
	sbOpts := sandbox.Options{
		Orders: orders, Unknown: sandbox.UnknownMissing,
		ClockOffset: 200 * time.Second, Latency: 10 * time.Millisecond,
		FailRate: 0.05, LostResponseRate: 0.03, Seed: o.Seed,
		RatePerMinute: 40, QuotaWindow: 5 * time.Second,
	}
	sb, err := sandbox.New(sbOpts)
	if err != nil {
		return nil, err
	}
	sbLn, err := net.Listen("tcp", o.SandboxListen)
	if err != nil {
		return nil, fmt.Errorf("demo sandbox listen on %s: %w", o.SandboxListen, err)
	}
	sbSrv := httpserver.New(sb, httpserver.Options{IdleTimeout: httpserver.SandboxIdleTimeout})
	go sbSrv.Serve(sbLn)
	defer sbSrv.Close()
	apiURL := "http://" + sbLn.Addr().String() + "/openapi"

	// The worker, as `wdtcancel worker` would run it.
	creds, _ := wdt.NewCredentials(sandbox.DefaultSID, sandbox.DefaultAppKey, sandbox.DefaultAppSecret)
	client, err := wdt.New(apiURL, creds)
	if err != nil {
		return nil, err
	}
	w, err := worker.New(worker.Config{
		Redis: conn, API: client, Concurrency: 8, RatePerMinute: 600, Listen: o.Listen,
		Handler: worker.HandlerOptions{
			Cooldown: 3 * time.Second, Backoff: worker.Backoff{Base: 200 * time.Millisecond, Cap: 2 * time.Second},
		},
		ShutdownTimeout: 5 * time.Second, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	if err := w.Start(ctx); err != nil {
		w.Close()
		return nil, err
	}
	defer w.Shutdown()

	fmt.Fprintf(o.Out, "wdtcancel demo: %d return pre-stockin orders on %s\n", o.Orders, redisDesc)
	fmt.Fprintf(o.Out, "  sandbox   %s  (server clock +200s, 5%% gateway faults, 3%% lost responses, quota 40 calls per 5 s)\n", apiURL)
	fmt.Fprintf(o.Out, "  asynqmon  http://%s%s/\n", w.OpsAddr(), worker.MonitoringPath)
	fmt.Fprintf(o.Out, "  metrics   http://%s/metrics\n", w.OpsAddr())
	fmt.Fprintf(o.Out, "  orders    %s\n", formatMix(mix))

	// Enqueue through the real producer path.
	prod, err := enqueue.New(conn, enqueue.WithSource("demo"))
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	res, err := prod.CancelSlice(ctx, nos, enqueue.ManyOptions{})
	if err != nil {
		return nil, fmt.Errorf("demo enqueue: %w", err)
	}
	if s := enqueue.Summarize(res, false); s.Enqueued != o.Orders {
		return nil, fmt.Errorf("demo enqueue: %+v", s)
	}
	fmt.Fprintf(o.Out, "enqueued %d tasks\n", o.Orders)

	insp := asynq.NewInspector(conn)
	defer insp.Close()
	if err := waitSettled(ctx, insp, o, start); err != nil {
		return nil, err
	}
	sum, err := summarize(ctx, o, mix, nos, insp, w, sb)
	if err != nil {
		return nil, err
	}
	sum.Elapsed = time.Since(start)
	printSummary(o.Out, sum)
	if !o.ExitWhenDone {
		fmt.Fprintf(o.Out, "\nasynqmon and metrics stay up at http://%s — press Ctrl-C to exit\n", w.OpsAddr())
		<-ctx.Done()
	}
	return sum, nil
}

// waitSettled shows live progress until no task is pending, active or
// waiting for a retry.
func waitSettled(ctx context.Context, insp *asynq.Inspector, o Options, start time.Time) error {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		q, err := insp.GetQueueInfo(tasks.DefaultQueue)
		if err == nil {
			line := fmt.Sprintf("[%5.1fs] pending %d  active %d  retry %d  dead %d  done %d",
				time.Since(start).Seconds(), q.Pending, q.Active, q.Retry+q.Scheduled, q.Archived, q.Completed)
			if o.Interactive {
				fmt.Fprintf(o.Out, "\r%-80s", line)
			} else {
				fmt.Fprintln(o.Out, line)
			}
			if q.Pending+q.Active+q.Retry+q.Scheduled == 0 && q.Archived+q.Completed >= o.Orders {
				if o.Interactive {
					fmt.Fprintln(o.Out)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if o.Interactive {
				fmt.Fprintln(o.Out)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func summarize(ctx context.Context, o Options, mix map[string]int, nos []string, insp *asynq.Inspector, w *worker.Worker, sb *sandbox.Sandbox) (*Summary, error) {
	st := sb.Stats()
	s := &Summary{
		Orders: o.Orders, Mix: mix, Dead: map[wdt.Category]int{},
		ClockCorrections: int(counterValue(w.Metrics().ClockResyncs)),
		RateLimited:      int(counterValue(w.Metrics().Calls.WithLabelValues(string(wdt.RateLimited)))),
		SandboxCancelled: st.Cancellations, SandboxCalls: st.Calls,
		SandboxByStatus: st.ByStatus, SandboxByFault: st.ByFault,
	}
	recs, err := w.DLQ().List(ctx)
	if err != nil {
		return nil, err
	}
	dead := make(map[string]worker.Record, len(recs))
	for _, r := range recs {
		dead[r.PreStockinNo] = r
		s.Dead[r.Category]++
		s.Retries += r.Attempts - 1
		if r.Ambiguous {
			s.Ambiguous++
		}
	}
	confirmedAmbiguous := 0
	for i, no := range nos {
		kind := kindOf(i)
		order, _ := sb.Order(no)
		rec, isDead := dead[no]
		info, err := insp.GetTaskInfo(tasks.DefaultQueue, no)
		done := err == nil && info.State == asynq.TaskStateCompleted
		if done {
			s.Cancelled++
			s.Retries += info.Retried
		}
		switch {
		case !done && !isDead:
			s.Problems = append(s.Problems, no+": neither done nor dead-lettered")
		case kind == KindEditable || kind == KindReview:
			if order.Status != sandbox.StateCancelled {
				s.Problems = append(s.Problems, fmt.Sprintf("%s: editable order is in state %d at the sandbox", no, order.Status))
			}
			if isDead && !(rec.Category == wdt.Rejected && rec.Ambiguous) && rec.Category != wdt.Exhausted {
				s.Problems = append(s.Problems, fmt.Sprintf("%s: cancelled at the sandbox but dead-lettered %s without the ambiguous flag", no, rec.Category))
			}
			if isDead && rec.Ambiguous {
				confirmedAmbiguous++
			}
		default:
			if done {
				s.Problems = append(s.Problems, fmt.Sprintf("%s: %s order reported cancelled", no, kind))
			}
		}
	}
	s.AmbiguousCancelled = confirmedAmbiguous
	if want := s.Cancelled + confirmedAmbiguous; s.SandboxCancelled != want {
		s.Problems = append(s.Problems, fmt.Sprintf("sandbox cancelled %d orders, worker accounts for %d", s.SandboxCancelled, want))
	}
	return s, nil
}

func formatMix(mix map[string]int) string {
	var parts []string
	for _, k := range []string{KindEditable, KindReview, KindCompleted, KindCancelled, KindUnknown} {
		parts = append(parts, fmt.Sprintf("%d %s", mix[k], k))
	}
	return strings.Join(parts, ", ")
}

func printSummary(w io.Writer, s *Summary) {
	fmt.Fprintf(w, "\nsummary after %s\n", s.Elapsed.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  %-44s %6d\n", "orders", s.Orders)
	fmt.Fprintf(w, "  %-44s %6d\n", "cancelled (WDT answered 0)", s.Cancelled)
	cats := make([]string, 0, len(s.Dead))
	for c := range s.Dead {
		cats = append(cats, string(c))
	}
	sort.Strings(cats)
	for _, c := range cats {
		fmt.Fprintf(w, "  %-44s %6d\n", "dead-lettered "+c, s.Dead[wdt.Category(c)])
	}
	fmt.Fprintf(w, "  %-44s %6d\n", "  of which ambiguous (response lost earlier)", s.Ambiguous)
	fmt.Fprintf(w, "  %-44s %6d\n", "    and in fact cancelled at the sandbox", s.AmbiguousCancelled)
	fmt.Fprintf(w, "  %-44s %6d\n", "retries (network, unknown outcome)", s.Retries)
	fmt.Fprintf(w, "  %-44s %6d\n", "rate-limit answers (no retry used)", s.RateLimited)
	fmt.Fprintf(w, "  %-44s %6d\n", "clock corrections", s.ClockCorrections)
	fmt.Fprintf(w, "sandbox ground truth: %d calls, %d orders moved to cancelled, answers %v, faults %v\n",
		s.SandboxCalls, s.SandboxCancelled, s.SandboxByStatus, s.SandboxByFault)
	if len(s.Problems) == 0 {
		fmt.Fprintf(w, "reconciled: every order settled; the sandbox's %d cancellations = %d confirmed + %d ambiguous\n", s.SandboxCancelled, s.Cancelled, s.AmbiguousCancelled)
		return
	}
	fmt.Fprintf(w, "MISMATCH between worker and sandbox (%d):\n", len(s.Problems))
	for _, p := range s.Problems {
		fmt.Fprintln(w, "  "+p)
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

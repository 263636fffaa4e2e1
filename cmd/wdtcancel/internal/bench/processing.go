package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// processingKinds are the processing phase's variants, in the order of
// even rounds (odd rounds run them in reverse).
var processingKinds = []string{"noop", "peer", "peer_result", "peer_safe", "wdtcancel"}

// processing compares, in alternating rounds on the same Redis, five
// handlers at the same concurrency and check interval, each in its own
// process against a sandbox in a process of its own: a no-op asynq handler;
// the hand-rolled peer (decode, sign, POST to the sandbox); the peer plus a
// task result write; the peer with wdtcancel's two crash-safety writes; and
// `wdtcancel worker`. Each variant's rate is taken over a window of at
// least RoundTime with its queue never empty (window.go), counted at the
// sandbox (calls) or in Redis (the no-op's tasks taken), never inside the
// variant. Round 0 is a warm-up and is discarded; the ratios are medians of
// per-round ratios, with min and max.
func (r *runner) processing(ctx context.Context) error {
	if r.o.Command == nil || r.o.WorkerCommand == nil {
		r.res.Notes = append(r.res.Notes, "processing: skipped, no command to start the sandbox, the peers and the worker as processes")
		return nil
	}
	p := &r.res.Processing
	*p = Processing{Tasks: r.o.Tasks, Concurrency: r.o.Concurrency, Rounds: r.o.Rounds, WarmupRounds: 1, ReuseConnections: r.o.ReuseConnections,
		RoundSeconds: r.o.RoundTime.Seconds(), LeadInSeconds: leadInFor(r.o.RoundTime).Seconds(), SeparateProcesses: true}
	est := map[string]float64{}
	rates := map[string][]float64{}
	var peerRatios, procRatios, resultRatios, safeRatios, overSafeRatios []float64
	for round := 0; round <= r.o.Rounds; round++ {
		got, err := r.processingRound(ctx, round, est)
		if err != nil {
			return err
		}
		if round == 0 {
			continue
		}
		p.noteWindows(got)
		for _, k := range processingKinds {
			rates[k] = append(rates[k], round2(got[k].Rate))
		}
		rate := func(k string) float64 { return got[k].Rate }
		peerRatios = append(peerRatios, rate("wdtcancel")/rate("peer"))
		procRatios = append(procRatios, rate("wdtcancel")/rate("noop"))
		resultRatios = append(resultRatios, rate("peer_result")/rate("peer"))
		safeRatios = append(safeRatios, rate("peer_safe")/rate("peer"))
		overSafeRatios = append(overSafeRatios, rate("wdtcancel")/rate("peer_safe"))
	}
	p.NoopPerSec, p.PeerPerSec, p.PeerResultPerSec, p.RealPerSec = rates["noop"], rates["peer"], rates["peer_result"], rates["wdtcancel"]
	p.PeerSafePerSec = rates["peer_safe"]
	p.SafeFloorRatio, p.SafeFloorRatioMin, p.SafeFloorRatioMax = spread(safeRatios)
	r.res.SafePeerRatio, r.res.SafePeerRatioMin, r.res.SafePeerRatioMax = spread(overSafeRatios)
	p.BaselinePerSec, p.RealMedianPerSec = round(median(rates["noop"])), round(median(rates["wdtcancel"]))
	p.PeerMedianPerSec = round(median(rates["peer"]))
	r.res.PeerRatio, r.res.PeerRatioMin, r.res.PeerRatioMax = spread(peerRatios)
	r.res.ProcessingRatio, r.res.ProcessingRatioMin, r.res.ProcessingRatioMax = spread(procRatios)
	p.ResultWriteRatio, p.ResultWriteRatioMin, p.ResultWriteRatioMax = spread(resultRatios)
	return nil
}

// noteWindows widens the phase's record of window lengths and calls per
// window with one measured round.
func (p *Processing) noteWindows(got map[string]window) {
	for _, w := range got {
		secs := round(w.Seconds)
		if p.WindowSecondsMin == 0 || secs < p.WindowSecondsMin {
			p.WindowSecondsMin = secs
		}
		p.WindowSecondsMax = max(p.WindowSecondsMax, secs)
		if p.CallsPerWindowMin == 0 || w.Calls < p.CallsPerWindowMin {
			p.CallsPerWindowMin = w.Calls
		}
	}
}

// processingRound runs every variant once, in this round's order, and
// prints the round.
func (r *runner) processingRound(ctx context.Context, round int, est map[string]float64) (map[string]window, error) {
	order := append([]string(nil), processingKinds...)
	if round%2 == 1 {
		for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
			order[i], order[j] = order[j], order[i]
		}
	}
	got := map[string]window{}
	for _, k := range order {
		w, err := r.processingVariant(ctx, k, round, est)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		got[k] = w
	}
	lo, hi := got[order[0]].Seconds, got[order[0]].Seconds
	for _, w := range got {
		lo, hi = min(lo, w.Seconds), max(hi, w.Seconds)
	}
	fmt.Fprintf(r.o.Out, "bench:   round %d%s: no-op %.0f/s, peer %.0f/s, peer+result %.0f/s, peer+mark+result %.0f/s, wdtcancel %.0f/s (windows %.2f-%.2f s)\n", round,
		map[bool]string{true: " (warm-up, discarded)"}[round == 0], got["noop"].Rate, got["peer"].Rate, got["peer_result"].Rate, got["peer_safe"].Rate, got["wdtcancel"].Rate, lo, hi)
	return got, nil
}

// processingVariant measures one variant in one round: with a backlog
// sized on its last rate, again with a larger one if its queue ran dry
// before the window closed.
func (r *runner) processingVariant(ctx context.Context, kind string, round int, est map[string]float64) (window, error) {
	length := r.o.RoundTime
	leadIn := leadInFor(length)
	// A variant never measured starts with --tasks; if that runs dry, its
	// rate until then sizes the next attempt.
	backlog := backlogFor(est[kind], leadIn, length, r.o.Tasks)
	for attempt := 1; ; attempt++ {
		w, err := r.processingRun(ctx, kind, round, attempt, backlog)
		if err != nil {
			return w, err
		}
		if !w.Dry {
			est[kind] = max(est[kind], w.Rate)
			return w, nil
		}
		if attempt == processingAttempts {
			return w, fmt.Errorf("its queue ran dry before the window closed %d times, the last with %d tasks; give a larger --tasks", attempt, backlog)
		}
		est[kind] = max(est[kind], w.SeenRate)
		next := grownBacklog(backlog, w.SeenRate, leadIn, length)
		fmt.Fprintf(r.o.Out, "bench:   %s ran through %d tasks (%.0f/s) before its window closed; again with %d\n", kind, backlog, w.SeenRate, next)
		backlog = next
	}
}

// processingRun is one run: a fresh queue of backlog tasks, a fresh
// sandbox process (so every run meets an empty one), the variant's
// process, one window; then everything is stopped and the queue deleted.
func (r *runner) processingRun(ctx context.Context, kind string, round, attempt, backlog int) (window, error) {
	q := r.queue(fmt.Sprintf("proc-%s-%d-%d", kind, round, attempt))
	defer r.drop(q)
	if err := r.fill(ctx, q, "P", backlog); err != nil {
		return window{}, err
	}
	pending := counter(func(ctx context.Context) (int64, error) { return r.rdb.LLen(ctx, store.AsynqPendingKey(q)).Result() })
	// The no-op calls nothing: its count is the tasks taken from the
	// queue, which is its completions to within the tasks in flight (at
	// most --concurrency, about as many at both ends of the window).
	calls := counter(func(ctx context.Context) (int64, error) {
		n, err := pending(ctx)
		return int64(backlog) - n, err
	})
	var ex exits
	apiURL := ""
	if kind != "noop" {
		sb, err := r.startSandbox(ctx)
		if err != nil {
			return window{}, err
		}
		defer sb.stop()
		calls, ex.sandbox, apiURL = sb.calls, sb.exited, sb.apiURL()
	}
	stop, exited, err := r.startVariant(kind, q, apiURL, round)
	if err != nil {
		return window{}, err
	}
	defer stop()
	ex.variant = exited
	w, err := measure(ctx, calls, pending, ex, leadInFor(r.o.RoundTime), r.o.RoundTime)
	w.Backlog = backlog
	return w, err
}

// startVariant starts the variant's process on queue q: `wdtcancel worker`
// for wdtcancel (at info, a production worker's level, its log counted and
// discarded; with --cpuprofile, profiled for its whole run in the last
// round), `wdtcancel bench --child KIND` for the others.
func (r *runner) startVariant(kind, q, apiURL string, round int) (stop func(), exited <-chan error, err error) {
	env := []string{r.redisEnv(), "WDT_URL=" + apiURL}
	if kind != "wdtcancel" {
		c, err := r.startChild(kind, []string{"bench", "--child", kind, "--child-queue", q, "--concurrency", strconv.Itoa(r.o.Concurrency)}, env)
		if err != nil {
			return nil, nil, err
		}
		return c.stop, c.exited, nil
	}
	env = append(env, "WDT_SID="+sandbox.DefaultSID, "WDT_APPKEY="+sandbox.DefaultAppKey, "WDT_APPSECRET="+sandbox.DefaultAppSecret)
	args := []string{"--queue", q}
	if r.embedded {
		// The worker refuses a Redis that keeps nothing across a crash;
		// the bench's own miniredis is one, and its figures are marked
		// as not representative anyway.
		args = append(args, "--allow-volatile-redis")
	}
	if r.o.ReuseConnections {
		args = append(args, "--reuse-connections")
	}
	if r.o.GroupCommitMax > 0 {
		args = append(args, "--group-commit-max", strconv.Itoa(r.o.GroupCommitMax))
	}
	if r.o.GroupCommitLinger > 0 {
		args = append(args, "--group-commit-linger", r.o.GroupCommitLinger.String())
	}
	if r.o.CPUProfile != "" && round == r.o.Rounds {
		r.firstWorkerArgs = []string{"--cpuprofile", r.o.CPUProfile}
		defer func() { r.firstWorkerArgs = nil }()
	}
	var logs atomic.Int64
	pool, err := r.startWorkersLogging(1, args, env, "info", &logs)
	if err != nil {
		return nil, nil, err
	}
	return pool.stop, pool.exited, nil
}

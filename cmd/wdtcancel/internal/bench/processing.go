package bench

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// processing compares, in alternating rounds on the same Redis, four
// handlers over the same N tasks at the same concurrency and check interval:
// a no-op asynq handler; the hand-rolled peer (decode, sign, POST to the
// sandbox); the peer plus a task result write; and wdtcancel's worker. Each
// variant's rate is measured from its first to its last call (handler call
// for the no-op), so server start and stop are not in it. Round 0 is a
// warm-up and is discarded; the ratios are medians of per-round ratios,
// with min and max.
func (r *runner) processing(ctx context.Context) error {
	n, c := r.o.Tasks, r.o.Concurrency
	p := &r.res.Processing
	*p = Processing{Tasks: n, Concurrency: c, Rounds: r.o.Rounds, WarmupRounds: 1, ReuseConnections: r.o.ReuseConnections}
	kinds := []string{"noop", "peer", "peer_result", "peer_safe", "wdtcancel"}
	rates := map[string][]float64{}
	var peerRatios, procRatios, resultRatios, safeRatios, overSafeRatios []float64
	for round := 0; round <= r.o.Rounds; round++ {
		order := append([]string(nil), kinds...)
		if round%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		got := map[string]float64{}
		for _, k := range order {
			v, err := r.variant(ctx, k, round, n, c)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			got[k] = v
		}
		fmt.Fprintf(r.o.Out, "bench:   round %d%s: no-op %.0f/s, peer %.0f/s, peer+result %.0f/s, peer+mark+result %.0f/s, wdtcancel %.0f/s\n", round,
			map[bool]string{true: " (warm-up, discarded)"}[round == 0], got["noop"], got["peer"], got["peer_result"], got["peer_safe"], got["wdtcancel"])
		if round == 0 {
			continue
		}
		for _, k := range kinds {
			rates[k] = append(rates[k], round2(got[k]))
		}
		peerRatios = append(peerRatios, got["wdtcancel"]/got["peer"])
		procRatios = append(procRatios, got["wdtcancel"]/got["noop"])
		resultRatios = append(resultRatios, got["peer_result"]/got["peer"])
		safeRatios = append(safeRatios, got["peer_safe"]/got["peer"])
		overSafeRatios = append(overSafeRatios, got["wdtcancel"]/got["peer_safe"])
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

// variant runs n tasks through one kind of handler on a fresh queue and
// returns its rate, then deletes the queue.
func (r *runner) variant(ctx context.Context, kind string, round, n, c int) (float64, error) {
	q := r.queue(fmt.Sprintf("proc-%s-%d", kind, round))
	defer r.drop(q)
	if err := r.fill(ctx, q, "P", n); err != nil {
		return 0, err
	}
	if r.o.CPUProfile != "" && kind == "wdtcancel" && round == r.o.Rounds {
		f, err := os.Create(r.o.CPUProfile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	return r.variantOn(ctx, kind, q, n, c)
}

// variantOn runs the n tasks already in queue q through one kind of
// handler and returns its rate.
func (r *runner) variantOn(ctx context.Context, kind, q string, n, c int) (float64, error) {
	var sp span
	sp.init(n)
	if kind == "noop" {
		srv := asynq.NewServerFromRedisClient(r.rdb, asynq.Config{
			Concurrency: c, Queues: map[string]int{q: 1},
			TaskCheckInterval: worker.DefaultTaskCheckInterval, LogLevel: asynq.FatalLevel,
		})
		if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { sp.tick(); return nil })); err != nil {
			return 0, err
		}
		err := wait(ctx, sp.done, 10*time.Minute)
		srv.Shutdown()
		return sp.rate(), err
	}
	sb, err := sandbox.NewServer(sandbox.Options{OnCall: func(string) { sp.tick() }})
	if err != nil {
		return 0, err
	}
	defer sb.Close()
	if kind == "wdtcancel" || kind == "wdtcancel_reuse" {
		var opts []wdt.Option
		if r.o.ReuseConnections || kind == "wdtcancel_reuse" {
			opts = []wdt.Option{wdt.WithConnectionReuse()}
		}
		client, err := wdt.New(sb.APIURL(), sb.Credentials(), opts...)
		if err != nil {
			return 0, err
		}
		w, err := worker.New(worker.Config{Redis: r.conn, Sellers: worker.SingleSeller(client, 0, 0), Queue: q, Concurrency: c, Logger: benchLogger(), AllowVolatileRedis: true,
			GroupCommitMax: r.o.GroupCommitMax, GroupCommitLinger: r.o.GroupCommitLinger})
		if err != nil {
			return 0, err
		}
		if err := w.Start(ctx); err != nil {
			w.Close()
			return 0, err
		}
		err = wait(ctx, sp.done, 10*time.Minute)
		w.Shutdown()
		return sp.rate(), err
	}
	srv := asynq.NewServerFromRedisClient(r.rdb, asynq.Config{
		Concurrency: c, Queues: map[string]int{q: 1},
		TaskCheckInterval: worker.DefaultTaskCheckInterval, LogLevel: asynq.FatalLevel,
	})
	mode := map[string]peerMode{"peer": peerPlain, "peer_result": peerResult, "peer_safe": peerSafe}[kind]
	if err := srv.Start(peerHandler(sb.APIURL(), sb.Credentials(), peerHTTP(), r.rdb, mode)); err != nil {
		return 0, err
	}
	err = wait(ctx, sp.done, 10*time.Minute)
	srv.Shutdown()
	return sp.rate(), err
}

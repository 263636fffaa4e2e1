package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// The in-process runs: a fixed number of tasks through one handler inside
// the bench process, timed from the first call to the last, with the
// sandbox in-process too. The connections and memory phases use them; the
// processing phase (processing.go) runs every variant in its own process
// instead, because there the ratio between handlers is the claim.

// variant runs n tasks through one kind of handler on a fresh queue and
// returns its rate, then deletes the queue.
func (r *runner) variant(ctx context.Context, kind string, round, n, c int) (float64, error) {
	q := r.queue(fmt.Sprintf("proc-%s-%d", kind, round))
	defer r.drop(q)
	if err := r.fill(ctx, q, "P", n); err != nil {
		return 0, err
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

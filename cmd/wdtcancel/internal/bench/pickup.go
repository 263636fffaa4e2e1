package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// pickup: enqueue one task into an idle queue and time until the sandbox
// receives the worker's call, p50/p99; and the same with asynq's default
// one-second check interval for comparison.
func (r *runner) pickup(ctx context.Context) error {
	qp := r.queue("pickup")
	arrived := make(chan time.Time, 1)
	sb, err := sandbox.NewServer(sandbox.Options{OnCall: func(string) { arrived <- time.Now() }})
	if err != nil {
		return err
	}
	defer sb.Close()
	client, _ := wdt.New(sb.APIURL(), sb.Credentials())
	w, err := worker.New(worker.Config{Redis: r.conn, Sellers: worker.SingleSeller(client, 0, 0), Queue: qp, Concurrency: r.o.Concurrency, Logger: benchLogger(), AllowVolatileRedis: true,
		GroupCommitMax: r.o.GroupCommitMax, GroupCommitLinger: r.o.GroupCommitLinger})
	if err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		w.Close()
		return err
	}
	defer w.Shutdown()
	ac := asynq.NewClientFromRedisClient(r.rdb)
	sample := func(queue, no string, got <-chan time.Time) (time.Duration, error) {
		// A random pause so the enqueue lands anywhere in the poll cycle.
		time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
		task, _ := tasks.NewCancelTask(no, "bench", time.Now(), asynq.Queue(queue))
		t0 := time.Now()
		if _, err := ac.EnqueueContext(ctx, task); err != nil {
			return 0, err
		}
		select {
		case at := <-got:
			return at.Sub(t0), nil
		case <-time.After(10 * time.Second):
			return 0, errors.New("task not picked up within 10 s")
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	var lat []time.Duration
	for i := 0; i < r.o.PickupSamples; i++ {
		d, err := sample(qp, fmt.Sprintf("PICK%05d", i), arrived)
		if err != nil {
			return err
		}
		lat = append(lat, d)
	}
	p := &r.res.Pickup
	p.Samples = len(lat)
	p.P50Ms, p.P99Ms = ms(percentile(lat, 50)), ms(percentile(lat, 99))
	r.res.PickupP50Ms, r.res.PickupP99Ms = p.P50Ms, p.P99Ms

	// asynq's default check interval, fewer samples: each costs ~0.75 s.
	qd := r.queue("pickup-default")
	started := make(chan time.Time, 1)
	srv := asynq.NewServerFromRedisClient(r.rdb, asynq.Config{Concurrency: r.o.Concurrency, Queues: map[string]int{qd: 1}, LogLevel: asynq.FatalLevel})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { started <- time.Now(); return nil })); err != nil {
		return err
	}
	defer srv.Shutdown()
	var def []time.Duration
	for i := 0; i < r.o.DefaultPickupSamples; i++ {
		d, err := sample(qd, fmt.Sprintf("DEF%05d", i), started)
		if err != nil {
			return err
		}
		def = append(def, d)
	}
	p.DefaultSamples, p.DefaultP50Ms = len(def), ms(percentile(def, 50))
	return nil
}

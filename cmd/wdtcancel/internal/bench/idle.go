package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/pause"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// IdleRow is phase idle for one number of sellers: one worker process
// whose queues are all empty, then tasks for sellers idle since its start.
type IdleRow struct {
	Sellers int     `json:"sellers"`
	Seconds float64 `json:"seconds"`
	// Redis commands a second (INFO commandstats, scripts' inner commands
	// included, the bench's INFO left out) and the worker's CPU (ms of
	// CPU per second: 10 = 1 % of a core).
	RedisCmdsPerSec   float64 `json:"redis_cmds_per_sec"`
	WorkerCPUPerSecMs float64 `json:"worker_cpu_ms_per_sec"`
	// Pickup of a task for a seller idle since the worker started: from
	// the enqueue (enqueue.Client) to the sandbox receiving the call.
	PickupSamples int     `json:"pickup_samples"`
	PickupP50Ms   float64 `json:"pickup_p50_ms"`
	PickupP99Ms   float64 `json:"pickup_p99_ms"`
	PickupMaxMs   float64 `json:"pickup_max_ms"`
}

// idlePhase runs phase idle for each of IdleSellers.
func (r *runner) idlePhase(ctx context.Context) error {
	if r.o.WorkerCommand == nil {
		r.res.Notes = append(r.res.Notes, "idle phase skipped: no worker command")
		return nil
	}
	for _, n := range r.o.IdleSellers {
		row, err := r.idleRun(ctx, n)
		if err != nil {
			return fmt.Errorf("%d sellers: %w", n, err)
		}
		r.res.Idle = append(r.res.Idle, *row)
		fmt.Fprintf(r.o.Out, "bench: idle %d sellers: %.0f Redis commands/s, worker CPU %.1f ms/s; pickup after idle p50 %.0f ms, p99 %.0f ms (%d samples)\n",
			n, row.RedisCmdsPerSec, row.WorkerCPUPerSecMs, row.PickupP50Ms, row.PickupP99Ms, row.PickupSamples)
	}
	return nil
}

// idleRun is one row: n sellers in a sellers file (the first
// min(n, IdleSamples) with a sandbox each, the rest pointing nowhere, as no
// task is ever sent for them).
func (r *runner) idleRun(ctx context.Context, n int) (*IdleRow, error) {
	base := r.queue(fmt.Sprintf("idle%d", n))
	dir, err := os.MkdirTemp("", "wdtcancel-bench-idle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	samples := min(n, r.o.IdleSamples)
	arrived := make([]chan time.Time, samples)
	var file strings.Builder
	file.WriteString("sellers:\n")
	env := []string{"REDIS_URL=" + r.url}
	queues := make([]string, n)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("s%04d", i)
		secret := fmt.Sprintf("idle%04d:salt%04d", i, i)
		url := "http://127.0.0.1:1/openapi"
		if i < samples {
			got := make(chan time.Time, 1)
			arrived[i] = got
			sb, err := sandbox.NewServer(sandbox.Options{SID: "sid-" + name, AppKey: "key-" + name, AppSecret: secret, OnCall: func(string) {
				select {
				case got <- time.Now():
				default:
				}
			}})
			if err != nil {
				return nil, err
			}
			defer sb.Close()
			url = sb.APIURL()
		}
		variable := fmt.Sprintf("BENCH_IDLE_SECRET_%04d", i)
		env = append(env, variable+"="+secret)
		fmt.Fprintf(&file, "  %s:\n    sid: sid-%s\n    appkey: key-%s\n    appsecret_env: %s\n    url: %s\n", name, name, name, variable, url)
		queues[i] = tasks.QueueFor(base, name)
		r.queues = append(r.queues, queues[i])
	}
	defer r.rdb.Del(context.Background(), store.ActiveSweepKey(queues))
	path := filepath.Join(dir, "sellers.yaml")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		return nil, err
	}
	var logs atomic.Int64
	pool, err := r.startWorkersLogging(1, []string{"--sellers", path, "--queue", base, "--allow-volatile-redis"}, env, "warn", &logs)
	if err != nil {
		return nil, err
	}
	defer pool.stop()
	if err := r.waitServing(ctx, pool, queues[0]); err != nil {
		return nil, err
	}
	// Start-up work (announcements, the first loss check of every seller,
	// asynq's first recoverer pass) is not idle cost.
	if err := pause.For(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	a, b, err := r.sampleWindow(ctx, pool, &logs)
	if err != nil {
		return nil, err
	}
	secs := b.at.Sub(a.at).Seconds()
	row := &IdleRow{Sellers: n, Seconds: round(secs),
		RedisCmdsPerSec:   round(float64(b.cmds-a.cmds) / secs),
		WorkerCPUPerSecMs: round((b.cpu - a.cpu) * 1000 / secs)}
	lat, err := r.idlePickups(ctx, base, arrived, pool)
	if err != nil {
		return nil, err
	}
	row.PickupSamples = len(lat)
	if len(lat) > 0 {
		row.PickupP50Ms, row.PickupP99Ms, row.PickupMaxMs = ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(percentile(lat, 100))
	}
	return row, nil
}

// waitServing waits until the worker's asynq server lists queue.
func (r *runner) waitServing(ctx context.Context, pool *workerPool, queue string) error {
	insp := asynq.NewInspectorFromRedisClient(r.rdb)
	deadline := time.Now().Add(60 * time.Second)
	for {
		servers, _ := insp.Servers()
		for _, s := range servers {
			if _, ok := s.Queues[queue]; ok {
				return nil
			}
		}
		select {
		case err := <-pool.exited:
			return err
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the worker did not register with asynq within 60 s")
		}
		if err := pause.For(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// idlePickups enqueues one task for each sandboxed seller in turn (each
// idle since the worker started, so its queue is out of the activity
// index) and times it to its call.
func (r *runner) idlePickups(ctx context.Context, base string, arrived []chan time.Time, pool *workerPool) ([]time.Duration, error) {
	var lat []time.Duration
	for i, got := range arrived {
		name := fmt.Sprintf("s%04d", i)
		c, err := enqueue.New(r.conn, enqueue.WithQueue(base), enqueue.WithSeller(name), enqueue.WithSource("bench"),
			enqueue.WithAllowUnknownSeller(), enqueue.WithWaitReplicas(0, 0))
		if err != nil {
			return nil, err
		}
		// A random pause so the enqueue lands anywhere in the poll cycle.
		if err := pause.For(ctx, time.Duration(50+rand.IntN(250))*time.Millisecond); err != nil {
			c.Close()
			return nil, err
		}
		t0 := time.Now()
		res, err := c.Cancel(ctx, fmt.Sprintf("IDLE%05d", i))
		c.Close()
		if err != nil || res.Result != enqueue.Enqueued {
			return nil, fmt.Errorf("enqueue for %s: %+v %v", name, res, err)
		}
		select {
		case at := <-got:
			lat = append(lat, at.Sub(t0))
		case err := <-pool.exited:
			return nil, err
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("the task for idle seller %s was not called within 30 s", name)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return lat, nil
}

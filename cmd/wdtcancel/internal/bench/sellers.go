package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// SellersRes is the multi-seller figure: many sellers with the same number
// of orders each on one worker pool, against one seller with the same total
// on the same pool.
type SellersRes struct {
	Sellers         int `json:"sellers"`
	OrdersPerSeller int `json:"orders_per_seller"`
	Processes       int `json:"worker_processes"`
	Concurrency     int `json:"concurrency"`
	// Calls per second from the first call to the last, all sellers.
	MultiPerSec float64 `json:"multi_seller_tasks_per_sec"`
	// The same total for one seller, same pool.
	SinglePerSec    float64 `json:"one_seller_tasks_per_sec"`
	ThroughputRatio float64 `json:"throughput_ratio"`
	// When each seller's last order was called, in seconds after the first
	// call of the run: a fair pool finishes every seller near the end (each
	// progressed at the same pace); an unfair one finishes some early and
	// some late. Fairness is the earliest over the latest (1 = perfectly
	// even).
	CompletionMinSec    float64 `json:"completion_min_seconds"`
	CompletionP10Sec    float64 `json:"completion_p10_seconds"`
	CompletionMedianSec float64 `json:"completion_median_seconds"`
	CompletionP90Sec    float64 `json:"completion_p90_seconds"`
	CompletionMaxSec    float64 `json:"completion_max_seconds"`
	Fairness            float64 `json:"fairness_min_over_max"`
}

// sellersPhase runs SellerCount sellers × SellerOrders orders through
// SellerProcesses worker processes started with a sellers file (each seller
// its own sandbox, so its own credentials and endpoint), then one seller
// with the same total through the same pool.
func (r *runner) sellersPhase(ctx context.Context) error {
	if r.o.WorkerCommand == nil {
		r.res.Notes = append(r.res.Notes, "multi-seller figure skipped: no worker command")
		return nil
	}
	n, per, procs := r.o.SellerCount, r.o.SellerOrders, r.o.SellerProcesses
	res := &SellersRes{Sellers: n, OrdersPerSeller: per, Processes: procs, Concurrency: r.o.Concurrency}

	multi, done, err := r.multiSellerRun(ctx, n, per, procs)
	if err != nil {
		return fmt.Errorf("%d sellers: %w", n, err)
	}
	res.MultiPerSec = round(multi)
	sort.Slice(done, func(i, j int) bool { return done[i] < done[j] })
	sec := func(d time.Duration) float64 { return round(d.Seconds()) }
	lo, hi := done[0], done[len(done)-1]
	res.CompletionMinSec, res.CompletionMaxSec = sec(lo), sec(hi)
	res.CompletionP10Sec, res.CompletionMedianSec, res.CompletionP90Sec = sec(percentile(done, 10)), sec(percentile(done, 50)), sec(percentile(done, 90))
	if hi > 0 {
		res.Fairness = round(lo.Seconds() / hi.Seconds())
	}
	single, err := r.oneSellerRun(ctx, n*per, procs)
	if err != nil {
		return fmt.Errorf("one seller: %w", err)
	}
	res.SinglePerSec = round(single)
	if single > 0 {
		res.ThroughputRatio = round(multi / single)
	}
	fmt.Fprintf(r.o.Out, "bench:   %d sellers x %d orders: %.0f tasks/s, sellers done between %.2fs and %.2fs; one seller, %d orders: %.0f tasks/s\n",
		n, per, multi, lo.Seconds(), hi.Seconds(), n*per, single)
	r.res.Sellers = res
	return nil
}

// multiSellerRun returns the throughput and, per seller, when its last
// order was called (seconds after the run's first call).
func (r *runner) multiSellerRun(ctx context.Context, n, per, procs int) (float64, []time.Duration, error) {
	base := r.queue("sellers")
	var first atomic.Int64
	lastAt := make([]atomic.Int64, n)
	counts := make([]atomic.Int64, n)
	var finished atomic.Int64
	all := make(chan struct{})
	dir, err := os.MkdirTemp("", "wdtcancel-bench-sellers-")
	if err != nil {
		return 0, nil, err
	}
	defer os.RemoveAll(dir)

	var file strings.Builder
	file.WriteString("sellers:\n")
	env := []string{"REDIS_URL=" + r.url}
	for i := 0; i < n; i++ {
		i := i
		name := fmt.Sprintf("s%03d", i)
		secret := fmt.Sprintf("bench%03d:salt%03d", i, i)
		sb, err := sandbox.NewServer(sandbox.Options{SID: "sid-" + name, AppKey: "key-" + name, AppSecret: secret, OnCall: func(string) {
			now := time.Now().UnixNano()
			first.CompareAndSwap(0, now)
			if counts[i].Add(1) == int64(per) {
				lastAt[i].Store(now)
				if finished.Add(1) == int64(n) {
					close(all)
				}
			}
		}})
		if err != nil {
			return 0, nil, err
		}
		defer sb.Close()
		variable := fmt.Sprintf("BENCH_SELLER_SECRET_%03d", i)
		env = append(env, variable+"="+secret)
		fmt.Fprintf(&file, "  %s:\n    sid: sid-%s\n    appkey: key-%s\n    appsecret_env: %s\n    url: %s\n", name, name, name, variable, sb.APIURL())
		r.queues = append(r.queues, tasks.QueueFor(base, name))
	}
	path := filepath.Join(dir, "sellers.yaml")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		return 0, nil, err
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("s%03d", i)
	}
	if err := r.fillSellers(ctx, base, names, per, "MS"); err != nil {
		return 0, nil, err
	}
	pool, err := r.startWorkers(procs, []string{"--sellers", path, "--queue", base}, env)
	if err != nil {
		return 0, nil, err
	}
	waitErr := waitOrExit(ctx, all, pool.exited, 10*time.Minute)
	pool.stop()
	if waitErr != nil {
		return 0, nil, waitErr
	}
	t0 := first.Load()
	done := make([]time.Duration, n)
	var last int64
	for i := range lastAt {
		done[i] = time.Duration(lastAt[i].Load() - t0)
		last = max(last, lastAt[i].Load())
	}
	return float64(n*per-1) / time.Duration(last-t0).Seconds(), done, nil
}

// fillSellers enqueues per orders (numbers prefix000000...) for each of
// the sellers, interleaved, with the seller in each payload and each
// seller's tasks in its own queue.
func (r *runner) fillSellers(ctx context.Context, base string, names []string, per int, prefix string) error {
	client := asynq.NewClientFromRedisClient(r.rdb)
	now := time.Now()
	type job struct{ seller, no string }
	jobs := make(chan job)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				task, err := tasks.NewCancelTaskFor(j.seller, j.no, "bench", now, asynq.Queue(tasks.QueueFor(base, j.seller)))
				if err == nil {
					_, err = client.EnqueueContext(ctx, task)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("enqueue %s for %s: %w", j.no, j.seller, err) })
				}
			}
		}()
	}
	for k := 0; k < per && ctx.Err() == nil; k++ {
		for _, name := range names {
			jobs <- job{name, fmt.Sprintf("%s%06d", prefix, k)}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr == nil {
		// As producers do, after the enqueues: the workers poll the
		// queues in the activity index.
		queues := make([]string, len(names))
		for i, name := range names {
			queues[i] = tasks.QueueFor(base, name)
		}
		firstErr = store.MarkActive(ctx, r.rdb, queues...)
	}
	return firstErr
}

// oneSellerRun is the comparison: total orders for one seller (the default
// seller, from WDT_* settings) on the same number of worker processes.
func (r *runner) oneSellerRun(ctx context.Context, total, procs int) (float64, error) {
	rate, _, err := r.oneQueueRun(ctx, "sellers-one", "OS", total, procs, r.url, false)
	return rate, err
}

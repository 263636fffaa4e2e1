package bench

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// redisMemory: bytes per queued task and per dead-letter record.
func (r *runner) redisMemory(ctx context.Context) error {
	used := func() (float64, error) {
		info, err := r.rdb.Info(ctx, "memory").Result()
		if err != nil {
			return 0, err
		}
		return strconv.ParseFloat(infoField(info, "used_memory"), 64)
	}
	if _, err := used(); err != nil {
		r.res.Notes = append(r.res.Notes, "redis memory skipped: INFO memory unsupported")
		return nil
	}
	const k = 5000
	before, _ := used()
	q := r.queue("mem")
	if err := r.fill(ctx, q, "MEM", k); err != nil {
		return err
	}
	after, _ := used()
	if r.res.Resources == nil {
		r.res.Resources = &Resources{}
	}
	r.res.Resources.RedisBytesPerQueued = round((after - before) / k)
	dlq := worker.NewDLQ(r.rdb, r.queue("mem-dlq"))
	before, _ = used()
	now := time.Now()
	st := 100
	for _, no := range numbers("DEAD", k) {
		if err := dlq.Put(ctx, worker.Record{PreStockinNo: no, Category: wdt.Rejected, WDTStatus: &st, Message: "入库单状态不为待审核或编辑中",
			Error: "wdt wms.stockin.PreStockin.cancel: rejected: status 100: 入库单状态不为待审核或编辑中", Attempts: 1, Source: "bench",
			FirstEnqueuedAt: &now, DeadLetteredAt: now}); err != nil {
			return err
		}
	}
	after, _ = used()
	r.res.Resources.RedisBytesPerDeadEntry = round((after - before) / k)
	return r.successMemory(ctx)
}

// successMemory measures with MEMORY USAGE what a success leaves behind
// beyond what asynq keeps of any completed task.
func (r *runner) successMemory(ctx context.Context) error {
	const k = 300
	nos := numbers("S", k)
	usage := func(keys []string) (float64, error) { return r.memoryUsage(ctx, keys) }
	if _, err := r.rdb.MemoryUsage(ctx, "wdtcancel-bench-probe").Result(); err != nil && !errors.Is(err, redis.Nil) {
		r.res.Notes = append(r.res.Notes, "success memory skipped: MEMORY USAGE unsupported")
		return nil
	}
	qr, qp := r.queue("mem-real"), r.queue("mem-peer")
	for _, q := range []string{qr, qp} {
		if err := r.fill(ctx, q, "S", k); err != nil {
			return err
		}
	}
	if _, err := r.variantOn(ctx, "wdtcancel", qr, k, r.o.Concurrency); err != nil {
		return err
	}
	if _, err := r.variantOn(ctx, "peer", qp, k, r.o.Concurrency); err != nil {
		return err
	}
	real, err := usage(taskKeys(qr, nos))
	if err != nil {
		return err
	}
	peer, err := usage(taskKeys(qp, nos))
	if err != nil {
		return err
	}
	markBytes, err := usage(markKeys(qr, nos))
	if err != nil {
		return err
	}
	legacy := store.ConfirmedKey(qr, "S0000000")
	r.rdb.Set(ctx, legacy, time.Now().UTC().Format(time.RFC3339Nano), 30*24*time.Hour)
	legacyBytes, err := usage([]string{legacy})
	if err != nil {
		return err
	}
	res := r.res.Resources
	res.RedisBytesOutcomeKeysPerTask = round(markBytes / k)
	res.RedisBytesPerSuccess = round((real-peer)/k + markBytes/k)
	res.RedisBytesLegacyConfirmedKey = legacyBytes
	return nil
}

// memoryUsage is the sum of MEMORY USAGE of keys, a missing key counting 0.
func (r *runner) memoryUsage(ctx context.Context, keys []string) (float64, error) {
	var sum int64
	for _, key := range keys {
		n, err := r.rdb.MemoryUsage(ctx, key).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, err
		}
		sum += n
	}
	return float64(sum), nil
}

// taskKeys are asynq's task hashes of the numbers in queue q.
func taskKeys(q string, nos []string) []string {
	keys := make([]string, 0, len(nos))
	for _, no := range nos {
		keys = append(keys, store.AsynqTaskKey(q, no))
	}
	return keys
}

// markKeys are every outcome mark the numbers in queue q may have left (the
// Redis guard's probe key under the queue is not one).
func markKeys(q string, nos []string) []string {
	keys := make([]string, 0, 3*len(nos))
	for _, no := range nos {
		keys = append(keys, store.SentKey(q, no), store.UnknownKey(q, no), store.ConfirmedKey(q, no))
	}
	return keys
}

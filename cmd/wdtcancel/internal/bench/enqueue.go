package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/tasks"
)

// enqueue: one-by-one asynq.Client.Enqueue vs CancelMany vs the CLI.
func (r *runner) enqueue(ctx context.Context) error {
	m := r.o.EnqueueTasks
	e := &r.res.Enqueue
	e.Tasks = m

	// Alternating rounds, the first a discarded warm-up; each round on
	// fresh queues, deleted right after.
	oneByOne := func(round int) (float64, error) {
		q := r.queue(fmt.Sprintf("enq-one-%d", round))
		defer r.drop(q)
		client := asynq.NewClientFromRedisClient(r.rdb)
		now := time.Now()
		t0 := time.Now()
		for _, no := range numbers("ONE", m) {
			task, err := tasks.NewCancelTask(no, "bench", now, asynq.Queue(q))
			if err != nil {
				return 0, err
			}
			if _, err := client.EnqueueContext(ctx, task); err != nil {
				return 0, err
			}
		}
		return float64(m) / time.Since(t0).Seconds(), nil
	}
	many := func(round int) (float64, error) {
		q := r.queue(fmt.Sprintf("enq-many-%d", round))
		defer r.drop(q)
		t0 := time.Now()
		if err := r.fill(ctx, q, "MANY", m); err != nil {
			return 0, err
		}
		return float64(m) / time.Since(t0).Seconds(), nil
	}
	var ratios []float64
	for round := 0; round <= r.o.Rounds; round++ {
		var one, mny float64
		var err1, err2 error
		if round%2 == 0 {
			one, err1 = oneByOne(round)
			mny, err2 = many(round)
		} else {
			mny, err2 = many(round)
			one, err1 = oneByOne(round)
		}
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if round == 0 {
			continue
		}
		e.OneByOneRounds = append(e.OneByOneRounds, round2(one))
		e.CancelManyRounds = append(e.CancelManyRounds, round2(mny))
		ratios = append(ratios, mny/one)
	}
	e.OneByOnePerSec, e.CancelManyPerSec = round(median(e.OneByOneRounds)), round(median(e.CancelManyRounds))
	r.res.EnqueueRatio, r.res.EnqueueRatioMin, r.res.EnqueueRatioMax = spread(ratios)

	if r.o.EnqueueCLI == nil || r.o.CLITasks == 0 {
		return nil
	}
	f, err := os.CreateTemp("", "wdtcancel-bench-*.txt")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriter(f)
	for _, no := range numbers("CLI", r.o.CLITasks) {
		bw.WriteString(no + "\n")
	}
	bw.Flush()
	f.Close()
	q3 := r.queue("enq-cli")
	t0 := time.Now()
	if err := r.o.EnqueueCLI(ctx, r.url, q3, f.Name()); err != nil {
		return fmt.Errorf("cli: %w", err)
	}
	e.CLITasks = r.o.CLITasks
	e.CLIPerSec = float64(r.o.CLITasks) / time.Since(t0).Seconds()
	e.CLIRatio = round(e.CLIPerSec / e.OneByOnePerSec)
	return nil
}

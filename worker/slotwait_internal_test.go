package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestSlotBeyondBudget: a slot further away than the task may wait is not
// reserved (the schedule does not move), the task is held for its budget
// without Redis, and the refusal says how long is still left.
func TestSlotBeyondBudget(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t)
	ctx := context.Background()
	const budget = 100 * time.Millisecond
	l := NewLimiter(rdb, "beyond", LimiterOptions{RatePerMinute: 6, MaxWait: budget}) // a slot every ~10 s
	if _, err := l.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	tat := func() int64 { v, _ := rdb.Get(ctx, l.keys[0]).Int64(); return v }
	before := tat()
	start := time.Now()
	_, err := l.Acquire(ctx)
	held := time.Since(start)
	var we *WaitError
	if !errors.As(err, &we) || we.Reason != ReasonRate {
		t.Fatalf("slot ~10 s away with a %s budget: %v, want a rate wait", budget, err)
	}
	if we.After < 9*time.Second || we.After > 11*time.Second {
		t.Fatalf("refused with %s to wait, want about 10 s less the hold", we.After)
	}
	if held < budget {
		t.Fatalf("refused after %s: the task was not held for its %s budget", held, budget)
	}
	if got := tat(); got != before {
		t.Fatalf("a refused slot moved the schedule: %d -> %d", before, got)
	}
}

// TestBudgetKeepsTheCallInsideTheDeadline: a task waits for its slot at
// most until its deadline less callReserve, whatever MaxWait says.
func TestBudgetKeepsTheCallInsideTheDeadline(t *testing.T) {
	t.Parallel()
	l := &Limiter{maxWait: time.Hour}
	tests := []struct {
		name     string
		deadline time.Duration // 0: none
		min, max time.Duration
	}{
		{"no deadline: MaxWait", 0, time.Hour, time.Hour},
		{"asynq's two minutes", 2 * time.Minute, 2*time.Minute - callReserve - time.Second, 2*time.Minute - callReserve},
		{"a deadline inside the reserve: no wait", callReserve / 2, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			if got := l.budget(ctx); got < tt.min || got > tt.max {
				t.Fatalf("budget %s, want %s..%s", got, tt.min, tt.max)
			}
		})
	}
}

// TestStopEndsSlotWaits: a task asleep towards a slot reserved far ahead
// goes back at once when the worker stops (a *WaitError, so the handler
// snoozes it without a retry), and its lease is given back.
func TestStopEndsSlotWaits(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t)
	ctx := context.Background()
	l := NewLimiter(rdb, "stop", LimiterOptions{RatePerMinute: 6, MaxInflight: 5, MaxWait: time.Hour})
	if _, err := l.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := rdb.Get(ctx, l.keys[0]).Int64()
	got := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx)
		got <- err
	}()
	testkit.Until(t, "the sleeper's reservation", func() bool {
		v, err := rdb.Get(ctx, l.keys[0]).Int64()
		return err == nil && v != first
	})
	l.Stop()
	l.Stop() // twice is safe
	err := testkit.Recv(t, got, "the sleeper to give up its slot")
	var we *WaitError
	if !errors.As(err, &we) || we.Reason != ReasonRate || we.After <= 0 {
		t.Fatalf("stopped sleeper: %v, want a rate wait for the rest of its slot's time", err)
	}
	testkit.Until(t, "the sleeper's in-flight lease released", func() bool {
		n, err := rdb.ZCard(ctx, l.keys[1]).Result()
		return err == nil && n == 1 // the first caller's, never released
	})
}

package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

func newRedisClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	r := testkit.NewRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestLimiterInflightAcrossProcesses(t *testing.T) {
	t.Parallel()
	rdb := newRedisClient(t)
	opts := worker.LimiterOptions{MaxInflight: 2, MaxWait: 200 * time.Millisecond, Lease: 300 * time.Millisecond}
	a := worker.NewLimiter(rdb, "q", opts)
	b := worker.NewLimiter(rdb, "q", opts) // a second process
	ctx := context.Background()
	s1, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	var we *worker.WaitError
	if _, err := b.Acquire(ctx); !errors.As(err, &we) || we.Reason != worker.ReasonInflight {
		t.Fatalf("third slot: %v", err)
	}
	s1.Release(ctx)
	if _, err := b.Acquire(ctx); err != nil {
		t.Fatalf("slot not returned by release: %v", err)
	}
	// The second holder never releases (a killed worker): its lease runs
	// out in Redis, and the slot comes back.
	testkit.Until(t, "the expired lease to be reclaimed", func() bool {
		_, err := a.Acquire(ctx)
		return err == nil
	})
}

func TestLimiterRateIsSmooth(t *testing.T) {
	t.Parallel()
	rdb := newRedisClient(t)
	l := worker.NewLimiter(rdb, "q", worker.LimiterOptions{RatePerMinute: 600, MaxWait: time.Second})
	ctx := context.Background()
	var mu sync.Mutex
	var granted []time.Time
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				if _, err := l.Acquire(ctx); err != nil {
					var we *worker.WaitError
					if !errors.As(err, &we) {
						t.Error(err)
					}
					continue
				}
				mu.Lock()
				granted = append(granted, time.Now())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(granted) != 20 {
		t.Fatalf("%d of 20 granted", len(granted))
	}
	// 600/min is one slot per ~100 ms: 20 slots cannot all come in a burst.
	first, last := granted[0], granted[0]
	for _, g := range granted {
		if g.Before(first) {
			first = g
		}
		if g.After(last) {
			last = g
		}
	}
	if span := last.Sub(first); span < 1800*time.Millisecond {
		t.Fatalf("20 slots at 600/min granted within %s: a burst", span)
	}
}

func TestLimiterCooldownShared(t *testing.T) {
	t.Parallel()
	rdb := newRedisClient(t)
	a := worker.NewLimiter(rdb, "q", worker.LimiterOptions{})
	// b's tasks may wait 200 ms for a slot: less than the cooldown, so it
	// refuses; c's may wait 5 s, so it waits the cooldown out.
	b := worker.NewLimiter(rdb, "q", worker.LimiterOptions{RatePerMinute: 60, MaxWait: 200 * time.Millisecond})
	c := worker.NewLimiter(rdb, "q", worker.LimiterOptions{RatePerMinute: 60, MaxWait: 5 * time.Second})
	ctx := context.Background()
	started, err := a.StartCooldown(ctx, time.Second)
	if err != nil || !started {
		t.Fatalf("start: %v %v", started, err)
	}
	if again, _ := a.StartCooldown(ctx, 500*time.Millisecond); again {
		t.Fatal("a shorter cooldown shortened the running one")
	}
	for _, l := range []*worker.Limiter{a, b} {
		var we *worker.WaitError
		if _, err := l.Acquire(ctx); !errors.As(err, &we) || we.Reason != worker.ReasonCooldown || we.After <= 0 {
			t.Fatalf("acquire during cooldown: %v", err)
		}
	}
	if left, err := b.Cooldown(ctx); err != nil || left <= 0 || left > time.Second {
		t.Fatalf("cooldown left %v %v, want the first second", left, err)
	}
	// A caller whose budget outlasts the cooldown waits here and gets a
	// slot only once the cooldown is over.
	if _, err := c.Acquire(ctx); err != nil {
		t.Fatalf("acquire with a budget beyond the cooldown: %v", err)
	}
	if left, err := c.Cooldown(ctx); err != nil || left > 0 {
		t.Fatalf("slot granted with %v of the cooldown left (%v)", left, err)
	}
	// The cooldown's key runs out in Redis; then a slot is granted.
	testkit.Until(t, "a slot after the cooldown", func() bool {
		_, err := b.Acquire(ctx)
		return err == nil
	})
}

// TestGlobalRateLimitTwoWorkers runs two worker servers on one Redis
// against a sandbox whose quota equals the limit, for longer than WDT's
// one-minute window. The sandbox answers with the rate-limit message for any
// call that would make its sliding minute exceed the quota, so zero such
// answers proves the limit held; the count in the first minute shows how
// much of it was used.
func TestGlobalRateLimitTwoWorkers(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs for over a minute")
	}
	const rate = 240
	arrivals := testkit.NewLog[time.Time]()
	h := newHarness(t, sandbox.Options{RatePerMinute: rate, OnCall: func(string) { arrivals.Add(time.Now()) }})
	var nos []string
	for i := 0; i < rate*2; i++ {
		nos = append(nos, fmt.Sprintf("GR%04d", i))
	}
	h.enqueue(nos...)
	limit := func(c *worker.Config) { c.Sellers[0].RatePerMinute = rate; c.Concurrency = 6 }
	h.startWorker(limit)
	h.startWorker(limit)
	// Run until a call arrives more than a minute after the first, plus 8 s
	// for WDT's sliding minute to judge calls from the second minute too.
	first := arrivals.Wait(t, "the first call", 1, func(time.Time) bool { return true })[0]
	arrivals.WaitWithin(t, 3*time.Minute, "a call 68 s after the first", 1, func(at time.Time) bool { return at.Sub(first) >= 68*time.Second })
	inFirstMinute := arrivals.Count(func(at time.Time) bool { return at.Sub(first) < time.Minute })
	st := h.sb.Stats()
	t.Logf("calls in the first minute: %d of %d allowed (%.1f%%); total calls %d, by status %v",
		inFirstMinute, rate, 100*float64(inFirstMinute)/rate, st.Calls, st.ByStatus)
	if n := st.ByStatus["100"]; n != 0 {
		t.Fatalf("%d rate-limit answers: the global limit did not hold", n)
	}
	if inFirstMinute > rate {
		t.Fatalf("%d calls in a minute, limit %d", inFirstMinute, rate)
	}
	if inFirstMinute < rate*9/10 {
		t.Fatalf("only %d of %d calls used in the first minute (<90%%)", inFirstMinute, rate)
	}
}

package worker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestLimiterIntervalKeepsFractionalMilliseconds pins the arithmetic that
// once wasted a third of WDT's quota: the interval of an awkward rate has a
// fractional millisecond, and each granted slot must move the schedule by
// the whole interval, margin included, not by a truncated one.
func TestLimiterIntervalKeepsFractionalMilliseconds(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t)
	ctx := context.Background()

	tests := []struct {
		rate int
		want time.Duration // (60 s + 0.5 s margin) / rate
	}{
		{600, 100833 * time.Microsecond},
		{599, 101001 * time.Microsecond},
		{7, 8642857 * time.Microsecond},
		{1000, 60500 * time.Microsecond},
		{240, 252083 * time.Microsecond},
		{60000, 1008 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.rate), func(t *testing.T) {
			l := NewLimiter(rdb, "interval-"+strconv.Itoa(tt.rate), LimiterOptions{RatePerMinute: tt.rate, MaxWait: time.Nanosecond})
			if l.interval.Truncate(time.Microsecond) != tt.want {
				t.Fatalf("interval %s, want %s", l.interval, tt.want)
			}
			// Two grants in a row: the second reservation is exactly one
			// interval after the first, in Redis's own schedule.
			tat := func() int64 {
				v, err := rdb.Get(ctx, l.keys[0]).Int64()
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			began := time.Now()
			if _, err := l.Acquire(ctx); err != nil {
				t.Fatal(err)
			}
			first := tat()
			// The next slot is an interval away: beyond MaxWait, so it is
			// refused with the exact wait, and the schedule does not move.
			_, err := l.Acquire(ctx)
			// The wait is the interval less the time that passed since
			// the first grant, which is at most the time since began (a
			// millisecond of slack for rounding).
			passed := time.Since(began)
			if err == nil {
				// Granted: legitimate only if a whole interval passed
				// between the two calls, as it can at 60000 a minute on
				// a busy machine; then there is no refusal to look at.
				if passed < tt.want {
					t.Fatalf("second slot granted %s after the first, interval %s", passed, tt.want)
				}
				t.Skipf("%s passed between two acquires, more than the %s interval: no refusal to check", passed, tt.want)
			}
			we, ok := err.(*WaitError)
			if !ok || we.Reason != ReasonRate {
				t.Fatalf("second acquire: %v", err)
			}
			if we.After > tt.want || we.After < tt.want-passed-time.Millisecond {
				t.Fatalf("wait %s, want %s less at most the %s that passed", we.After, tt.want, passed)
			}
			if got := tat(); got != first {
				t.Fatalf("a refused slot moved the schedule: %d -> %d", first, got)
			}
			// With room to wait, the reservation lands one whole interval on.
			l.maxWait = 2 * tt.want
			if tt.want > time.Second {
				return // a real sleep of seconds buys nothing more
			}
			if _, err := l.Acquire(ctx); err != nil {
				t.Fatal(err)
			}
			redisNow, err := rdb.Time(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			// Exactly one interval on, unless the slot was already in the
			// past when the script ran (a busy machine, a 1 ms interval):
			// then the next slot is one interval after the script's own
			// time, which is no later than Redis's time now.
			got, want := tat()-first, tt.want.Microseconds()
			slotPassed := got > want && first+got <= redisNow.UnixMicro()+want
			if got != want && !slotPassed {
				t.Fatalf("schedule moved by %d µs, want %d", got, want)
			}
		})
	}
}

// TestSleepersRecheckTheCooldown: a caller granted a slot for later must not
// call if a cooldown started while it slept towards the slot (19 calls went
// out into a cooldown before this check).
func TestSleepersRecheckTheCooldown(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t)
	ctx := context.Background()
	l := NewLimiter(rdb, "cooldown-recheck", LimiterOptions{RatePerMinute: 60, MaxWait: 5 * time.Second})
	if _, err := l.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := rdb.Get(ctx, l.keys[0]).Int64()
	if err != nil {
		t.Fatal(err)
	}
	// The next slot is about a second away: this caller reserves it and
	// sleeps towards it.
	got := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx)
		got <- err
	}()
	// Once its reservation is in Redis, another worker (another limiter)
	// starts a cooldown. The sleeper wakes a second after it reserved: the
	// test relies on starting the cooldown before then.
	testkit.Until(t, "the sleeper's reservation", func() bool {
		v, err := rdb.Get(ctx, l.keys[0]).Int64()
		return err == nil && v != first
	})
	other := NewLimiter(rdb, "cooldown-recheck", LimiterOptions{RatePerMinute: 60})
	if _, err := other.StartCooldown(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	err = <-got
	we, ok := err.(*WaitError)
	if !ok || we.Reason != ReasonCooldown {
		t.Fatalf("a sleeper woke into a cooldown and got %v, want a cooldown wait", err)
	}
}

// TestSlotLate: a rate-limited slot whose time passed by more than half the
// margin is late (the handler then takes a new one instead of calling);
// without a rate limit a slot is never late.
func TestSlotLate(t *testing.T) {
	rdb := redisClient(t)
	ctx := context.Background()
	l := NewLimiter(rdb, "late", LimiterOptions{RatePerMinute: 600})
	slot, err := l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slot.Late() {
		t.Fatal("a fresh slot is late")
	}
	slot.due = time.Now().Add(-lateAfter - time.Millisecond)
	if !slot.Late() {
		t.Fatal("a slot past its time by more than lateAfter is not late")
	}
	free := NewLimiter(rdb, "late-free", LimiterOptions{})
	s2, err := free.Acquire(ctx)
	if err != nil || s2.Late() {
		t.Fatalf("unlimited slot: late=%v err=%v", s2.Late(), err)
	}
	var none *Slot
	if none.Late() {
		t.Fatal("nil slot is late")
	}
}

package worker

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestReserveScriptGrantsWithinBudgets: one script reserves a slot per
// request, each only if it is within that request's budget; a refused
// request does not move the schedule, and the schedule moves by exactly
// one interval per grant (never a slot more than requests).
func TestReserveScriptGrantsWithinBudgets(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t)
	ctx := context.Background()
	const interval = 100_000 // µs
	tests := []struct {
		name    string
		budgets []int64 // µs
		granted []int64
	}{
		{"all within", []int64{1e6, 1e6, 1e6}, []int64{1, 1, 1}},
		{"budget ends the batch", []int64{1e6, 1e6, 150_000, 1e6}, []int64{1, 1, 0, 1}},
		{"no budget: only a free slot", []int64{0, 0}, []int64{1, 0}},
		{"one request", []int64{5e6}, []int64{1}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := []string{fmt.Sprintf("wdtcancel:{rs%d}:rl:tat", i), fmt.Sprintf("wdtcancel:{rs%d}:rl:cooldown", i)}
			argv := []any{interval}
			for _, b := range tt.budgets {
				argv = append(argv, b)
			}
			before, _ := rdb.Time(ctx).Result()
			res, err := reserveScript.Run(ctx, rdb, keys, argv...).Int64Slice()
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1+2*len(tt.budgets) {
				t.Fatalf("answer %v for %d requests", res, len(tt.budgets))
			}
			var got []int64
			var grants int64
			var lastWait, firstWait int64 = -1, -1
			for k := range tt.budgets {
				g, w := res[1+2*k], res[2+2*k]
				got = append(got, g)
				if g == 1 {
					if w <= lastWait {
						t.Fatalf("request %d granted wait %d µs, not after the previous grant's %d", k, w, lastWait)
					}
					lastWait = w
					if firstWait < 0 {
						firstWait = w
					}
					grants++
				}
			}
			if !slices.Equal(got, tt.granted) {
				t.Fatalf("granted %v, want %v (answer %v)", got, tt.granted, res)
			}
			// Grants are consecutive slots, and the schedule now lies one
			// interval past the last grant, in Redis's clock.
			if lastWait-firstWait != (grants-1)*interval {
				t.Fatalf("%d grants span %d µs, want %d", grants, lastWait-firstWait, (grants-1)*interval)
			}
			tat, err := rdb.Get(ctx, keys[0]).Int64()
			after, _ := rdb.Time(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			hi := after.UnixMicro() + lastWait + interval
			lo := before.UnixMicro() + lastWait + interval
			if tat < lo || tat > hi {
				t.Fatalf("schedule at %d, want the last grant plus an interval, in [%d, %d]", tat, lo, hi)
			}
		})
	}

}

// TestReserveScriptDuringCooldown: a cooldown started by StartCooldown
// (cooldownScript) moves the schedule to its end, so a reservation never
// gets a slot inside it without reading it: a request whose budget ends
// before the cooldown is refused with the cooldown's time left ("cooldown"
// in the metric), one whose budget reaches past it gets a slot after it,
// and the cooldown is read only on the refusing path.
func TestReserveScriptDuringCooldown(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t)
	ctx := context.Background()
	const interval = 100_000 // µs
	tests := []struct {
		name     string
		cooldown time.Duration
		budgets  []int64 // µs
		granted  []int64
		read     bool // the script read the cooldown
	}{
		{"budget within the cooldown: refused, cooldown", time.Minute, []int64{1e6, 1e6}, []int64{0, 0}, true},
		{"budget past the cooldown: a slot after it", 300 * time.Millisecond, []int64{5e6, 5e6}, []int64{1, 1}, false},
		{"some past it, the rest refused", 300 * time.Millisecond, []int64{5e6, 100_000}, []int64{1, 0}, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := fmt.Sprintf("rscd%d", i)
			l := NewLimiter(rdb, q, LimiterOptions{RatePerMinute: 600})
			if _, err := l.StartCooldown(ctx, tt.cooldown); err != nil {
				t.Fatal(err)
			}
			argv := []any{interval}
			for _, b := range tt.budgets {
				argv = append(argv, b)
			}
			res, err := reserveScript.Run(ctx, rdb, []string{l.keys[0], l.keys[2]}, argv...).Int64Slice()
			if err != nil || len(res) != 1+2*len(tt.budgets) {
				t.Fatalf("answer %v, %v for %d requests", res, err, len(tt.budgets))
			}
			if got := res[0] >= 0; got != tt.read {
				t.Fatalf("cooldown read %v (answer %v), want %v", got, res, tt.read)
			}
			if tt.read && res[0] <= 0 {
				t.Fatalf("cooldown left %d µs during a cooldown", res[0])
			}
			cdLeft := rdb.PTTL(ctx, l.keys[2]).Val()
			for k := range tt.budgets {
				g, w := res[1+2*k], time.Duration(res[2+2*k])*time.Microsecond
				if g != tt.granted[k] {
					t.Fatalf("request %d granted %d, want %d (answer %v)", k, g, tt.granted[k], res)
				}
				// Every wait, granted or not, reaches past the cooldown
				// (PTTL counts whole milliseconds of Redis's clock).
				if w < cdLeft-time.Millisecond {
					t.Fatalf("request %d: wait %s, inside the cooldown (%s left)", k, w, cdLeft)
				}
			}
			l.Stop()
		})
	}
}

// TestGrantedReservationReadsNoCooldown counts, on a real redis-server,
// the commands of reservations made one at a time (a seller at a low rate:
// one task waits at a time): EVALSHA, TIME, GET, SET, and no PTTL. A
// granted slot needs no cooldown read (cooldownScript moves the schedule),
// and the sleeper waking to it knows from the reply that no cooldown
// started before it runs.
func TestGrantedReservationReadsNoCooldown(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	if !r.Real {
		t.Skip("miniredis has no INFO commandstats")
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	ctx := context.Background()
	l := NewLimiter(rdb, "onebyone", LimiterOptions{RatePerMinute: 6000, MaxWait: 5 * time.Second})
	defer l.Stop()
	if _, err := l.Acquire(ctx); err != nil { // loads the script
		t.Fatal(err)
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	const slots = 20
	for range slots {
		if _, err := l.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	total := 0
	for _, m := range regexp.MustCompile(`cmdstat_([a-z|]+):calls=(\d+)`).FindAllStringSubmatch(info, -1) {
		if m[1] == "info" || m[1] == "config|resetstat" {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		got[m[1]] = n
		total += n
	}
	if got["pttl"] != 0 || total > 4*slots {
		t.Errorf("%d reservations one at a time cost %d commands (%v), want at most 4 each and no PTTL", slots, total, got)
	}
}

// scriptCounter counts the scripts a client sends (EVAL/EVALSHA).
type scriptCounter struct{ n atomic.Int64 }

func (c *scriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.HasPrefix(strings.ToLower(cmd.Name()), "eval") {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (c *scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestBatchReservationTwoProcesses: two limiters (two processes) share one
// rate; each has several tasks waiting for slots, and some of the waiting
// tasks are cancelled after their slots may have been reserved. The calls
// never exceed the rate in any window (wasted slots are not re-used in a
// burst), every surviving task gets a slot, both processes get a fair part
// of them, and the processes send far fewer scripts than they get slots.
func TestBatchReservationTwoProcesses(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	const rate = 1200 // a slot every ~50 ms: far above a busy machine's timer jitter
	const waiters, rounds = 6, 8
	ctx := context.Background()
	var mu sync.Mutex
	var calls []time.Time
	counts := make([]int, 2)
	var counters [2]scriptCounter
	var wg sync.WaitGroup
	for p := range 2 {
		rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
		defer rdb.Close()
		rdb.AddHook(&counters[p])
		l := NewLimiter(rdb, "batch2", LimiterOptions{RatePerMinute: rate, MaxWait: 5 * time.Second})
		if l.batch == nil {
			t.Fatal("a rate-only limiter does not batch")
		}
		for w := range waiters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					actx, cancel := context.WithCancel(ctx)
					if (w+i)%5 == 4 {
						// A task that dies while it waits: its slot, if
						// reserved, is wasted.
						time.AfterFunc(time.Duration(w)*7*time.Millisecond, cancel)
					}
					_, err := l.Acquire(actx)
					cancel()
					if err != nil {
						continue
					}
					mu.Lock()
					calls = append(calls, time.Now())
					counts[p]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	slices.SortFunc(calls, func(a, b time.Time) int { return a.Compare(b) })
	interval := (time.Minute + rateMargin) / rate
	// Any window of a second holds at most a second's worth of slots, one
	// more for the window's edges and one for a late wake.
	limit := int(time.Second/interval) + 2
	for i := range calls {
		j := i
		for j < len(calls) && calls[j].Sub(calls[i]) < time.Second {
			j++
		}
		if j-i > limit {
			t.Fatalf("%d calls within a second from call %d, at most %d at %d/min: a burst", j-i, i, limit, rate)
		}
	}
	total := counts[0] + counts[1]
	// (w+i)%5 == 4 picks 10 of the 48 attempts per process; the rest must
	// be granted (each waits at most the 5 s budget for ~2 s of slots).
	if min(counts[0], counts[1]) < 38 {
		t.Fatalf("granted %v of 2×38 uncancelled tasks", counts)
	}
	if d := counts[0] - counts[1]; d > 10 || d < -10 {
		t.Fatalf("unfair: %v", counts)
	}
	scripts := counters[0].n.Load() + counters[1].n.Load()
	t.Logf("%d calls, %v per process, %d scripts", total, counts, scripts)
	if scripts*3 > int64(total)*2 {
		t.Fatalf("%d scripts for %d slots: reservations are not batched", scripts, total)
	}
}

// TestBatchReservationCommandBudget counts, on a real redis-server, what
// the limiter costs per granted slot when several tasks of a process wait
// (INFO commandstats, the script's inner commands included): one script
// (EVALSHA, TIME, GET, SET; PTTL only when it refuses) reserved one slot,
// 5 commands a slot before the cooldown read went to the refusing path,
// and the cooldown read after each wait added up to one more.
func TestBatchReservationCommandBudget(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	if !r.Real {
		t.Skip("miniredis has no INFO commandstats")
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	ctx := context.Background()
	// The test's own Redis: reset the counters, count everything after.
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	l := NewLimiter(rdb, "budget", LimiterOptions{RatePerMinute: 6000, MaxWait: 5 * time.Second})
	const waiters, each = 8, 25
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := l.Acquire(ctx); err == nil {
					granted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, m := range regexp.MustCompile(`cmdstat_([a-z|]+):calls=(\d+)`).FindAllStringSubmatch(info, -1) {
		if m[1] == "info" || m[1] == "config|resetstat" {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		total += n
	}
	n := granted.Load()
	if n != waiters*each {
		t.Fatalf("%d of %d slots granted", n, waiters*each)
	}
	perSlot := float64(total) / float64(n)
	t.Logf("%.2f commands per slot (%d for %d slots): %s", perSlot, total, n, info)
	if perSlot > 2.5 {
		t.Errorf("the limiter costs %.2f Redis commands per slot with %d tasks waiting, want at most 2.5 (one 5-command script for several slots)", perSlot, waiters)
	}
}

// TestNextFreeKnownBeforeTheAnswer: a request's answer is sent only once
// the batcher knows the schedule's next free slot past it, so a fetch
// paced on that slot (pacing.go) never sees the task gone from hand
// while the schedule still looks free.
func TestNextFreeKnownBeforeTheAnswer(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t)
	l := NewLimiter(rdb, "nextfree", LimiterOptions{RatePerMinute: 60})
	defer l.Stop()
	asked := time.Now()
	res, err := l.batch.reserve(context.Background(), asked.Add(time.Second))
	seen := l.batch.nextFreeAt()
	if err != nil || !res.granted {
		t.Fatalf("reserve: %+v %v", res, err)
	}
	if want := res.asked.Add(res.wait + l.interval); !seen.Equal(want) {
		t.Fatalf("next free slot when the answer came: %v, want %v (the granted slot plus an interval)", seen, want)
	}
}

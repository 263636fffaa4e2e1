package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/store"
)

func newLaneLoss(t *testing.T, rdb redis.UniversalClient) *laneLoss {
	t.Helper()
	return newLossGuard(0).addLane(rdb, "q", nil, prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"}), zap.NewNop())
}

// TestLaneLossDetects: what happened to the marker between two bumps, and
// what a process that bumped before concludes.
func TestLaneLossDetects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		happen func(ctx context.Context, rdb *redis.Client)
		want   string // loss kind; "" none
		// fastMisses: a fast bump (which reads the counter, not the
		// marker's id) cannot see it; the next full bump does.
		fastMisses bool
	}{
		{"nothing", func(context.Context, *redis.Client) {}, "", false},
		{"other processes bumped", func(ctx context.Context, rdb *redis.Client) {
			for range 5 {
				store.BumpEpoch(ctx, rdb, "q")
			}
		}, "", false},
		{"restarted empty", func(ctx context.Context, rdb *redis.Client) { rdb.FlushAll(ctx) }, store.LossEmpty, false},
		{"empty, and another process recreated the marker", func(ctx context.Context, rdb *redis.Client) {
			rdb.FlushAll(ctx)
			for range 10 {
				store.BumpEpoch(ctx, rdb, "q")
			}
		}, store.LossEmpty, true},
		{"restored from an older snapshot", func(ctx context.Context, rdb *redis.Client) {
			rdb.HSet(ctx, store.EpochKey("q"), "gen", 1)
		}, store.LossOlderSnapshot, false},
		{"older snapshot, then bumped back to the very value seen", func(ctx context.Context, rdb *redis.Client) {
			rdb.HSet(ctx, store.EpochKey("q"), "gen", 2)
		}, store.LossOlderSnapshot, false},
	}
	for _, tt := range tests {
		for _, how := range []string{"the periodic bump", "a fast bump", "a call's sent mark script"} {
			t.Run(tt.name+", noticed by "+how, func(t *testing.T) {
				t.Parallel()
				testLaneLossDetects(t, tt.happen, tt.want, tt.fastMisses && how != "the periodic bump", how)
			})
		}
	}
}

func testLaneLossDetects(t *testing.T, happen func(context.Context, *redis.Client), want string, missed bool, how string) {
	ctx := context.Background()
	rdb := redisClient(t)
	l := newLaneLoss(t, rdb)
	for range 3 {
		if err := l.bump(ctx); err != nil {
			t.Fatal(err)
		}
	}
	happen(ctx, rdb)
	switch how {
	case "a call's sent mark script":
		// The handler's path: the mark and the bump in one script, judged
		// against what the lane knew before it was sent.
		before := l.snapshot()
		_, e, err := store.NewOutcomeMemory(rdb, "q").BeginCalls(ctx, []string{"N1", "N2"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		l.afterCallBump(ctx, before, e, true)
	default:
		if err := l.bumpWith(ctx, how == "a fast bump"); err != nil {
			t.Fatal(err)
		}
	}
	if missed {
		// The fast judge compares the counter only: this loss passes it,
		// and the full bump (periodic, or before a decision) catches it.
		if rec, _ := store.ReadLoss(ctx, rdb, "q"); rec != nil {
			t.Fatalf("a fast bump recorded %+v: it does not read the marker's id", rec)
		}
		if err := l.bump(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := store.ReadLoss(ctx, rdb, "q")
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	if rec != nil {
		got = rec.Kind
	}
	if got != want {
		t.Fatalf("loss recorded %q (%+v), want %q", got, rec, want)
	}
	if g := map[bool]float64{true: 1, false: 0}[want != ""]; testutil.ToFloat64(l.gauge) != g {
		t.Errorf("gauge %v, want %v", testutil.ToFloat64(l.gauge), g)
	}
	inc, err := l.incomplete(ctx, time.Now())
	if err != nil || inc != (want != "") {
		t.Errorf("incomplete: %v, %v; want %v", inc, err, want != "")
	}
	// One loss is one detection: the next bumps compare with the new
	// baseline.
	for range 3 {
		l.bump(ctx)
		l.bumpFast(ctx)
	}
	if rec, _ := store.ReadLoss(ctx, rdb, "q"); rec != nil && rec.Detections != 1 {
		t.Errorf("%d detections of one loss", rec.Detections)
	}
}

// TestLaneLossConcurrentBumps: bumps overlapping in flight (every handler
// bumps after its sent mark, the ticker besides, several processes) never
// look like a counter going back.
func TestLaneLossConcurrentBumps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redisClient(t)
	procs := []*laneLoss{newLaneLoss(t, rdb), newLaneLoss(t, rdb)}
	var wg sync.WaitGroup
	for _, l := range procs {
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					if err := l.bumpWith(ctx, i%2 == 0); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if rec, _ := store.ReadLoss(ctx, rdb, "q"); rec != nil {
		t.Fatalf("concurrent bumps recorded a loss: %+v", rec)
	}
	// And the same processes still notice a real one.
	rdb.HSet(ctx, store.EpochKey("q"), "gen", 1)
	procs[0].bump(ctx)
	if rec, _ := store.ReadLoss(ctx, rdb, "q"); rec == nil || rec.Kind != store.LossOlderSnapshot {
		t.Fatalf("after the counter went back: %+v", rec)
	}
	// The other process learns of it from the record.
	procs[1].bump(ctx)
	if inc, _ := procs[1].incomplete(ctx, time.Now()); !inc || testutil.ToFloat64(procs[1].gauge) != 1 {
		t.Errorf("the other process: incomplete %v, gauge %v", inc, testutil.ToFloat64(procs[1].gauge))
	}
}

// TestLaneLossHorizon: after an acknowledgement only orders requested
// before the loss (with the clock margin) may still lack marks.
func TestLaneLossHorizon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redisClient(t)
	l := newLaneLoss(t, rdb)
	detected := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	if _, err := store.RecordLoss(ctx, rdb, store.Loss{Queue: "q", Kind: store.LossEmpty, DetectedAt: detected}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		requestedAt time.Time
		acked       bool
		want        bool
	}{
		{"any order while the loss is not acknowledged", detected.Add(24 * time.Hour), false, true},
		{"requested before the loss, acknowledged", detected.Add(-time.Hour), true, true},
		{"requested within the clock margin after it", detected.Add(lossClockMargin - time.Second), true, true},
		{"requested well after it", detected.Add(lossClockMargin + time.Second), true, false},
		{"no requested_at at all", time.Time{}, true, true},
	}
	for _, tt := range tests {
		if tt.acked {
			store.AckLoss(ctx, rdb, "q", detected.Add(time.Hour))
		}
		got, err := l.incomplete(ctx, tt.requestedAt)
		if err != nil || got != tt.want {
			t.Errorf("%s: %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

// TestLaneLossNil: a handler driven without a worker has no loss guard.
func TestLaneLossNil(t *testing.T) {
	var l *laneLoss
	if err := l.bump(context.Background()); err != nil {
		t.Error(err)
	}
	if inc, err := l.incomplete(context.Background(), time.Now()); inc || err != nil {
		t.Errorf("nil guard: %v, %v", inc, err)
	}
}

// TestLaneLossUnreplicatedBumpsNotKept: with a replica wait, a bump no
// replica acknowledged does not raise the baseline, so a failover that
// loses only such bumps is not a loss of what the workers waited for.
func TestLaneLossUnreplicatedBumpsNotKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redisClient(t)
	durable, err := store.NewDurable(rdb, "q", 1, 10*time.Millisecond) // no replica will answer
	if err != nil {
		t.Fatal(err)
	}
	l := newLossGuard(0).addLane(rdb, "q", durable, prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"}), zap.NewNop())
	for range 3 {
		if err := l.bump(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rdb.HSet(ctx, store.EpochKey("q"), "gen", 1) // the unacknowledged bumps are gone
	l.bump(ctx)
	if rec, _ := store.ReadLoss(ctx, rdb, "q"); rec != nil {
		t.Fatalf("bumps no replica acknowledged counted as a loss: %+v", rec)
	}
	// Nor is the marker gone: its id was never acknowledged either.
	rdb.Del(ctx, store.EpochKey("q"))
	l.bump(ctx)
	if rec, _ := store.ReadLoss(ctx, rdb, "q"); rec != nil {
		t.Fatalf("a marker no replica acknowledged, gone, counted as a loss: %+v", rec)
	}
	// Once the replicas acknowledge again (here: the wait switched off),
	// the baseline is kept and a loss is noticed.
	l.durable = nil
	l.bump(ctx)
	rdb.HSet(ctx, store.EpochKey("q"), "gen", 1)
	l.bump(ctx)
	if rec, _ := store.ReadLoss(ctx, rdb, "q"); rec == nil || rec.Kind != store.LossOlderSnapshot {
		t.Fatalf("after a kept bump, the counter going back: %+v", rec)
	}
}

// TestLossGuardFullBumpWhileCallsFlow: the periodic check bumps a lane in
// full (reading the loss records another process writes) every interval
// while the lane's calls have not bumped it for lossFullEvery, and at most
// every lossFullEvery while they do (a call every few seconds counts: a
// seller at a low rate): a loss recorded elsewhere is reported within
// lossFullEvery plus the interval.
func TestLossGuardFullBumpWhileCallsFlow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fastAgo and fullAgo: how long ago the lane's last call bump and
		// last full bump were judged (negative: never).
		fastAgo, fullAgo time.Duration
		reported         bool
	}{
		{"no calls: every interval", -1, 0, true},
		{"calls stopped lossFullEvery ago", lossFullEvery, 0, true},
		{"a call every few seconds, full bump just made: waits", 3 * time.Second, 0, false},
		{"calls flow, full bump just made: waits", 0, 0, false},
		{"calls flow, full bump almost lossFullEvery old: waits", 0, lossFullEvery - 500*time.Millisecond, false},
		{"calls flow, full bump lossFullEvery old: due", 0, lossFullEvery, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			rdb := redisClient(t)
			g := newLossGuard(time.Second)
			l := g.addLane(rdb, "q", nil, prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"}), zap.NewNop())
			if err := l.bump(ctx); err != nil {
				t.Fatal(err)
			}
			// Another process records a loss.
			if _, err := store.RecordLoss(ctx, rdb, store.Loss{Queue: "q", Kind: store.LossEmpty, DetectedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			l.lastFast.Store(0)
			if tt.fastAgo >= 0 {
				l.lastFast.Store(now.Add(-tt.fastAgo).UnixNano())
			}
			l.lastFull.Store(now.Add(-tt.fullAgo).UnixNano())
			g.tick(ctx)
			if got := len(g.reasons()) > 0; got != tt.reported {
				t.Fatalf("loss recorded by another process reported after one tick: %v, want %v", got, tt.reported)
			}
			if got := testutil.ToFloat64(l.gauge) == 1; got != tt.reported {
				t.Fatalf("gauge set %v, want %v", got, tt.reported)
			}
		})
	}
}

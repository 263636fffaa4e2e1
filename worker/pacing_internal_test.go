package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// TestPlanOrdersBySlot: a round goes first to the paced queues whose slot
// is due within fetchAhead, earliest first, then to the unpaced open
// queues; a paced queue due later, or just found empty, is left out and
// the earliest time one becomes due is the hold's wake.
func TestPlanOrdersBySlot(t *testing.T) {
	now := time.Now()
	type q struct {
		name        string
		open, paced bool
		readyIn     time.Duration
		emptyAgo    time.Duration // 0: never found empty
	}
	tests := []struct {
		name   string
		queues []q
		want   string
		due    bool
		wakeIn time.Duration // 0: no wake
	}{
		{"earliest slot first, unpaced after", []q{
			{"free", true, false, 0, 0},
			{"late", true, true, 30 * time.Millisecond, 0},
			{"overdue", true, true, -time.Second, 0},
			{"now", true, true, 0, 0},
		}, "[overdue now late free]", true, 0},
		{"not due yet: left out, wakes the hold", []q{
			{"far", true, true, time.Second, 0},
			{"near", true, true, 200 * time.Millisecond, 0},
		}, "[]", false, 200*time.Millisecond - fetchAhead},
		{"found empty: left out for emptyBackoff", []q{
			{"empty", true, true, -time.Second, time.Millisecond},
			{"free", true, false, 0, 0},
		}, "[free]", false, emptyBackoff - time.Millisecond},
		{"closed queues are not planned", []q{
			{"shut", false, true, -time.Second, 0},
			{"shut2", false, false, 0, 0},
		}, "[]", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names := make([]string, len(tt.queues))
			for i, q := range tt.queues {
				names[i] = q.name
			}
			a := newActivity(nil, names, ActivityOptions{}, zap.NewNop())
			var open []string
			for _, q := range tt.queues {
				qa := a.byQ[q.name]
				qa.open.Store(q.open)
				qa.pacer = &fakePacer{at: now.Add(q.readyIn), paced: q.paced}
				if q.emptyAgo > 0 {
					qa.emptyAt.Store(now.Add(-q.emptyAgo).UnixNano())
				}
				if q.open {
					open = append(open, q.name)
				}
			}
			a.setOpen(open)
			p := a.plan(now)
			if got := fmt.Sprint(p.queues); got != tt.want || p.due != tt.due {
				t.Fatalf("plan %v due %v, want %v due %v", got, p.due, tt.want, tt.due)
			}
			var wakeIn time.Duration
			if !p.wake.IsZero() {
				wakeIn = p.wake.Sub(now)
			}
			if wakeIn != tt.wakeIn {
				t.Fatalf("wake in %v, want %v", wakeIn, tt.wakeIn)
			}
		})
	}
}

// fakePacer is a paced (or not) queue whose slot is at at.
type fakePacer struct {
	at      time.Time
	paced   bool
	fetched int
}

func (f *fakePacer) readyAtNanos(int64) (int64, bool) { return f.at.UnixNano(), f.paced }
func (f *fakePacer) noteFetched()                     { f.fetched++ }

// TestRoundFollowsThePlan: every dequeue of a round, whichever queue asynq
// asked for, goes to the plan's next queue, and a dequeue that finds a
// task counts it in hand for that queue's seller; the rest of the round
// is answered without Redis.
func TestRoundFollowsThePlan(t *testing.T) {
	a := newActivity(nil, []string{"a", "b", "c"}, ActivityOptions{}, zap.NewNop())
	for _, q := range []string{"a", "b", "c"} {
		a.byQ[q].open.Store(true)
		a.byQ[q].last.Store(time.Now().UnixNano())
	}
	a.setOpen([]string{"a", "b", "c"})
	a.anyOpen.Store(true)
	now := time.Now()
	pacers := map[string]*fakePacer{"a": {at: now.Add(time.Hour)}, "b": {at: now.Add(-time.Millisecond)}, "c": {at: now.Add(-time.Second)}}
	for q, p := range pacers {
		p.paced = true
		a.byQ[q].pacer = p
	}
	var sent []string
	next := func(_ context.Context, cmd redis.Cmder) error {
		q := cmd.Args()[3].(string)
		sent = append(sent, q)
		if len(sent) == 2 { // the second planned queue has a task
			return nil
		}
		cmd.SetErr(redis.Nil)
		return redis.Nil
	}
	for _, q := range []string{"a", "b"} { // asynq's order; a task ends the round
		a.dequeue(context.Background(), dequeueCmd(q), q, next)
	}
	want := fmt.Sprint([]string{dequeueCmd("c").Args()[3].(string), dequeueCmd("b").Args()[3].(string)})
	if fmt.Sprint(sent) != want {
		t.Fatalf("dequeues went to %v, want %v (c's slot first, then b's; a's is an hour away)", sent, want)
	}
	if got := [3]int{pacers["a"].fetched, pacers["b"].fetched, pacers["c"].fetched}; got != [3]int{0, 1, 0} {
		t.Fatalf("counted in hand for a, b, c: %v, want b once", got)
	}
	if a.byQ["c"].emptyAt.Load() == 0 {
		t.Fatal("c found empty but not left out of the next rounds")
	}
	if a.pos.Load() != 0 {
		t.Fatalf("round not over after a task: pos %d", a.pos.Load())
	}
}

// TestFetchReadyAtCountsTasksInHand: a paced seller's next fetch waits one
// interval per task in hand, falls back when a claim is released (by the
// reservation's answer or the task's end, once), never before a known
// cooldown ends, and a claim that never came back stops counting after
// claimExpiry. An unpaced limiter says so.
func TestFetchReadyAtCountsTasksInHand(t *testing.T) {
	l := NewLimiter(nil, "q", LimiterOptions{RatePerMinute: 60})
	now := time.Now()
	if at, paced := l.fetchReadyAt(now); !paced || !at.Equal(now) {
		t.Fatalf("nothing known: %v %v, want now, paced", at, paced)
	}
	l.noteFetched()
	l.noteFetched()
	if at, _ := l.fetchReadyAt(now); !at.Equal(now.Add(2 * l.interval)) {
		t.Fatalf("two in hand: ready in %v, want %v", at.Sub(now), 2*l.interval)
	}
	ctx, claim := withFetchClaim(context.Background(), l)
	releaseFetchClaim(ctx)
	claim.release()
	if at, _ := l.fetchReadyAt(now); !at.Equal(now.Add(l.interval)) {
		t.Fatalf("a claim released twice: ready in %v, want %v (counted once)", at.Sub(now), l.interval)
	}
	l.cooldownUntil.Store(now.Add(time.Hour).UnixNano())
	if at, _ := l.fetchReadyAt(now); !at.Equal(now.Add(time.Hour)) {
		t.Fatalf("in a cooldown: ready in %v, want at its end", at.Sub(now))
	}
	l.cooldownUntil.Store(0)
	l.lastClaim.Store(now.Add(-claimExpiry - time.Second).UnixNano())
	if at, _ := l.fetchReadyAt(now); !at.Equal(now) {
		t.Fatalf("a claim older than claimExpiry still counts: ready in %v", at.Sub(now))
	}
	for _, o := range []LimiterOptions{{}, {RatePerMinute: 60, MaxInflight: 2}} {
		if _, paced := NewLimiter(nil, "q", o).fetchReadyAt(now); paced {
			t.Fatalf("limiter %+v is paced; only a rate-only limiter is", o)
		}
	}
}

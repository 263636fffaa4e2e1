package bench

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestBetween: a window's rate is the calls between its two readings over
// the time between them; an empty or zero-length window has no rate.
func TestBetween(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		a, b  reading
		rate  float64
		calls int64
		secs  float64
	}{
		{"3 s, 12000 calls", reading{t0, 1000}, reading{t0.Add(3 * time.Second), 13000}, 4000, 12000, 3},
		{"the counter's start does not matter", reading{t0, 0}, reading{t0.Add(4 * time.Second), 12000}, 3000, 12000, 4},
		{"a window longer than asked", reading{t0, 500}, reading{t0.Add(3100 * time.Millisecond), 3600}, 1000, 3100, 3.1},
		{"no calls", reading{t0, 7}, reading{t0.Add(3 * time.Second), 7}, 0, 0, 3},
		{"no time", reading{t0, 7}, reading{t0, 9}, 0, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := between(tt.a, tt.b)
			if w.Rate != tt.rate || w.Calls != tt.calls || w.Seconds != tt.secs {
				t.Fatalf("window %+v, want rate %v, calls %d, seconds %v", w, tt.rate, tt.calls, tt.secs)
			}
		})
	}
}

// TestMidpoint: a reading stands for the middle of its request.
func TestMidpoint(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	if got := midpoint(t0, t0.Add(4*time.Millisecond)); !got.Equal(t0.Add(2 * time.Millisecond)) {
		t.Fatalf("midpoint %v, want t0+2ms", got.Sub(t0))
	}
}

// TestBacklogFor: a run's backlog covers the lead-in, the window and one
// poll at its rate, times the margin; never less than the least asked;
// a retry at least doubles it.
func TestBacklogFor(t *testing.T) {
	tests := []struct {
		name           string
		rate           float64
		leadIn, length time.Duration
		least          int
		want           int
	}{
		// 1000/s × (1 + 3 + 0.1) s × 1.5
		{"default round", 1000, time.Second, 3 * time.Second, 0, 6150},
		{"rounds up", 1001, time.Second, 3 * time.Second, 0, 6157},
		{"the least wins", 10, time.Second, 3 * time.Second, 2000, 2000},
		{"longer rounds need more", 1000, time.Second, 10 * time.Second, 0, 16650},
		// 100/s × (0.2 + 0.2 + 0.1) s × 1.5
		{"test rounds", 100, 200 * time.Millisecond, 200 * time.Millisecond, 1, 75},
		{"absurd rates stay an int", 1e12, time.Second, time.Hour, 0, 1<<31 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := backlogFor(tt.rate, tt.leadIn, tt.length, tt.least); got != tt.want {
				t.Fatalf("backlogFor(%v, %s, %s, %d) = %d, want %d", tt.rate, tt.leadIn, tt.length, tt.least, got, tt.want)
			}
		})
	}
	grown := []struct {
		name    string
		backlog int
		seen    float64
		want    int
	}{
		{"what the seen rate needs", 1000, 2000, 12300},
		{"at least double", 1000, 10, 2000},
		{"a zero reading still grows", 500, 0, 1000},
	}
	for _, tt := range grown {
		t.Run("grown: "+tt.name, func(t *testing.T) {
			if got := grownBacklog(tt.backlog, tt.seen, time.Second, 3*time.Second); got != tt.want {
				t.Fatalf("grownBacklog(%d, %v) = %d, want %d", tt.backlog, tt.seen, got, tt.want)
			}
		})
	}
}

// TestLeadInFor: a second, or the whole round when it is shorter.
func TestLeadInFor(t *testing.T) {
	for _, tt := range []struct{ length, want time.Duration }{
		{3 * time.Second, time.Second}, {10 * time.Second, time.Second}, {200 * time.Millisecond, 200 * time.Millisecond},
	} {
		if got := leadInFor(tt.length); got != tt.want {
			t.Errorf("leadInFor(%s) = %s, want %s", tt.length, got, tt.want)
		}
	}
}

// TestValidateRoundTime: rounds of 3 s or more pass; shorter ones only
// with the tests' knob, and never none; the refusal names the flag and
// the floor. Run refuses them before starting anything.
func TestValidateRoundTime(t *testing.T) {
	tests := []struct {
		name    string
		length  time.Duration
		short   bool
		wantErr string
	}{
		{"the floor", 3 * time.Second, false, ""},
		{"longer", 10 * time.Second, false, ""},
		{"just below", 2999 * time.Millisecond, false, "--round-time 2.999s is shorter than 3s"},
		{"the old rounds", 300 * time.Millisecond, false, "give 3s or more"},
		{"short with the knob", 300 * time.Millisecond, true, ""},
		{"zero even with the knob", 0, true, "--round-time 0s"},
		{"negative", -time.Second, false, "--round-time -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateRoundTime(tt.length, tt.short)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not say %q", err, tt.wantErr)
			}
		})
	}
	// Run checks before it starts a Redis: a refused round starts nothing.
	if _, err := Run(context.Background(), Options{RoundTime: time.Second, Phases: []string{"processing"}, RedisURL: "redis://127.0.0.1:1/0"}); err == nil || !strings.Contains(err.Error(), "--round-time 1s") {
		t.Fatalf("Run with 1 s rounds: %v, want the --round-time refusal", err)
	}
}

// TestMeasure drives a window over made-up counters: a steady variant
// gives a window of at least the round; a queue that empties makes the run
// dry with the rate seen so far; a process that ends early ends the
// window with its error.
func TestMeasure(t *testing.T) {
	const length = 150 * time.Millisecond
	// calls grows by one per read; pending empties after emptyAfter reads
	// (0: never).
	counters := func(emptyAfter int64) (calls, pending counter) {
		var n, reads atomic.Int64
		calls = func(context.Context) (int64, error) { return n.Add(1), nil }
		pending = func(context.Context) (int64, error) {
			if r := reads.Add(1); emptyAfter > 0 && r >= emptyAfter {
				return 0, nil
			}
			return 100, nil
		}
		return calls, pending
	}
	t.Run("steady", func(t *testing.T) {
		calls, pending := counters(0)
		w, err := measure(context.Background(), calls, pending, exits{}, 10*time.Millisecond, length)
		if err != nil || w.Dry || w.Seconds < length.Seconds() || w.Calls < 1 || w.Rate <= 0 {
			t.Fatalf("window %+v, %v; want a window of at least %s with calls", w, err, length)
		}
	})
	t.Run("ran dry", func(t *testing.T) {
		calls, pending := counters(1)
		w, err := measure(context.Background(), calls, pending, exits{}, 10*time.Millisecond, length)
		if err != nil || !w.Dry || w.Rate != 0 || w.SeenRate <= 0 {
			t.Fatalf("window %+v, %v; want a dry run with a rate seen", w, err)
		}
	})
	t.Run("a process ends", func(t *testing.T) {
		calls, pending := counters(0)
		ended := make(chan error, 1)
		ended <- errors.New("the peer process ended early")
		_, err := measure(context.Background(), calls, pending, exits{sandbox: ended}, 10*time.Millisecond, length)
		if err == nil || !strings.Contains(err.Error(), "ended early") {
			t.Fatalf("error %v, want the process's", err)
		}
	})
}

package bench

import (
	"slices"
	"testing"
	"time"
)

// TestScoreQuota judges made-up call times: calls counted only inside the
// window, rate-limit answers and calls inside their cooldown fail the
// combination, and a quota used below 99% fails it too.
func TestScoreQuota(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	const window, cooldown = time.Minute, 10 * time.Second
	// every spaced n calls of the rate over the window, starting at t0
	every := func(n int) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = t0.Add(time.Duration(i) * window / time.Duration(n))
		}
		return out
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name              string
		rate              int
		accepted, limited []time.Time
		calls, inCooldown int
		rateLimitAt       []float64
		pass              bool
	}{
		{"the whole quota", 100, every(100), nil, 100, 0, nil, true},
		{"calls outside the window do not count", 100, append(every(100), at(-time.Second), at(window)), nil, 100, 0, nil, true},
		{"below 99%", 100, every(98), nil, 98, 0, nil, false},
		// Calls every 600 ms: 30.6 s .. 39.6 s are inside the cooldown.
		{"a rate-limit answer and the calls in its cooldown fail", 100, every(100), []time.Time{at(30 * time.Second)}, 100, 16, []float64{30}, false},
		// Calls every 6 s: the one at 30 s was on the wire (grace), 36 s is inside.
		{"calls within the grace are excused", 10, every(10),
			[]time.Time{at(29900 * time.Millisecond)}, 10, 1, []float64{29.9}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := scoreQuota(2, tt.rate, t0, window, cooldown, tt.accepted, tt.limited)
			if row.Calls != tt.calls || row.CallsInCooldown != tt.inCooldown || row.Pass != tt.pass ||
				row.RateLimitAnswers != len(tt.limited) || !slices.Equal(row.RateLimitAt, tt.rateLimitAt) {
				t.Errorf("row %+v, want calls %d, in cooldown %d, rate-limit at %v, pass %v", *row, tt.calls, tt.inCooldown, tt.rateLimitAt, tt.pass)
			}
			if row.Processes != 2 || row.Quota != tt.rate {
				t.Errorf("row %+v names the wrong combination", *row)
			}
		})
	}
}

package worker

import (
	"testing"
	"time"
)

// TestStartConfirmWrite: a confirmation is written again only inside the
// window and only when a write as long as the longest so far ends before
// the attempt's lease does. Checking only the window's start let a 10 s
// window hold an attempt 25-41 s (each write during a stall takes go-redis's
// read timeout on every try), past asynq's 30 s lease.
func TestStartConfirmWrite(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	lease := t0.Add(confirmLeaseEnd)
	for _, tt := range []struct {
		name          string
		now           time.Time
		wait, longest time.Duration
		windowEnd     time.Time
		want          bool
	}{
		{"short write early in the window", t0.Add(3 * time.Second), 250 * time.Millisecond, time.Second, t0.Add(13 * time.Second), true},
		{"window over", t0.Add(13 * time.Second), 250 * time.Millisecond, time.Second, t0.Add(13 * time.Second), false},
		{"inside the window but the write would outlive the lease", t0.Add(15 * time.Second), 250 * time.Millisecond, 15 * time.Second, t0.Add(25 * time.Second), false},
		{"a long first write, a retry that still ends in the lease", t0.Add(8 * time.Second), 250 * time.Millisecond, 12 * time.Second, t0.Add(18 * time.Second), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := startConfirmWrite(tt.now, tt.wait, tt.longest, tt.windowEnd, lease); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

package worker

import "testing"

// TestShareGate: how many tasks of one seller the gate lets in at once,
// with and without another seller's tasks waiting.
func TestShareGate(t *testing.T) {
	tests := []struct {
		name          string
		concurrency   int
		share         float64
		othersWaiting bool
		want          int // places granted before the first refusal
	}{
		{"others wait: the share", 10, 0.5, true, 5},
		{"alone: every worker but one", 10, 0.5, false, 9},
		{"others wait, share rounds up", 4, 0.3, true, 2},
		{"alone, small pool", 4, 0.5, false, 3},
		{"alone, share already all but one", 4, 0.75, false, 3},
		{"two workers, alone", 2, 0.5, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newShareGate(tt.concurrency, tt.share, func() bool { return tt.othersWaiting })
			got := 0
			for g.enter() {
				got++
				if got > tt.concurrency {
					t.Fatal("the gate never refused")
				}
			}
			if got != tt.want {
				t.Fatalf("granted %d, want %d", got, tt.want)
			}
			g.leave()
			if !g.enter() {
				t.Fatal("a place given back was not granted again")
			}
		})
	}
	if g := newShareGate(4, 1, nil); g != nil {
		t.Fatal("a share of 1 needs no gate")
	}
}

package bench

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"time"
)

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is the median, min and max of v, rounded.
func spread(v []float64) (med, lo, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return round(median(s)), round(s[0]), round(s[len(s)-1])
}

func round2(f float64) float64 { return round(f) }

func wait(ctx context.Context, done <-chan struct{}, limit time.Duration) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(limit):
		return fmt.Errorf("not finished within %s", limit)
	}
}

func percentile(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// span times n events from the first to the last.
type span struct {
	first, last, count atomic.Int64
	n                  int64
	done               chan struct{}
}

func (s *span) init(n int) { s.n, s.done = int64(n), make(chan struct{}) }

func (s *span) tick() {
	now := time.Now().UnixNano()
	s.first.CompareAndSwap(0, now)
	if s.count.Add(1) == s.n {
		s.last.Store(now)
		close(s.done)
	}
}

func (s *span) rate() float64 {
	d := time.Duration(s.last.Load() - s.first.Load())
	if d <= 0 {
		return 0
	}
	return float64(s.n-1) / d.Seconds()
}

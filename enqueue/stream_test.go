package enqueue

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Stream emits results while the input is still being read: it never
// holds the whole input, so a huge file is enqueued in bounded memory.
func TestStreamEmitsBeforeTheInputEnds(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	firstEmitted := make(chan struct{})
	seq := func(yield func(Input) bool) {
		for i := range 1000 {
			if !yield(Input{No: fmt.Sprintf("SE%04d", i)}) {
				return
			}
		}
		// The input goes on only once a result came out.
		select {
		case <-firstEmitted:
		case <-time.After(20 * time.Second):
			t.Error("no result emitted while the input was still open")
			return
		}
		yield(Input{No: "SE-last"})
	}
	n := 0
	err := c.Stream(context.Background(), seq, ManyOptions{Window: 600}, func(r Result) {
		if n == 0 {
			close(firstEmitted)
		}
		n++
		if r.Result != Enqueued {
			t.Errorf("%+v", r)
		}
	})
	if err != nil || n != 1001 {
		t.Fatalf("%d results, %v", n, err)
	}
}

// A repeat waits for its first copy, so the first copy is the one enqueued
// and every later one is in_batch, whatever the timing.
func TestStreamRepeatsAreInBatch(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	var in []Input
	for i := range 300 {
		in = append(in, Input{No: fmt.Sprintf("RP%03d", i%100)})
	}
	seq := func(yield func(Input) bool) {
		for _, x := range in {
			if !yield(x) {
				return
			}
		}
	}
	i := 0
	err := c.Stream(context.Background(), seq, ManyOptions{}, func(r Result) {
		want := Enqueued
		if i >= 100 {
			want = Duplicate
		}
		if r.Result != want || (want == Duplicate && (r.State != StateInBatch || r.Error != fmt.Sprintf("repeats item %d of this batch", i%100+1))) {
			t.Errorf("item %d: %+v", i+1, r)
		}
		i++
	})
	if err != nil || i != 300 {
		t.Fatal(i, err)
	}
}

// The repeat memory is bounded: it forgets the oldest number first.
func TestRecentForgetsOldest(t *testing.T) {
	t.Parallel()
	r := newRecent(3)
	for i, no := range []string{"A", "B", "C"} {
		if _, hit := r.add(no, i); hit {
			t.Fatalf("%s: hit on first sight", no)
		}
	}
	if first, hit := r.add("B", 3); !hit || first != 1 {
		t.Fatalf("B: %d %v, want index 1", first, hit)
	}
	r.add("D", 4) // evicts A
	if _, hit := r.add("A", 5); hit {
		t.Fatal("A still remembered after 3 newer numbers")
	}
	if len(r.index) > 3 || len(r.ring) > 3 {
		t.Fatalf("grew: %d %d", len(r.index), len(r.ring))
	}
}

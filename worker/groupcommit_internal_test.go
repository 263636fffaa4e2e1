package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// gcProbe is a flush that reports each batch it gets and, while gated,
// holds every flush until the gate opens; acked counts the items whose
// flush returned.
type gcProbe struct {
	batches chan []int
	gate    chan struct{}
	err     error
	acked   atomic.Int64
}

func newGCProbe(gated bool) *gcProbe {
	p := &gcProbe{batches: make(chan []int, 100), gate: make(chan struct{})}
	if !gated {
		close(p.gate)
	}
	return p
}

func (p *gcProbe) flush(_ context.Context, items []int) ([]int, error) {
	p.batches <- append([]int(nil), items...)
	<-p.gate
	if p.err != nil {
		return nil, p.err
	}
	p.acked.Add(int64(len(items)))
	out := make([]int, len(items))
	for i, v := range items {
		out[i] = v * 10
	}
	return out, nil
}

// gcCall is one member's answer.
type gcCall struct {
	item, val int
	err       error
	// ackedBefore is how many items the flush had acknowledged when do
	// returned.
	ackedBefore int64
}

// submit runs do for item on its own goroutine and sends the answer.
func submit(g *groupCommit[int, int], p *gcProbe, item int, out chan<- gcCall, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		v, err := g.do(context.Background(), item)
		out <- gcCall{item: item, val: v, err: err, ackedBefore: p.acked.Load()}
	}()
}

// TestGroupCommitBatches: a lone item is flushed at once; items that
// arrive during a flush gather into one batch flushed when it returns; a
// batch that fills is flushed at once, even while another is under way;
// with a linger, a lone item waits for it; and every member gets its own
// result only after its batch's flush returned.
func TestGroupCommitBatches(t *testing.T) {
	t.Run("lone item at once", func(t *testing.T) {
		p := newGCProbe(false)
		g := newGroupCommit(8, 0, p.flush)
		defer g.close()
		v, err := g.do(context.Background(), 7)
		if err != nil || v != 70 {
			t.Fatalf("do(7) = %d, %v; want 70, nil", v, err)
		}
		if b := testkit.Recv(t, p.batches, "the batch"); len(b) != 1 {
			t.Errorf("batch %v, want [7] alone", b)
		}
	})

	t.Run("gather during a flush, full at once", func(t *testing.T) {
		p := newGCProbe(true)
		g := newGroupCommit(3, 0, p.flush)
		out := make(chan gcCall, 10)
		var wg sync.WaitGroup
		submit(g, p, 1, out, &wg)
		if b := testkit.Recv(t, p.batches, "the first flush"); len(b) != 1 {
			t.Fatalf("first batch %v, want [1]", b)
		}
		// The first flush is held: two items gather, none is flushed.
		submit(g, p, 2, out, &wg)
		submit(g, p, 3, out, &wg)
		testkit.Until(t, "two items pending", func() bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			return len(g.pending) == 2
		})
		select {
		case b := <-p.batches:
			t.Fatalf("batch %v flushed while the one before was under way and it was not full", b)
		default:
		}
		// A third fills the batch: flushed at once, the first still held.
		submit(g, p, 4, out, &wg)
		if b := testkit.Recv(t, p.batches, "the full batch"); len(b) != 3 {
			t.Fatalf("full batch %v, want 3 items", b)
		}
		select {
		case c := <-out:
			t.Fatalf("item %d returned before its flush returned", c.item)
		default:
		}
		close(p.gate)
		seen := map[int]bool{}
		for range 4 {
			c := testkit.Recv(t, out, "an answer")
			if c.err != nil || c.val != c.item*10 {
				t.Errorf("item %d: %d, %v; want %d, nil", c.item, c.val, c.err, c.item*10)
			}
			if c.ackedBefore == 0 {
				t.Errorf("item %d returned before any flush was acknowledged", c.item)
			}
			seen[c.item] = true
		}
		wg.Wait()
		if len(seen) != 4 {
			t.Errorf("answers for %v, want items 1-4", seen)
		}
		g.close()
	})

	t.Run("gathered batch flushed when the flush under way returns", func(t *testing.T) {
		p := newGCProbe(true)
		g := newGroupCommit(16, 0, p.flush)
		out := make(chan gcCall, 10)
		var wg sync.WaitGroup
		submit(g, p, 1, out, &wg)
		testkit.Recv(t, p.batches, "the first flush")
		for i := 2; i <= 4; i++ {
			submit(g, p, i, out, &wg)
		}
		testkit.Until(t, "three items pending", func() bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			return len(g.pending) == 3
		})
		close(p.gate)
		if b := testkit.Recv(t, p.batches, "the gathered batch"); len(b) != 3 {
			t.Errorf("gathered batch %v, want the 3 items that arrived during the first flush", b)
		}
		for range 4 {
			if c := testkit.Recv(t, out, "an answer"); c.err != nil {
				t.Error(c.err)
			}
		}
		wg.Wait()
		g.close()
	})

	t.Run("linger", func(t *testing.T) {
		p := newGCProbe(false)
		const linger = 30 * time.Millisecond
		g := newGroupCommit(8, linger, p.flush)
		defer g.close()
		start := time.Now()
		if _, err := g.do(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		// A timer never fires early: the lone item waited the linger.
		if took := time.Since(start); took < linger {
			t.Errorf("a lone item was flushed after %s, before the linger of %s", took, linger)
		}
		testkit.Recv(t, p.batches, "the lingered batch")
	})
}

// TestGroupCommitErrorFailsEveryMember: a flush that fails fails each
// member of its batch, and only that batch.
func TestGroupCommitErrorFailsEveryMember(t *testing.T) {
	p := newGCProbe(true)
	g := newGroupCommit(16, 0, p.flush)
	out := make(chan gcCall, 10)
	var wg sync.WaitGroup
	submit(g, p, 1, out, &wg)
	testkit.Recv(t, p.batches, "the first flush")
	for i := 2; i <= 4; i++ {
		submit(g, p, i, out, &wg)
	}
	testkit.Until(t, "three items pending", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.pending) == 3
	})
	p.err = errors.New("redis down")
	close(p.gate)
	for range 4 {
		c := testkit.Recv(t, out, "an answer")
		if c.err == nil || c.err.Error() != "redis down" {
			t.Errorf("item %d: err %v, want the flush's error", c.item, c.err)
		}
	}
	wg.Wait()
	g.close()

	// A flush that answers for fewer items than it got fails them all.
	short := newGroupCommit(4, 0, func(context.Context, []int) ([]int, error) { return nil, nil })
	defer short.close()
	if _, err := short.do(context.Background(), 1); err == nil {
		t.Error("a flush without a result for its item gave no error")
	}
}

// TestGroupCommitCloseFlushesPending: close flushes the items waiting for
// their linger, waits for them, and refuses new ones.
func TestGroupCommitCloseFlushesPending(t *testing.T) {
	p := newGCProbe(false)
	g := newGroupCommit(8, time.Hour, p.flush)
	out := make(chan gcCall, 10)
	var wg sync.WaitGroup
	submit(g, p, 1, out, &wg)
	submit(g, p, 2, out, &wg)
	testkit.Until(t, "two items pending", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.pending) == 2
	})
	g.close()
	if b := testkit.Recv(t, p.batches, "the batch flushed by close"); len(b) != 2 {
		t.Errorf("close flushed %v, want the 2 pending items", b)
	}
	for range 2 {
		if c := testkit.Recv(t, out, "an answer"); c.err != nil || c.val != c.item*10 {
			t.Errorf("item %d after close: %d, %v", c.item, c.val, c.err)
		}
	}
	wg.Wait()
	if _, err := g.do(context.Background(), 3); !errors.Is(err, errGroupCommitClosed) {
		t.Errorf("do after close: %v, want errGroupCommitClosed", err)
	}
	g.close() // twice is fine
}

// TestGroupCommitConcurrent: many callers, every one answered with its own
// result, fewer flushes than items (-race checks the locking).
func TestGroupCommitConcurrent(t *testing.T) {
	var flushes atomic.Int64
	g := newGroupCommit(8, 0, func(_ context.Context, items []int) ([]int, error) {
		flushes.Add(1)
		time.Sleep(100 * time.Microsecond) // a round trip's worth, so batches form
		out := make([]int, len(items))
		for i, v := range items {
			out[i] = -v
		}
		return out, nil
	})
	const n = 400
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := g.do(context.Background(), i); err != nil || v != -i {
				errs <- "wrong answer"
			}
		}()
	}
	wg.Wait()
	g.close()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if f := flushes.Load(); f >= n {
		t.Logf("%d flushes for %d items: no batch formed on this machine", f, n)
	}
}

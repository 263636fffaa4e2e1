package enqueue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// stallableRedis starts a redis-server of the test's own, so the test can
// stop it with SIGSTOP (a Redis that stalls: connections stay open, nothing
// answers) and resume it.
func stallableRedis(t *testing.T) (addr string, stall, resume func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	addr = testkit.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume = func() { cmd.Process.Signal(syscall.SIGCONT) }
	t.Cleanup(func() {
		once.Do(func() {
			resume()
			cmd.Process.Kill()
			cmd.Wait()
		})
	})
	testkit.WaitListening(t, addr)
	return addr, func() { cmd.Process.Signal(syscall.SIGSTOP) }, resume
}

// When Redis stalls mid-enqueue, the stream ends within its timeouts, and
// every result it reported is true once Redis resumes: enqueued numbers
// are queued, failed ones are not, none is a duplicate (all were fresh),
// and what it could not know is unknown with how to verify.
func TestStreamUnderStalledRedis(t *testing.T) {
	t.Parallel()
	addr, stall, resume := stallableRedis(t)
	c, err := New(asynq.RedisClientOpt{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const n = 20000
	var (
		mu       sync.Mutex
		results  []Result
		stalled  = make(chan struct{})
		stallOne sync.Once
	)
	seq := func(yield func(Input) bool) {
		for i := range n {
			if !yield(Input{No: fmt.Sprintf("ST%06d", i)}) {
				return
			}
		}
	}
	emit := func(r Result) {
		mu.Lock()
		results = append(results, r)
		got := len(results)
		mu.Unlock()
		if got == 500 {
			stallOne.Do(func() { stall(); close(stalled) })
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- c.Stream(context.Background(), seq, ManyOptions{CallTimeout: 300 * time.Millisecond, RecheckTimeout: 300 * time.Millisecond}, emit)
	}()
	select {
	case <-stalled:
	case <-time.After(30 * time.Second):
		t.Fatal("the first 500 results never came")
	}
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(30 * time.Second):
		resume()
		t.Fatal("the stream did not end while Redis stalled: some call is unbounded")
	}
	resume()
	if !errors.Is(runErr, ErrRedisStalled) {
		t.Fatalf("stream error %v, want ErrRedisStalled", runErr)
	}
	if len(results) != n {
		t.Fatalf("%d results for %d numbers", len(results), n)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := context.Background()
	count := map[Outcome]int{}
	for _, r := range results {
		count[r.Result]++
		exists := rdb.Exists(ctx, "asynq:{wdt-cancel}:t:"+r.PreStockinNo).Val() == 1
		switch r.Result {
		case Enqueued:
			if !exists {
				t.Errorf("%s reported enqueued, not in Redis", r.PreStockinNo)
			}
		case Failed:
			if exists {
				t.Errorf("%s reported failed, but queued: %s", r.PreStockinNo, r.Error)
			}
		case Unknown:
			if !strings.Contains(r.Error, "wdtcancel status "+r.PreStockinNo) {
				t.Errorf("unknown without how to verify: %s", r.Error)
			}
		default:
			t.Errorf("%s: %s %s %s, but every number was fresh", r.PreStockinNo, r.Result, r.State, r.Error)
		}
	}
	if count[Failed] == 0 {
		t.Fatalf("no number left unsent: the stall came too late (%v)", count)
	}
	t.Logf("outcomes %v", count)
}

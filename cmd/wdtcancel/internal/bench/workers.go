package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// workerPool is worker processes the bench started.
type workerPool struct {
	stop   func()       // SIGTERM each, then wait for each
	exited <-chan error // a worker that ended before stop, with its stderr
	pids   []int
}

// startWorkers starts procs worker processes with args and env (no ops
// port, warn-level logs). A worker that ends before stop is reported on
// exited with the end of its stderr, so a worker that refuses its flags
// fails the bench at once instead of leaving it waiting.
func (r *runner) startWorkers(procs int, args, env []string) (*workerPool, error) {
	return r.startWorkersLogging(procs, args, env, "warn", nil)
}

// startWorkersLogging is startWorkers at the given log level; with logs,
// every byte the workers write (stdout and stderr) is counted there.
func (r *runner) startWorkersLogging(procs int, args, env []string, level string, logs *atomic.Int64) (*workerPool, error) {
	var (
		cmds     []*exec.Cmd
		wg       sync.WaitGroup
		stopping atomic.Bool
	)
	early := make(chan error, procs)
	pool := &workerPool{exited: early}
	pool.stop = func() {
		stopping.Store(true)
		for _, c := range cmds {
			c.Process.Signal(syscall.SIGTERM)
		}
		wg.Wait()
	}
	for i := 0; i < procs; i++ {
		a := append(append([]string(nil), args...), "--listen", "", "--concurrency", strconv.Itoa(r.o.Concurrency), "--log-level", level)
		if i == 0 {
			a = append(a, r.firstWorkerArgs...)
		}
		cmd := r.o.WorkerCommand(a, env)
		var stderr tailBuffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if logs != nil {
			cmd.Stdout, cmd.Stderr = &countingWriter{n: logs}, io.MultiWriter(&stderr, &countingWriter{n: logs})
		}
		if err := cmd.Start(); err != nil {
			pool.stop()
			return nil, err
		}
		cmds = append(cmds, cmd)
		pool.pids = append(pool.pids, cmd.Process.Pid)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cmd.Wait()
			if !stopping.Load() {
				early <- fmt.Errorf("a worker process ended early (%v): %s", err, stderr.String())
			}
		}()
	}
	return pool, nil
}

// waitOrExit waits for done, for a worker that ends early, or for the
// deadline.
func waitOrExit(ctx context.Context, done <-chan struct{}, exited <-chan error, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case err := <-exited:
		return err
	case <-t.C:
		return fmt.Errorf("not done after %s", d)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2048 {
		b.buf = b.buf[len(b.buf)-2048:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}

// oneQueueRun fills a fresh queue with n tasks for the single seller and
// times procs worker processes through them, from the first call to the
// last; with resources, it also reads the first process's peak RSS and CPU.
func (r *runner) oneQueueRun(ctx context.Context, name, prefix string, n, procs int, redisURL string, resources bool) (float64, *Resources, error) {
	q := r.queue(name)
	var first, last, calls atomic.Int64
	done := make(chan struct{})
	sb, err := sandbox.NewServer(sandbox.Options{OnCall: func(string) {
		now := time.Now().UnixNano()
		first.CompareAndSwap(0, now)
		if calls.Add(1) == int64(n) {
			last.Store(now)
			close(done)
		}
	}})
	if err != nil {
		return 0, nil, err
	}
	defer sb.Close()
	if err := r.fill(ctx, q, prefix, n); err != nil {
		return 0, nil, err
	}
	env := []string{"REDIS_URL=" + redisURL, "WDT_URL=" + sb.APIURL(), "WDT_SID=sandbox", "WDT_APPKEY=sandbox", "WDT_APPSECRET=sandbox:sandbox"}
	pool, err := r.startWorkers(procs, []string{"--queue", q}, env)
	if err != nil {
		return 0, nil, err
	}
	waitErr := waitOrExit(ctx, done, pool.exited, 10*time.Minute)
	var res *Resources
	if resources && waitErr == nil {
		res = procResources(pool.pids[0], n)
	}
	pool.stop()
	if waitErr != nil {
		return 0, nil, waitErr
	}
	return float64(n-1) / time.Duration(last.Load()-first.Load()).Seconds(), res, nil
}

// procResources reads peak RSS and CPU time of a live process from /proc.
func procResources(pid, tasksDone int) *Resources {
	res := &Resources{}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		if v := infoField(strings.ReplaceAll(string(b), "\t", ""), "VmHWM"); v != "" {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			res.WorkerPeakRSSMB = round(kb / 1024)
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		if i := strings.LastIndex(s, ")"); i > 0 {
			f := strings.Fields(s[i+2:])
			if len(f) > 12 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				res.WorkerCPUSecPer1000 = round((ut + st) / 100 / float64(tasksDone) * 1000)
			}
		}
	}
	return res
}

// countingWriter counts the bytes written to it.
type countingWriter struct{ n *atomic.Int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}

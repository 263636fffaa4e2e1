package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/redisurl"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// The processing phase's processes: the sandbox (`wdtcancel sandbox`),
// the no-op handler and the peers (`wdtcancel bench --child KIND`), and
// wdtcancel itself (`wdtcancel worker`, through startWorkersLogging). Each
// runs in its own process so that no variant shares a Go runtime, a
// scheduler or a garbage collector with the sandbox it calls or with the
// bench that counts, and all four run under the same conditions.

// ChildKinds are the handlers `wdtcancel bench --child` runs.
var ChildKinds = []string{"noop", "peer", "peer_result", "peer_safe"}

// ChildOptions configure RunChild.
type ChildOptions struct {
	Kind        string // one of ChildKinds
	RedisURL    string
	Queue       string
	Concurrency int
	WDTURL      string // the sandbox's API URL; unused by noop
}

// RunChild serves o.Queue with one of the bench's reference handlers until
// ctx ends (SIGTERM from the bench), then shuts the asynq server down:
// `wdtcancel bench --child KIND`, started by the processing phase only.
func RunChild(ctx context.Context, o ChildOptions) error {
	modes := map[string]peerMode{"peer": peerPlain, "peer_result": peerResult, "peer_safe": peerSafe}
	mode, isPeer := modes[o.Kind]
	if !isPeer && o.Kind != "noop" {
		return fmt.Errorf("bench --child %q: not a handler the bench runs; it starts its children itself with one of %v", o.Kind, ChildKinds)
	}
	if o.Queue == "" || o.RedisURL == "" || (isPeer && o.WDTURL == "") {
		return fmt.Errorf("bench --child %s: --child-queue, REDIS_URL and (peers) WDT_URL must be set; the bench sets them when it starts its children", o.Kind)
	}
	conn, err := redisurl.Parse(o.RedisURL)
	if err != nil {
		return fmt.Errorf("bench --child %s: REDIS_URL: %w", o.Kind, err)
	}
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: o.Concurrency, Queues: map[string]int{o.Queue: 1},
		TaskCheckInterval: worker.DefaultTaskCheckInterval, LogLevel: asynq.FatalLevel,
	})
	var h asynq.Handler = asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })
	if isPeer {
		creds, err := wdt.NewCredentials(sandbox.DefaultSID, sandbox.DefaultAppKey, sandbox.DefaultAppSecret)
		if err != nil {
			return err
		}
		h = peerHandler(o.WDTURL, creds, peerHTTP(), rdb, mode)
	}
	if err := srv.Start(h); err != nil {
		return fmt.Errorf("bench --child %s: start: %w", o.Kind, err)
	}
	<-ctx.Done()
	srv.Shutdown()
	return nil
}

// childProc is one process the processing phase started.
type childProc struct {
	name     string
	cmd      *exec.Cmd
	stderr   tailBuffer
	exited   chan error // once, if it ends before stop, with its stderr
	done     chan struct{}
	stopping atomic.Bool
}

// childStopTimeout: how long a child may take to stop after SIGTERM before
// it is killed (a worker hands its in-flight tasks back within its
// --shutdown-timeout).
const childStopTimeout = 30 * time.Second

// startChild starts the binary with args (Options.Command).
func (r *runner) startChild(name string, args, env []string) (*childProc, error) {
	c := &childProc{name: name, cmd: r.o.Command(args, env), exited: make(chan error, 1), done: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = io.Discard, &c.stderr
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s process: %w", name, err)
	}
	go func() {
		err := c.cmd.Wait()
		if !c.stopping.Load() {
			c.exited <- fmt.Errorf("the %s process ended early (%v): %s", name, err, c.stderr.String())
		}
		close(c.done)
	}()
	return c, nil
}

// stop ends the process with SIGTERM (SIGKILL after childStopTimeout) and
// waits for it.
func (c *childProc) stop() {
	c.stopping.Store(true)
	c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(childStopTimeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.cmd.Process.Kill()
		<-c.done
	}
}

// sandboxProc is a `wdtcancel sandbox` process and its call counter.
type sandboxProc struct {
	*childProc
	base string // http://host:port
	hc   *http.Client
}

// apiURL is the WDT URL the variants call.
func (s *sandboxProc) apiURL() string { return s.base + "/openapi" }

// calls reads the sandbox's count of API calls (GET /_sandbox/stats).
func (s *sandboxProc) calls(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/_sandbox/stats", nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("sandbox stats: %w", err)
	}
	defer resp.Body.Close()
	var st struct {
		Calls int64 `json:"calls"`
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("sandbox stats: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("sandbox stats: %w", err)
	}
	return st.Calls, nil
}

// sandboxStartTimeout: how long a sandbox process may take to answer.
const sandboxStartTimeout = 30 * time.Second

// startSandbox starts `wdtcancel sandbox` on a free loopback port, logging
// at warn (no line per call), and waits until it answers. A port taken
// between choosing it and the sandbox's listen makes the sandbox exit; it
// is tried again on another port.
func (r *runner) startSandbox(ctx context.Context) (*sandboxProc, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		c, err := r.startChild("sandbox", []string{"sandbox", "--listen", addr, "--log-level", "warn"}, nil)
		if err != nil {
			return nil, err
		}
		s := &sandboxProc{childProc: c, base: "http://" + addr, hc: &http.Client{Timeout: 10 * time.Second}}
		if lastErr = s.awaitReady(ctx); lastErr == nil {
			return s, nil
		}
		c.stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("the sandbox process did not start: %w", lastErr)
}

// awaitReady polls the sandbox's stats until it answers.
func (s *sandboxProc) awaitReady(ctx context.Context) error {
	deadline := time.Now().Add(sandboxStartTimeout)
	for {
		_, err := s.calls(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %s: %w", sandboxStartTimeout, err)
		}
		if err := sleepOrExit(ctx, 20*time.Millisecond, exits{sandbox: s.exited}); err != nil {
			return err
		}
	}
}

// freeLoopbackAddr is a loopback address with a port free right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port for the sandbox: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

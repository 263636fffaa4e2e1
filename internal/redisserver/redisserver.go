// Package redisserver starts a Redis of its own for the demo, the bench
// command and tests: a real redis-server from PATH on a free loopback port
// when there is one, else an embedded miniredis. CI sets RequireRealEnv so
// that a missing redis-server fails the run instead of silently testing
// against the embedded fake. It does not import testing: the shipped
// binary links it (internal/testkit wraps it for tests).
//
// Only tests call StartSentinel and StartCluster (topology.go), Kill and
// Restart, and the OOM filler (fill.go); they still ship because they
// reach into a running server's process and config. Moving them into
// internal/testkit is issue 21's remaining step.
package redisserver

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// DefaultAppendFsync is the AOF policy a redis-server starts with unless
// Options say otherwise.
const DefaultAppendFsync = "everysec"

// RequireRealEnv, when set to a true value, forbids the miniredis fallback.
const RequireRealEnv = "WDTCANCEL_REQUIRE_REDIS_SERVER"

// Redis is one running Redis, real or embedded.
type Redis struct {
	// Addr is host:port.
	Addr string
	// Real is true for a redis-server process, false for miniredis.
	Real bool

	mu      sync.Mutex
	cmd     *exec.Cmd
	dir     string
	args    []string
	mini    *miniredis.Miniredis
	stopped bool

	maxmemory string // before FillUntilOOM lowered it
}

// URL is the redis:// URL of database 0.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Options tune a real redis-server.
type Options struct {
	// AppendFsync is the AOF's fsync policy: "everysec" (the default),
	// "always", or "no". AOF is on unless NoAOF: tests run against a Redis
	// that keeps writes across a crash, as wdtcancel requires (issue 20).
	AppendFsync string
	// NoAOF starts redis-server with appendonly no, as its stock
	// configuration (and Debian's) does: only RDB snapshots (Save), if
	// any, keep anything. wdtcancel refuses such a Redis without
	// --allow-volatile-redis.
	NoAOF bool
	// Save is redis-server's RDB snapshot policy, e.g. "3600 1 300 100 60
	// 10000" (its stock default); "" saves none.
	Save string
	// ForbidFallback refuses miniredis even when RequireRealEnv is unset.
	ForbidFallback bool
	// Embedded forces miniredis (the demo's embedded default).
	Embedded bool
	// MaxmemoryPolicy and Maxmemory ("2mb") set redis-server's
	// maxmemory-policy and maxmemory. miniredis has neither: a test that
	// needs them must skip when Real is false.
	MaxmemoryPolicy string
	Maxmemory       string
	// Args are passed to redis-server after the others, e.g.
	// "--cluster-enabled", "yes". Ignored by miniredis.
	Args []string

	// config starts the server from a config file in its data dir
	// (initially empty), so that CONFIG REWRITE works.
	config bool
	// sentinel, when not nil, starts a sentinel (redis-server --sentinel)
	// with these config lines.
	sentinel []string
}

// RealRequired reports whether the environment forbids the fallback.
func RealRequired() bool {
	v, _ := strconv.ParseBool(os.Getenv(RequireRealEnv))
	return v
}

// Start starts a Redis: redis-server from PATH, else miniredis unless the
// fallback is forbidden.
func Start(opts Options) (*Redis, error) {
	if opts.Embedded {
		return startMini()
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if opts.ForbidFallback || RealRequired() {
			return nil, fmt.Errorf("redis-server not found on PATH and %s forbids the embedded fallback: install it (apt-get install -y redis-server)", RequireRealEnv)
		}
		return startMini()
	}
	return startReal(path, opts)
}

func startMini() (*Redis, error) {
	m := miniredis.NewMiniRedis()
	// Without this TTLs never run down, and asynq's leases and retention
	// would never expire.
	m.ClockTTL(true)
	if err := m.Start(); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	return &Redis{Addr: m.Addr(), mini: m}, nil
}

func startReal(path string, opts Options) (*Redis, error) {
	dir, err := os.MkdirTemp("", "wdtcancel-redis-")
	if err != nil {
		return nil, fmt.Errorf("redis temp dir: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var args []string
	if opts.config || opts.sentinel != nil {
		conf, err := writeConfig(dir, "redis.conf", opts.sentinel)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		args = append(args, conf)
		if opts.sentinel != nil {
			args = append(args, "--sentinel")
		}
	}
	args = append(args, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning")
	switch {
	case opts.sentinel != nil:
		// A sentinel keeps no data.
	case opts.NoAOF:
		args = append(args, "--save", opts.Save, "--appendonly", "no")
	default:
		args = append(args, "--save", opts.Save, "--appendonly", "yes", "--appendfsync", cmp.Or(opts.AppendFsync, DefaultAppendFsync))
	}
	if opts.MaxmemoryPolicy != "" {
		args = append(args, "--maxmemory-policy", opts.MaxmemoryPolicy)
	}
	if opts.Maxmemory != "" {
		args = append(args, "--maxmemory", opts.Maxmemory)
	}
	args = append(args, opts.Args...)
	r := &Redis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Real: true, dir: dir, args: append([]string{path}, args...)}
	if err := r.launch(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return r, nil
}

// launch starts the redis-server process and waits until it answers PING.
func (r *Redis) launch() error {
	cmd := exec.Command(r.args[0], r.args[1:]...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if Ping(r.Addr) == nil {
			r.cmd = cmd
			r.stopped = false
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return fmt.Errorf("redis-server on %s did not answer PING within 10s: %s", r.Addr, stderr.String())
}

// Ping sends PING over a raw connection.
func Ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected PING reply %q", line)
	}
	return nil
}

// Stop stops the server (SIGTERM, so an AOF is flushed as on a clean
// shutdown) without removing its data, so Restart can bring it back.
func (r *Redis) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mini != nil {
		return errors.New("an embedded redis cannot be stopped and restarted")
	}
	if r.stopped || r.cmd == nil {
		return nil
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-done
	}
	r.stopped = true
	return nil
}

// Kill stops the server with SIGKILL: what a crash loses, it loses.
func (r *Redis) Kill() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mini != nil || r.cmd == nil || r.stopped {
		return errors.New("no running redis-server to kill")
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.stopped = true
	return nil
}

// stoppedNow reports whether the server was stopped or killed.
func (r *Redis) stoppedNow() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped || r.cmd == nil
}

// Restart starts a stopped server again on the same port and data dir.
func (r *Redis) Restart() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mini != nil {
		return errors.New("an embedded redis cannot be restarted")
	}
	return r.launch()
}

// Close stops the server and removes its data.
func (r *Redis) Close() {
	if r.mini != nil {
		r.mini.Close()
		return
	}
	r.Stop()
	os.RemoveAll(r.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

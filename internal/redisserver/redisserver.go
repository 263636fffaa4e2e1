// Package redisserver starts the Redis the demo and the bench command run
// on: a real redis-server from PATH on a free loopback port, with AOF on
// (wdtcancel refuses a Redis that could lose an acknowledged write), or an
// embedded miniredis. RequireRealEnv (set in CI) forbids the miniredis
// fallback, so a missing redis-server fails the run instead of silently
// running against the embedded fake.
//
// It holds only what the shipped binary runs. The test kit
// (internal/testkit) starts its servers from the same pieces (FreePort,
// ServerArgs, Launch, Terminate, StartEmbedded, Ping) and adds what only
// tests do: persistence and maxmemory options, stop, kill and restart, the
// OOM filler, Sentinel and Cluster topologies.
package redisserver

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// DefaultAppendFsync is the AOF fsync policy a redis-server starts with:
// at most one second of writes lost in a crash, the setting wdtcancel's
// durability check accepts without a warning.
const DefaultAppendFsync = "everysec"

// RequireRealEnv, when set to a true value, forbids the miniredis fallback.
const RequireRealEnv = "WDTCANCEL_REQUIRE_REDIS_SERVER"

// Redis is one running Redis, real or embedded.
type Redis struct {
	// Addr is host:port.
	Addr string
	// Real is true for a redis-server process, false for miniredis.
	Real bool

	cmd  *exec.Cmd
	dir  string
	mini *miniredis.Miniredis
}

// URL is the redis:// URL of database 0.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Options choose between a real and an embedded Redis.
type Options struct {
	// ForbidFallback refuses miniredis even when RequireRealEnv is unset
	// (the bench's quota phase measures a real server or nothing).
	ForbidFallback bool
	// Embedded forces miniredis (the demo's embedded default).
	Embedded bool
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
	return startReal(path)
}

func startMini() (*Redis, error) {
	m, err := StartEmbedded()
	if err != nil {
		return nil, err
	}
	return &Redis{Addr: m.Addr(), mini: m}, nil
}

// StartEmbedded starts a miniredis whose TTLs run down with the clock:
// without that, asynq's leases and retention would never expire.
func StartEmbedded() (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	if err := m.Start(); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	return m, nil
}

// startReal starts redis-server with AOF (DefaultAppendFsync) and no RDB
// snapshots, in a temporary data dir Close removes.
func startReal(path string) (*Redis, error) {
	dir, err := os.MkdirTemp("", "wdtcancel-redis-")
	if err != nil {
		return nil, fmt.Errorf("redis temp dir: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := append(ServerArgs(port, dir), "--save", "", "--appendonly", "yes", "--appendfsync", DefaultAppendFsync)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd, err := Launch(append([]string{path}, args...), addr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Redis{Addr: addr, Real: true, cmd: cmd, dir: dir}, nil
}

// ServerArgs are the redis-server arguments every server started here
// has: a loopback port, its data dir, in the foreground, quiet.
func ServerArgs(port int, dir string) []string {
	return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"}
}

// Launch runs argv (redis-server and its arguments) and waits until addr
// answers PING, at most 10 s: a server that does not answer is killed and
// its output is in the error.
func Launch(argv []string, addr string) (*exec.Cmd, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if Ping(addr) == nil {
			return cmd, nil
		}
		// The process announces nothing when it starts listening: PING
		// is the only sign, so it is polled.
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("redis-server on %s did not answer PING within 10s: %s", addr, stderr.String())
}

// Terminate stops a launched server with SIGTERM, so its AOF is flushed as
// on a clean shutdown, and kills it if it has not exited within 10 s.
func Terminate(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
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

// Close stops the server and removes its data.
func (r *Redis) Close() {
	if r.mini != nil {
		r.mini.Close()
		return
	}
	Terminate(r.cmd)
	os.RemoveAll(r.dir)
}

// FreePort is a loopback TCP port nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

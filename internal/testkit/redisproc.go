package testkit

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"github.com/alicebob/miniredis/v2"

	"github.com/wdtcancel/wdtcancel/internal/redisserver"
)

// This file is the tests' Redis: a redis-server process (or miniredis)
// that a test may configure, stop, kill and restart. The binary's own
// Redis (internal/redisserver) does none of that, so it lives here; both
// start their servers with redisserver's pieces.

// DefaultAppendFsync is the AOF policy a redis-server starts with unless
// RedisOptions say otherwise.
const DefaultAppendFsync = redisserver.DefaultAppendFsync

// RequireRealEnv, when set to a true value, forbids the miniredis fallback.
const RequireRealEnv = redisserver.RequireRealEnv

// RealRequired reports whether the environment forbids the miniredis
// fallback (RequireRealEnv).
func RealRequired() bool { return redisserver.RealRequired() }

// Redis is one running Redis of a test, real or embedded.
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

// RedisOptions tune a test's redis-server.
type RedisOptions struct {
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
	// Embedded forces miniredis.
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

// startRedis starts a Redis: redis-server from PATH, else miniredis unless
// the fallback is forbidden.
func startRedis(opts RedisOptions) (*Redis, error) {
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
	m, err := redisserver.StartEmbedded()
	if err != nil {
		return nil, err
	}
	return &Redis{Addr: m.Addr(), mini: m}, nil
}

func startReal(path string, opts RedisOptions) (*Redis, error) {
	dir, err := os.MkdirTemp("", "wdtcancel-redis-")
	if err != nil {
		return nil, fmt.Errorf("redis temp dir: %w", err)
	}
	port, err := redisserver.FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args, err := serverArgs(path, port, dir, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r := &Redis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Real: true, dir: dir, args: args}
	if err := r.launch(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return r, nil
}

// serverArgs is the command line of a test's redis-server: the config file
// a sentinel or a promoted replica rewrites, redisserver's common
// arguments, then persistence, maxmemory and opts.Args.
func serverArgs(path string, port int, dir string, opts RedisOptions) ([]string, error) {
	args := []string{path}
	if opts.config || opts.sentinel != nil {
		conf, err := writeConfig(dir, "redis.conf", opts.sentinel)
		if err != nil {
			return nil, err
		}
		args = append(args, conf)
		if opts.sentinel != nil {
			args = append(args, "--sentinel")
		}
	}
	args = append(args, redisserver.ServerArgs(port, dir)...)
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
	return append(args, opts.Args...), nil
}

// launch starts the redis-server process and waits until it answers PING.
func (r *Redis) launch() error {
	cmd, err := redisserver.Launch(r.args, r.Addr)
	if err != nil {
		return err
	}
	r.cmd = cmd
	r.stopped = false
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
	redisserver.Terminate(r.cmd)
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

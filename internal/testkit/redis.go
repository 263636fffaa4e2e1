package testkit

import (
	"os/exec"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/redisinfo"
)

// Each test gets a Redis of its own (redisproc.go), started for the test
// and stopped when it ends.

// StartRedis starts a Redis the caller stops. A
// miniredis fallback is marked embedded (redisinfo.MarkEmbedded): it is in
// memory by design, so wdtcancel's durability check lets it run, as
// --allow-volatile-redis would, and no test needs the flag for it.
func StartRedis(opts RedisOptions) (*Redis, error) {
	r, err := startRedis(opts)
	if err == nil && !r.Real {
		redisinfo.MarkEmbedded(r.Addr)
	}
	return r, err
}

// NewRedis starts a Redis for one test and stops it when the test ends.
func NewRedis(t testing.TB) *Redis { return NewRedisWith(t, RedisOptions{}) }

// NewRedisWith is NewRedis with options.
func NewRedisWith(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	r, err := StartRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		if !r.Real {
			redisinfo.UnmarkEmbedded(r.Addr)
		}
	})
	return r
}

// NewSentinel starts a Sentinel setup (a master, a replica, three
// sentinels) for one test and stops it when the test ends.
func NewSentinel(t testing.TB, opts TopologyOptions) *Sentinel {
	t.Helper()
	skipWithoutServer(t)
	s, err := StartSentinel(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewCluster starts a Redis Cluster of three masters with a replica each
// (none with opts.NoClusterReplicas) for one test and stops it when the test ends.
func NewCluster(t testing.TB, opts TopologyOptions) *Cluster {
	t.Helper()
	skipWithoutServer(t)
	c, err := StartCluster(3, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// ProcessEnv is the environment a wdtcancel process started from the built
// binary needs for r: for the miniredis fallback, which only this test
// process knows to be embedded, WDTCANCEL_ALLOW_VOLATILE_REDIS=1 (the
// binary refuses a Redis that cannot say how it persists); nothing for a
// real redis-server, which the test kit starts with AOF.
func ProcessEnv(r *Redis) []string {
	if r.Real {
		return nil
	}
	return []string{"WDTCANCEL_ALLOW_VOLATILE_REDIS=1"}
}

// skipWithoutServer skips a test that needs a topology of real servers
// (miniredis has no replication) where redis-server is not installed,
// unless the environment forbids the fallback: then starting fails.
func skipWithoutServer(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil && !RealRequired() {
		t.Skip("a Sentinel or Cluster needs redis-server on PATH (set " + RequireRealEnv + "=1 to make this a failure)")
	}
}

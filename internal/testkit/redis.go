package testkit

import (
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/redisserver"
)

// Redis and RedisOptions are redisserver's: each test gets a Redis of its
// own, started for the test and stopped when it ends.
type (
	Redis        = redisserver.Redis
	RedisOptions = redisserver.Options
)

// RequireRealEnv, when set to a true value, forbids the miniredis fallback.
const RequireRealEnv = redisserver.RequireRealEnv

// StartRedis starts a Redis the caller stops (see redisserver.Start).
func StartRedis(opts RedisOptions) (*Redis, error) { return redisserver.Start(opts) }

// NewRedis starts a Redis for one test and stops it when the test ends.
func NewRedis(t testing.TB) *Redis { return NewRedisWith(t, RedisOptions{}) }

// NewRedisWith is NewRedis with options.
func NewRedisWith(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	r, err := redisserver.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Sentinel, Cluster and TopologyOptions are redisserver's.
type (
	Sentinel        = redisserver.Sentinel
	Cluster         = redisserver.Cluster
	TopologyOptions = redisserver.TopologyOptions
)

// NewSentinel starts a Sentinel setup (a master, a replica, three
// sentinels) for one test and stops it when the test ends.
func NewSentinel(t testing.TB, opts TopologyOptions) *Sentinel {
	t.Helper()
	s, err := redisserver.StartSentinel(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewCluster starts a Redis Cluster of three masters with a replica each
// for one test and stops it when the test ends.
func NewCluster(t testing.TB, opts TopologyOptions) *Cluster {
	t.Helper()
	c, err := redisserver.StartCluster(3, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

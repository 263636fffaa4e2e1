// Package redistest gives each test a Redis of its own (see redisserver):
// started for the test and stopped when it ends.
package redistest

import (
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/redisserver"
)

// Redis and Options are redisserver's.
type (
	Redis   = redisserver.Redis
	Options = redisserver.Options
)

// RequireRealEnv, when set to a true value, forbids the miniredis fallback.
const RequireRealEnv = redisserver.RequireRealEnv

// Start starts a Redis the caller stops (see redisserver.Start).
func Start(opts Options) (*Redis, error) { return redisserver.Start(opts) }

// New starts a Redis for one test and stops it when the test ends.
func New(t testing.TB) *Redis { return NewWith(t, Options{}) }

// NewWith is New with options.
func NewWith(t testing.TB, opts Options) *Redis {
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

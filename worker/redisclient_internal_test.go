package worker

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// redisClient is a client of a fresh test Redis (testkit.NewRedis: a real
// redis-server when there is one), closed when the test ends: the start of
// most of this package's internal tests of a script or a limiter.
func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	r := testkit.NewRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

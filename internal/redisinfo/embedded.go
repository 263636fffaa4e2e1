package redisinfo

import (
	"sync"

	"github.com/redis/go-redis/v9"
)

// embedded holds the addresses of the Redis servers this process embedded
// (miniredis, started by the test kit): in memory by design, they cannot be
// durable, and a test that uses one has nothing to lose in a crash.
var embedded sync.Map // addr -> struct{}

// MarkEmbedded records that addr is an in-memory Redis this process runs
// itself (the test kit's miniredis fallback), so the durability check
// treats it as allowed to be volatile, as --allow-volatile-redis would, and
// reports the gap all the same. Production code never calls it: a Redis
// another process serves is never marked. UnmarkEmbedded undoes it.
func MarkEmbedded(addr string) { embedded.Store(addr, struct{}{}) }

// UnmarkEmbedded forgets MarkEmbedded(addr) (the server was closed; the
// port may be reused by a real one).
func UnmarkEmbedded(addr string) { embedded.Delete(addr) }

// IsEmbedded reports whether rdb talks to a Redis MarkEmbedded recorded.
func IsEmbedded(rdb redis.UniversalClient) bool {
	c, ok := rdb.(*redis.Client)
	if !ok {
		return false
	}
	_, ok = embedded.Load(c.Options().Addr)
	return ok
}

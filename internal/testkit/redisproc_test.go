package testkit

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/redisserver"
)

func TestRestartKeepsPort(t *testing.T) {
	r := NewRedis(t)
	if !r.Real {
		t.Skip("restart needs a real redis-server")
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if redisserver.Ping(r.Addr) == nil {
		t.Fatal("still answering after Stop")
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := redisserver.Ping(r.Addr); err != nil {
		t.Fatal(err)
	}
}

func TestMaxmemoryOptions(t *testing.T) {
	r := NewRedisWith(t, RedisOptions{MaxmemoryPolicy: "allkeys-lru", Maxmemory: "3mb"})
	if !r.Real {
		t.Skip("maxmemory options need a real redis-server; miniredis has none")
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	got, err := rdb.ConfigGet(context.Background(), "maxmemory*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got["maxmemory-policy"] != "allkeys-lru" || got["maxmemory"] != "3145728" {
		t.Fatalf("config %v", got)
	}
}

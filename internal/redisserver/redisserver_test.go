package redisserver

import (
	"context"
	"os/exec"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestStartAnswersPing(t *testing.T) {
	r := startForTest(t, Options{})
	if err := Ping(r.Addr); err != nil {
		t.Fatal(err)
	}
	_, lookErr := exec.LookPath("redis-server")
	if r.Real != (lookErr == nil) {
		t.Fatalf("real=%v but redis-server on PATH: %v", r.Real, lookErr == nil)
	}
	if RealRequired() && !r.Real {
		t.Fatal("fallback used although it is forbidden")
	}
}

func TestRestartKeepsPort(t *testing.T) {
	r := startForTest(t, Options{})
	if !r.Real {
		t.Skip("restart needs a real redis-server")
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if Ping(r.Addr) == nil {
		t.Fatal("still answering after Stop")
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := Ping(r.Addr); err != nil {
		t.Fatal(err)
	}
}

func TestEmbedded(t *testing.T) {
	r := startForTest(t, Options{Embedded: true})
	if r.Real || Ping(r.Addr) != nil {
		t.Fatalf("embedded redis not answering: %+v", r)
	}
}

func TestMaxmemoryOptions(t *testing.T) {
	r := startForTest(t, Options{MaxmemoryPolicy: "allkeys-lru", Maxmemory: "3mb"})
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

// startForTest starts a Redis stopped when the test ends (testkit cannot
// be used here: it imports this package).
func startForTest(t *testing.T, opts Options) *Redis {
	t.Helper()
	r, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

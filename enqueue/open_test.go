package enqueue

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestOpenHasTheCLIsDefaults: Open parses the CLI's URLs, waits for
// replicas (auto) and has checked Redis before it returns; options given
// override the defaults.
func TestOpenHasTheCLIsDefaults(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	c, err := Open(ctx, r.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.durable.Auto() {
		t.Error("Open's replica wait is not auto")
	}
	if !c.Durability().Checked {
		t.Error("Open returned before checking Redis's durability")
	}
	if res, err := c.Cancel(ctx, "OPEN1"); err != nil || res.Result != Enqueued {
		t.Fatalf("enqueue through Open's client: %+v %v", res, err)
	}
	off, err := Open(ctx, r.URL(), WithWaitReplicas(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if off.durable.Enabled() {
		t.Error("WithWaitReplicas(0, 0) did not override Open's default")
	}
	c2, err := New(asynq.RedisClientOpt{Addr: r.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if !c2.durable.Auto() {
		t.Error("New's replica wait is not auto, as the CLI's")
	}
}

// TestOpenRefuses: what the CLI refuses at start, Open refuses, with the
// error to match and nothing left open.
func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name, url, want string
		is              error
	}{
		{"unreachable", "redis://127.0.0.1:1/0", "start Redis", ErrUnavailable},
		{"bad scheme", "http://u:s3cret@127.0.0.1:6379", "redis-sentinel://", nil},
		{"sentinel without master", "redis-sentinel://:s3cret@127.0.0.1:26379/0", "master", nil},
	} {
		c, err := Open(ctx, tc.url)
		if err == nil {
			c.Close()
			t.Errorf("%s: opened", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestParseRedisURL reads the CLI's URLs, sentinel ones included.
func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	opt, err := ParseRedisURL("redis-sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/2?master=mymaster")
	if err != nil {
		t.Fatal(err)
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		t.Fatalf("%T", opt.MakeRedisClient())
	}
	rdb.Close()
	if def, err := ParseRedisURL(""); err != nil || def.(asynq.RedisClientOpt).Addr != "127.0.0.1:6379" {
		t.Fatalf("default URL: %+v %v", def, err)
	}
	if _, err := ParseRedisCluster(); err == nil {
		t.Fatal("a cluster without addresses was accepted")
	}
	if _, err := ParseRedisCluster("10.0.0.1:7000", "10.0.0.2:7000"); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRefusesEviction: an evicting Redis is refused unless
// WithAllowEviction (a real redis-server: the embedded one has no policy).
func TestOpenRefusesEviction(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	if !r.Real {
		t.Skip("needs a real redis-server to set maxmemory-policy")
	}
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	if c, err := Open(ctx, r.URL()); !errors.Is(err, ErrEviction) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("evicting Redis: %v", err)
	}
	c, err := Open(ctx, r.URL(), WithAllowEviction())
	if err != nil {
		t.Fatalf("WithAllowEviction: %v", err)
	}
	c.Close()
}

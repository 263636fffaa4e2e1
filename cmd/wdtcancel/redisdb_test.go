package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestProducersUseTheURLsDatabase: a Redis shared by database number
// (redis://host:port/5) is a normal setup. The producer's client once lost
// the number (its connection set-up pipeline never ran), so enqueue wrote
// to database 0 while the workers read database 5, and said "enqueued".
// Found from outside by an independent tester.
func TestProducersUseTheURLsDatabase(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	if !r.Real {
		t.Skip("the embedded Redis has one database")
	}
	ctx := context.Background()
	url := "redis://" + r.Addr + "/5"
	if out, errOut, code := runCmd(t, ctx, "", "enqueue", "--redis-url", url, "RKDB1"); code != exitOK {
		t.Fatalf("enqueue: exit %d: %s %s", code, out, errOut)
	}
	db := func(n int) int64 {
		c := redis.NewClient(&redis.Options{Addr: r.Addr, DB: n})
		defer c.Close()
		return c.Exists(ctx, "asynq:{wdt-cancel}:t:RKDB1").Val()
	}
	if db(5) != 1 || db(0) != 0 {
		t.Fatalf("task in database 5: %d, in database 0: %d; want it in 5 only", db(5), db(0))
	}
	out, errOut, code := runCmd(t, ctx, "", "status", "--redis-url", url, "RKDB1")
	if code != exitOK || !strings.Contains(out, "pending") {
		t.Fatalf("status in database 5: exit %d: %s %s", code, out, errOut)
	}
}

// TestGoProducerSharesCLIDefaults: the library's default Redis URL is the
// CLI's, and it parses the CLI's URLs the same way.
func TestGoProducerSharesCLIDefaults(t *testing.T) {
	t.Parallel()
	if enqueue.DefaultRedisURL != config.DefaultRedisURL {
		t.Fatalf("enqueue.DefaultRedisURL %q, the CLI's %q", enqueue.DefaultRedisURL, config.DefaultRedisURL)
	}
	for _, u := range []string{config.DefaultRedisURL, "redis://:pw@10.0.0.1:6380/3", "redis-sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/2?master=m"} {
		lib, lerr := enqueue.ParseRedisURL(u)
		cli, cerr := (&config.Redis{URL: u}).ConnOpt()
		if (lerr == nil) != (cerr == nil) || fmt.Sprintf("%#v", lib) != fmt.Sprintf("%#v", cli) {
			t.Errorf("%s: library %#v %v, CLI %#v %v", u, lib, lerr, cli, cerr)
		}
	}
}

package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/redisurl"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestDemoOnAUsedRedis: on a Redis that already holds a demo number the
// demo says what is wrong and what to do (it printed a Go struct), and
// neither the banner nor the error shows the URL's password (an outside
// tester saw it in the banner).
func TestDemoOnAUsedRedis(t *testing.T) {
	r := testkit.NewRedis(t)
	url := r.URL()
	if r.Real {
		admin := redis.NewClient(&redis.Options{Addr: r.Addr})
		err := admin.ConfigSet(context.Background(), "requirepass", "S3crtPw").Err()
		admin.Close()
		if err != nil {
			t.Fatal(err)
		}
		url = "redis://:S3crtPw@" + r.Addr + "/0"
	}
	conn, err := redisurl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := enqueue.New(conn, enqueue.WithAllowVolatileRedis())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prod.Cancel(context.Background(), "DEMO00002"); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	var out bytes.Buffer
	_, err = Run(context.Background(), Options{Orders: 5, Listen: "127.0.0.1:0", SandboxListen: "127.0.0.1:0", Seed: 7, ExitWhenDone: true, Out: &out, NoLookup: true, RedisURL: url})
	if err == nil || !strings.Contains(err.Error(), "1 of the 5 demo numbers") || !strings.Contains(err.Error(), "empty Redis") || strings.Contains(err.Error(), "{") {
		t.Fatalf("error %v, want it to say the numbers are there already and what to do\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Redis at") {
		t.Fatalf("no banner naming the Redis:\n%s", out.String())
	}
	if strings.Contains(out.String()+err.Error(), "S3crtPw") {
		t.Fatalf("the password is shown:\n%s\n%v", out.String(), err)
	}
}

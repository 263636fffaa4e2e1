package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/redistest"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

func evictingRedis(t *testing.T, policy string) *redistest.Redis {
	t.Helper()
	r := redistest.NewWith(t, redistest.Options{MaxmemoryPolicy: policy})
	if !r.Real {
		t.Skip("maxmemory-policy needs a real redis-server; redistest fell back to miniredis (set " + redistest.RequireRealEnv + "=1 to make this a failure)")
	}
	return r
}

func wantEvictionMessage(t *testing.T, errOut, policy string) {
	t.Helper()
	for _, want := range []string{"maxmemory-policy " + policy, "CONFIG SET maxmemory-policy noeviction", "parameter group", "--allow-eviction"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q: %s", want, errOut)
		}
	}
}

func TestEnqueueEvictingRedis(t *testing.T) {
	r := evictingRedis(t, "allkeys-lru")
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()

	out, errOut, code := runCmd(t, ctx, "", "enqueue", "--redis-url", r.URL(), "RK1")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d: %s%s", code, exitUsage, out, errOut)
	}
	wantEvictionMessage(t, errOut, "allkeys-lru")
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("refused enqueue left %d keys", n)
	}

	out, errOut, code = runCmd(t, ctx, "", "enqueue", "--redis-url", r.URL(), "--allow-eviction", "RK1")
	if code != exitOK || !strings.Contains(out, "enqueued 1") || !strings.Contains(errOut, "warning: redis has maxmemory-policy allkeys-lru") {
		t.Fatalf("--allow-eviction: exit %d out %q err %q", code, out, errOut)
	}
	t.Setenv("WDTCANCEL_ALLOW_EVICTION", "true")
	if out, errOut, code := runCmd(t, ctx, "", "enqueue", "--redis-url", r.URL(), "RK2"); code != exitOK || !strings.Contains(out, "enqueued 1") {
		t.Fatalf("WDTCANCEL_ALLOW_EVICTION: exit %d out %q err %q", code, out, errOut)
	}
}

func TestAPIEvictingRedisRefused(t *testing.T) {
	r := evictingRedis(t, "volatile-lru")
	_, errOut, code := runCmd(t, context.Background(), "", "api", "--redis-url", r.URL(), "--allow-unauthenticated", "--listen", "127.0.0.1:0", "--log-level", "error")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d: %s", code, exitUsage, errOut)
	}
	wantEvictionMessage(t, errOut, "volatile-lru")
}

func TestWorkerEvictingRedis(t *testing.T) {
	r := evictingRedis(t, "allkeys-lru")
	sb, err := sandbox.NewServer(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	t.Setenv("REDIS_URL", r.URL())
	t.Setenv("WDT_URL", sb.APIURL())
	t.Setenv("WDT_SID", "sandbox")
	t.Setenv("WDT_APPKEY", "sandbox")
	t.Setenv("WDT_APPSECRET", "sandbox:sandbox")

	_, errOut, code := runCmd(t, context.Background(), "", "worker", "--listen", "", "--log-level", "error")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d: %s", code, exitUsage, errOut)
	}
	wantEvictionMessage(t, errOut, "allkeys-lru")

	ops := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		_, _, code := runCmd(t, ctx, "", "worker", "--listen", ops, "--log-level", "error", "--allow-eviction")
		done <- code
	}()
	waitListening(t, ops)
	resp, err := http.Get("http://" + ops + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Ready   bool     `json:"ready"`
		Redis   string   `json:"redis"`
		Reasons []string `json:"reasons"`
	}
	json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if resp.StatusCode != 503 || rep.Ready || rep.Redis != "evicting" || !strings.Contains(strings.Join(rep.Reasons, " "), "maxmemory-policy allkeys-lru") {
		t.Fatalf("readyz with --allow-eviction: %d %+v", resp.StatusCode, rep)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("worker exit %d", code)
	}
}

// TestServerTimeoutClosesSilentConnection: the api and the sandbox close a
// client that connects and sends nothing.
func TestServerTimeoutClosesSilentConnection(t *testing.T) {
	r := redistest.New(t)
	saved := httpOptions
	httpOptions.ReadHeaderTimeout = 100 * time.Millisecond
	t.Cleanup(func() { httpOptions = saved })
	for name, args := range map[string][]string{
		"api":     {"api", "--redis-url", r.URL(), "--allow-unauthenticated"},
		"sandbox": {"sandbox"},
	} {
		t.Run(name, func(t *testing.T) {
			addr := freeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan int, 1)
			go func() {
				_, _, code := runCmd(t, ctx, "", append(args, "--listen", addr, "--log-level", "error")...)
				done <- code
			}()
			waitListening(t, addr)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // failsafe only
			if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%s kept a silent connection open", name)
			}
			cancel()
			if code := <-done; code != exitOK {
				t.Fatalf("%s exit %d", name, code)
			}
		})
	}
}

func TestAllowEvictionFlagAndEnv(t *testing.T) {
	for _, cmd := range []string{"worker", "enqueue", "api"} {
		c, _, err := newRoot().Find([]string{cmd})
		if err != nil || c.Flags().Lookup("allow-eviction") == nil {
			t.Fatalf("%s has no --allow-eviction: %v", cmd, err)
		}
	}
	if env := config.EnvName("allow-eviction"); env != "WDTCANCEL_ALLOW_EVICTION" {
		t.Fatalf("env %s", env)
	}
}

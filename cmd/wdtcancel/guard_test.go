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
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

func evictingRedis(t *testing.T, policy string) *testkit.Redis {
	t.Helper()
	r := testkit.NewRedisWith(t, testkit.RedisOptions{MaxmemoryPolicy: policy})
	if !r.Real {
		t.Skip("maxmemory-policy needs a real redis-server; testkit.NewRedis fell back to miniredis (set " + testkit.RequireRealEnv + "=1 to make this a failure)")
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
	t.Parallel()
	r := evictingRedis(t, "volatile-lru")
	_, errOut, code := runCmd(t, context.Background(), "", "api", "--redis-url", r.URL(), "--allow-unauthenticated", "--listen", "127.0.0.1:0", "--log-level", "error")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d: %s", code, exitUsage, errOut)
	}
	wantEvictionMessage(t, errOut, "volatile-lru")
}

func TestWorkerEvictingRedis(t *testing.T) {
	t.Parallel()
	r := evictingRedis(t, "allkeys-lru")
	sb, err := sandbox.NewServer(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	base := []string{"worker", "--redis-url", r.URL(), "--wdt-url", sb.APIURL(), "--sid", "sandbox", "--appkey", "sandbox", "--appsecret", "sandbox:sandbox"}

	_, errOut, code := runCmd(t, context.Background(), "", append(base, "--listen", "", "--log-level", "error")...)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d: %s", code, exitUsage, errOut)
	}
	wantEvictionMessage(t, errOut, "allkeys-lru")

	wk := startCmd(t, append(base, "--listen", "127.0.0.1:0", "--allow-eviction")...)
	ops := listenAddr(t, wk.logged(t, "worker started"), "ops")
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
	if code := wk.stop(t); code != exitOK {
		t.Fatalf("worker exit %d: %s", code, wk.stderr)
	}
}

// TestServerTimeoutClosesSilentConnection: the api and the sandbox close a
// client that connects and sends nothing. It changes httpOptions, a package
// variable, so it does not run in parallel with other tests.
func TestServerTimeoutClosesSilentConnection(t *testing.T) {
	r := testkit.NewRedis(t)
	saved := httpOptions
	httpOptions.ReadHeaderTimeout = 100 * time.Millisecond
	t.Cleanup(func() { httpOptions = saved })
	for name, tt := range map[string]struct {
		args            []string
		listening, addr string // the log line saying where it listens, and its field
	}{
		"api":     {[]string{"api", "--redis-url", r.URL(), "--allow-unauthenticated"}, "api listening", "addr"},
		"sandbox": {[]string{"sandbox"}, "sandbox listening", "url"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := startCmd(t, append(tt.args, "--listen", "127.0.0.1:0")...)
			addr := listenAddr(t, srv.logged(t, tt.listening), tt.addr)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(testkit.Failsafe)) // failsafe only
			if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%s kept a silent connection open", name)
			}
			if code := srv.stop(t); code != exitOK {
				t.Fatalf("%s exit %d: %s", name, code, srv.stderr)
			}
		})
	}
}

func TestAllowEvictionFlagAndEnv(t *testing.T) {
	t.Parallel()
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

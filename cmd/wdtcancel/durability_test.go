package main

import (
	"context"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// snapshotOnlyRedis is redis-server as Debian ships it: no AOF, RDB
// snapshots only.
func snapshotOnlyRedis(t *testing.T) *testkit.Redis {
	t.Helper()
	r := testkit.NewRedisWith(t, testkit.RedisOptions{NoAOF: true, Save: "3600 1 300 100 60 10000"})
	if !r.Real {
		t.Skip("persistence needs a real redis-server; testkit.NewRedis fell back to miniredis (set " + testkit.RequireRealEnv + "=1 to make this a failure)")
	}
	return r
}

func wantVolatileMessage(t *testing.T, errOut string) {
	t.Helper()
	for _, want := range []string{"does not keep writes across a crash", "aof_enabled:0", "CONFIG SET appendonly yes", "CONFIG REWRITE", "--allow-volatile-redis"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q: %s", want, errOut)
		}
	}
}

// TestWritingCommandsRefuseVolatileRedis: every command that writes
// refuses a snapshot-only Redis with exit 2 and the fix.
func TestWritingCommandsRefuseVolatileRedis(t *testing.T) {
	t.Parallel()
	r := snapshotOnlyRedis(t)
	sb, err := sandbox.NewServer(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	u := r.URL()
	for _, args := range [][]string{
		{"enqueue", "--redis-url", u, "RK1"},
		{"worker", "--redis-url", u, "--wdt-url", sb.APIURL(), "--sid", "sandbox", "--appkey", "sandbox", "--appsecret", "sandbox:sandbox", "--listen", "", "--log-level", "error"},
		{"api", "--redis-url", u, "--allow-unauthenticated", "--listen", "127.0.0.1:0", "--log-level", "error"},
		{"dlq", "requeue", "--redis-url", u, "RK1"},
		{"dlq", "purge", "--redis-url", u, "RK1"},
		{"retry", "--held", "--redis-url", u},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			out, errOut, code := runCmd(t, context.Background(), "", args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d: %s%s", code, exitUsage, out, errOut)
			}
			wantVolatileMessage(t, errOut)
		})
	}
}

func TestAllowVolatileRedis(t *testing.T) {
	r := snapshotOnlyRedis(t)
	ctx := context.Background()
	out, errOut, code := runCmd(t, ctx, "", "enqueue", "--redis-url", r.URL(), "--allow-volatile-redis", "RK1")
	if code != exitOK || !strings.Contains(out, "enqueued 1") || !strings.Contains(errOut, "warning: redis does not keep writes across a crash") || !strings.Contains(errOut, "--allow-volatile-redis") {
		t.Fatalf("--allow-volatile-redis: exit %d out %q err %q", code, out, errOut)
	}
	t.Setenv("WDTCANCEL_ALLOW_VOLATILE_REDIS", "true")
	if out, errOut, code := runCmd(t, ctx, "", "enqueue", "--redis-url", r.URL(), "RK2"); code != exitOK || !strings.Contains(out, "enqueued 1") {
		t.Fatalf("WDTCANCEL_ALLOW_VOLATILE_REDIS: exit %d out %q err %q", code, out, errOut)
	}
	if out, errOut, code := runCmd(t, ctx, "", "retry", "--held", "--redis-url", r.URL()); code != exitOK || !strings.Contains(errOut, "warning:") {
		t.Fatalf("retry with WDTCANCEL_ALLOW_VOLATILE_REDIS: exit %d out %q err %q", code, out, errOut)
	}
}

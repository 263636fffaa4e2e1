package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

func TestEnqueueCommand(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "nos.txt")
	os.WriteFile(file, []byte("# exported by the ERP\r\nRK1\r\n\r\nRK2\r\nRK 3\r\nRK1\r\n"), 0o644)

	tests := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		want     map[string]int
		itemsLen int
	}{
		{"file with CRLF, comment, invalid and repeat", "", []string{"--file", file}, exitPartial, map[string]int{"enqueued": 2, "duplicate": 1, "invalid": 1, "failed": 0}, 2},
		{"stdin, all known now", "RK1\nRK2\n", []string{"--file", "-"}, exitOK, map[string]int{"enqueued": 0, "duplicate": 2}, 2},
		{"arguments", "", []string{"RK4", "RK5"}, exitOK, map[string]int{"enqueued": 2}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"enqueue", "--redis-url", r.URL(), "--json"}, tt.args...)
			out, errOut, code := runCmd(t, ctx, tt.stdin, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, errOut)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not one JSON object: %q", out)
			}
			for _, k := range []string{"enqueued", "duplicate", "invalid", "failed", "items"} {
				if _, ok := got[k]; !ok {
					t.Fatalf("key %s missing: %s", k, out)
				}
			}
			for k, v := range tt.want {
				if string(got[k]) != itoa(v) {
					t.Errorf("%s = %s, want %d", k, got[k], v)
				}
			}
			var items []map[string]any
			json.Unmarshal(got["items"], &items)
			if len(items) != tt.itemsLen {
				t.Fatalf("items %s", got["items"])
			}
			for _, it := range items {
				for _, k := range []string{"pre_stockin_no", "result", "state", "error"} {
					if _, ok := it[k]; !ok {
						t.Fatalf("item without %s: %v", k, it)
					}
				}
			}
		})
	}
	out, _, code := runCmd(t, ctx, "", "enqueue", "--redis-url", r.URL(), "RK 9")
	if code != exitPartial || !strings.Contains(out, "U+0020 at position 3") || !strings.Contains(out, "invalid 1") {
		t.Fatalf("human output %q exit %d", out, code)
	}
}

func TestEnqueueUsageErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no numbers", []string{"enqueue", "--redis-url", "redis://127.0.0.1:1/0"}, "no numbers"},
		{"redis down, password masked", []string{"enqueue", "--redis-url", "redis://:hunter2pass@127.0.0.1:1/0", "RK1"}, "cannot reach Redis at redis://:xxxxx@127.0.0.1:1/0"},
		{"bad redis url", []string{"enqueue", "--redis-url", "mysql://x", "RK1"}, "redis URL"},
		{"missing file", []string{"enqueue", "--file", "/nonexistent", "RK1"}, "numbers file"},
		{"unknown flag", []string{"enqueue", "--nope"}, "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runCmd(t, ctx, "", tt.args...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) || strings.Contains(errOut, "hunter2pass") {
				t.Fatalf("exit %d stderr %q", code, errOut)
			}
		})
	}
}

func TestStatusCommand(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	runCmd(t, ctx, "", "enqueue", "--redis-url", r.URL(), "RK1")
	out, _, code := runCmd(t, ctx, "", "status", "--redis-url", r.URL(), "--json", "RK1")
	var st map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &st) != nil || st["state"] != "pending" {
		t.Fatalf("exit %d out %s", code, out)
	}
	out, _, code = runCmd(t, ctx, "", "status", "--redis-url", r.URL(), "RK2")
	if code != exitPartial || !strings.Contains(out, "unknown") {
		t.Fatalf("exit %d out %s", code, out)
	}
}

func TestEnvFallbackAndFlagPrecedence(t *testing.T) {
	r := testkit.NewRedis(t)
	t.Setenv("REDIS_URL", "redis://127.0.0.1:1/0")
	_, errOut, code := runCmd(t, context.Background(), "", "enqueue", "RK1")
	if code != exitUsage || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Fatalf("env not used: %d %s", code, errOut)
	}
	if _, errOut, code := runCmd(t, context.Background(), "", "enqueue", "--redis-url", r.URL(), "RK1"); code != exitOK {
		t.Fatalf("flag did not override env: %d %s", code, errOut)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestRedisLoginRefused: a Redis that answers but refuses the login is not
// "unreachable": the message names the credentials, never the password,
// for every command that opens Redis.
func TestRedisLoginRefused(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	if !r.Real {
		t.Skip("ACL users need a real redis-server")
	}
	admin := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer admin.Close()
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "adm", "on", ">rightpass", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	url := "redis://adm:hunter2pass@" + r.Addr + "/0"
	for _, args := range [][]string{
		{"enqueue", "--redis-url", url, "RK1"},
		{"dlq", "ls", "--redis-url", url},
		{"retry", "--held", "--redis-url", url},
		{"redis-loss", "show", "--redis-url", url},
	} {
		_, errOut, code := runCmd(t, ctx, "", args...)
		if code != exitUsage || !strings.Contains(errOut, "refused the login") || strings.Contains(errOut, "hunter2pass") {
			t.Errorf("%v: exit %d stderr %q", args, code, errOut)
		}
	}
}

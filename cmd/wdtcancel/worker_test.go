package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

func TestWorkerConfigErrors(t *testing.T) {
	r := testkit.NewRedis(t)
	const secret = "CmdSecretQ1w2:CmdSaltE3r4"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"nothing set", nil, nil, []string{"WDT_URL", "WDT_SID", "WDT_APPKEY", "WDT_APPSECRET", "http://47.92.239.46/openapi", "http://wdt.wangdian.cn/openapi"}},
		{"no colon", map[string]string{"WDT_URL": "http://127.0.0.1:1/openapi", "WDT_SID": "s", "WDT_APPKEY": "k", "WDT_APPSECRET": "CmdSecretQ1w2CmdSaltE3r4"}, nil, []string{"no colon"}},
		{"bad url", map[string]string{"WDT_URL": "wdt.wangdian.cn", "WDT_SID": "s", "WDT_APPKEY": "k", "WDT_APPSECRET": secret}, nil, []string{"not an http(s) URL"}},
		{"redis down", map[string]string{"WDT_URL": "http://127.0.0.1:1/openapi", "WDT_SID": "s", "WDT_APPKEY": "k", "WDT_APPSECRET": secret}, []string{"--redis-url", "redis://:pw1234567@127.0.0.1:1/0"}, []string{"redis unreachable", "redis://:xxxxx@127.0.0.1:1/0"}},
		{"bad log level", map[string]string{"WDT_URL": "http://127.0.0.1:1/openapi", "WDT_SID": "s", "WDT_APPKEY": "k", "WDT_APPSECRET": secret}, []string{"--redis-url", r.URL(), "--log-level", "loud"}, []string{"log level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"WDT_URL", "WDT_SID", "WDT_APPKEY", "WDT_APPSECRET"} {
				t.Setenv(k, tt.env[k])
			}
			args := append([]string{"worker", "--listen", ""}, tt.args...)
			_, errOut, code := runCmd(t, context.Background(), "", args...)
			if code != exitUsage {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q: %s", w, errOut)
				}
			}
			for _, leak := range []string{"CmdSecretQ1w2", "CmdSaltE3r4", "pw1234567"} {
				if strings.Contains(errOut, leak) {
					t.Fatalf("stderr leaks %q: %s", leak, errOut)
				}
			}
		})
	}
}

// TestWorkerAndDLQCommands runs the worker command in-process against the
// sandbox, then reads and re-drives the dead letters with the dlq command.
// It waits on the worker's own log lines: where it listens, and each task's
// outcome.
func TestWorkerAndDLQCommands(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	sb, err := sandbox.NewServer(sandbox.Options{Orders: map[string]int{"W1": 20, "W80": 80, "W81": 80}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	redisURL := []string{"--redis-url", r.URL()}
	wk := startCmd(t, append([]string{"worker", "--listen", "127.0.0.1:0", "--wdt-url", sb.APIURL(),
		"--sid", "sandbox", "--appkey", "sandbox", "--appsecret", "sandbox:sandbox"}, redisURL...)...)
	ops := listenAddr(t, wk.logged(t, "worker started"), "ops")
	if _, errOut, code := runCmd(t, context.Background(), "", append([]string{"enqueue", "W1", "W80", "W81"}, redisURL...)...); code != 0 {
		t.Fatalf("enqueue %d %s", code, errOut)
	}
	wk.loggedFor(t, "task done", "W1")
	wk.loggedFor(t, "task dead", "W80")
	wk.loggedFor(t, "task dead", "W81")
	var recs []map[string]any
	out, _, _ := runCmd(t, context.Background(), "", append([]string{"dlq", "ls", "--json"}, redisURL...)...)
	json.Unmarshal([]byte(out), &recs)
	if len(recs) != 2 || recs[0]["category"] != "rejected" || recs[0]["ambiguous"] != false {
		t.Fatalf("dlq ls: %v", recs)
	}
	out, _, code := runCmd(t, context.Background(), "", append([]string{"dlq", "show", "W80", "--json"}, redisURL...)...)
	if code != 0 || !strings.Contains(out, `"wdt_status":100`) {
		t.Fatalf("dlq show %d %s", code, out)
	}
	out, _, _ = runCmd(t, context.Background(), "", append([]string{"dlq", "ls"}, redisURL...)...)
	if !strings.Contains(out, "W81") || !strings.Contains(out, "2 dead-lettered") {
		t.Fatalf("dlq ls: %s", out)
	}
	resp, err := http.Get("http://" + ops + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz %v %v", resp, err)
	}
	resp.Body.Close()

	sb.SetOrder("W80", 30)
	out, _, code = runCmd(t, context.Background(), "", append([]string{"dlq", "requeue", "W80"}, redisURL...)...)
	if code != 0 || !strings.Contains(out, "requeued 1, failed 0") {
		t.Fatalf("requeue %d %s", code, out)
	}
	out, _, code = runCmd(t, context.Background(), "", append([]string{"dlq", "purge", "--all", "--yes"}, redisURL...)...)
	if code != 0 || !strings.Contains(out, "purged 1, failed 0") {
		t.Fatalf("purge %d %s", code, out)
	}
	_, _, code = runCmd(t, context.Background(), "", append([]string{"dlq", "requeue"}, redisURL...)...)
	if code != exitUsage {
		t.Fatalf("requeue without numbers: exit %d", code)
	}
	// The re-driven W80 is done: the task's second run logs it.
	if l := wk.loggedFor(t, "task done", "W80"); l["category"] != "cancelled" {
		t.Fatalf("requeued W80: %v", l)
	}
	if o, _ := sb.Order("W80"); o.Status != 10 {
		t.Fatalf("requeued W80 not cancelled: %+v", o)
	}
	out, _, _ = runCmd(t, context.Background(), "", append([]string{"status", "W81"}, redisURL...)...)
	if !strings.Contains(out, "W81: unknown") {
		t.Fatalf("purged number status: %s", out)
	}
	if code := wk.stop(t); code != 0 {
		t.Fatalf("worker exit %d: %s", code, wk.stderr)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/redistest"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// buildBinary compiles the real wdtcancel binary once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wdtcancel")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a wdtcancel process started by the test.
type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func startProc(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	cmd.Stdout = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// TestEndToEndSeparateProcesses runs sandbox, worker and enqueue as separate
// processes of the real binary against a Redis server, then checks the final
// state of every order at the sandbox and in `dlq ls --json`.
func TestEndToEndSeparateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const appSecret = "E2eSecretK8m1:E2eSaltP0o9"
	bin := buildBinary(t)
	r := redistest.New(t)
	dir := t.TempDir()

	var lines, nos []string
	kinds := map[string]string{}
	for i := 0; i < 45; i++ {
		no := fmt.Sprintf("E2E%03d", i)
		nos = append(nos, no)
		switch {
		case i < 30:
			lines, kinds[no] = append(lines, no+" 20"), "editable"
		case i < 35:
			lines, kinds[no] = append(lines, no+" 30"), "editable"
		case i < 40:
			lines, kinds[no] = append(lines, no+" 80"), "completed"
		case i < 43:
			lines, kinds[no] = append(lines, no+" 10"), "cancelled"
		default:
			kinds[no] = "unknown"
		}
	}
	ordersFile := filepath.Join(dir, "orders.txt")
	os.WriteFile(ordersFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644)

	sbAddr, opsAddr := freeAddr(t), freeAddr(t)
	env := []string{"REDIS_URL=" + r.URL(), "WDT_URL=http://" + sbAddr + "/openapi", "WDT_SID=e2e", "WDT_APPKEY=e2ekey", "WDT_APPSECRET=" + appSecret}
	sandbox := startProc(t, bin, env, "sandbox", "--listen", sbAddr, "--orders", ordersFile, "--unknown", "missing",
		"--fail-rate", "0.1", "--lost-response-rate", "0.05", "--clock-offset", "150s", "--seed", "11")
	waitListening(t, sbAddr)
	wk := startProc(t, bin, env, "worker", "--listen", opsAddr, "--concurrency", "4", "--backoff-base", "100ms", "--backoff-cap", "1s", "--shutdown-timeout", "5s")
	waitListening(t, opsAddr)

	enq := exec.Command(bin, "enqueue", "--file", "-", "--json", "--source", "e2e")
	enq.Env = append(os.Environ(), env...)
	enq.Stdin = strings.NewReader("# batch\r\n" + strings.Join(nos, "\r\n") + "\r\n")
	out, err := enq.Output()
	if err != nil {
		t.Fatalf("enqueue: %v %s", err, out)
	}
	var sum struct{ Enqueued, Duplicate, Invalid, Failed int }
	if json.Unmarshal(out, &sum) != nil || sum.Enqueued != len(nos) {
		t.Fatalf("enqueue output %s", out)
	}

	// Wait until every task is done or dead.
	conn, _ := asynq.ParseRedisURI(r.URL())
	insp := asynq.NewInspector(conn)
	defer insp.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		q, err := insp.GetQueueInfo(tasks.DefaultQueue)
		if err == nil && q.Completed+q.Archived == len(nos) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %+v %v\nworker log:\n%s", q, err, wk.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}

	dlqOut, err := exec.Command(bin, "dlq", "ls", "--json", "--redis-url", r.URL()).Output()
	if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		PreStockinNo string `json:"pre_stockin_no"`
		Category     string `json:"category"`
		Ambiguous    bool   `json:"ambiguous"`
		Source       string `json:"source"`
	}
	if err := json.Unmarshal(dlqOut, &recs); err != nil {
		t.Fatalf("dlq ls --json: %v %s", err, dlqOut)
	}
	dead := map[string]bool{}
	for _, rec := range recs {
		dead[rec.PreStockinNo] = true
		if rec.Category != "rejected" || rec.Source != "e2e" {
			t.Errorf("dead letter %+v", rec)
		}
		if kinds[rec.PreStockinNo] == "editable" && !rec.Ambiguous {
			t.Errorf("%s was editable but is dead without the ambiguous flag", rec.PreStockinNo)
		}
	}
	for _, no := range nos {
		resp, err := http.Get("http://" + sbAddr + "/_sandbox/orders/" + no)
		if err != nil {
			t.Fatal(err)
		}
		var o struct{ Status int }
		json.NewDecoder(resp.Body).Decode(&o)
		resp.Body.Close()
		switch kinds[no] {
		case "editable":
			if o.Status != 10 {
				t.Errorf("%s: editable order ended in state %d", no, o.Status)
			}
		case "completed":
			if o.Status != 80 || !dead[no] {
				t.Errorf("%s: completed order state %d dead %v", no, o.Status, dead[no])
			}
		default:
			if !dead[no] {
				t.Errorf("%s (%s) not dead-lettered", no, kinds[no])
			}
		}
	}

	// SIGTERM: the worker exits 0 within its shutdown timeout.
	wk.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-wk.done:
		if err != nil {
			t.Fatalf("worker exit after SIGTERM: %v\n%s", err, wk.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("worker did not exit within 15 s of SIGTERM")
	}
	sandbox.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-sandbox.done; err != nil {
		t.Fatalf("sandbox exit after SIGTERM: %v", err)
	}
	for name, p := range map[string]*proc{"worker": wk, "sandbox": sandbox} {
		for _, leak := range []string{"E2eSecretK8m1", "E2eSaltP0o9"} {
			if strings.Contains(p.stderr.String(), leak) {
				t.Fatalf("%s log leaks %q", name, leak)
			}
		}
	}
	if !strings.Contains(wk.stderr.String(), `"msg":"worker stopped"`) {
		t.Fatalf("worker did not log a clean stop:\n%s", wk.stderr)
	}
}

package clients_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// receiverProg is one example webhook receiver and how to start it
// listening on addr.
type receiverProg struct {
	name    string
	start   func(addr string) (bin string, args, env []string)
	missing func() string
}

var receivers = []receiverProg{
	{
		name: "php",
		start: func(addr string) (string, []string, []string) {
			return "php", []string{"-S", addr, "php/receiver.php"}, nil
		},
		missing: func() string {
			if _, err := exec.LookPath("php"); err != nil {
				return "php not found (apt-get install php-cli)"
			}
			return ""
		},
	},
	{
		name: "java",
		start: func(addr string) (string, []string, []string) {
			return "java", []string{"java/Receiver.java"}, []string{env("WDTCANCEL_RECEIVER_LISTEN", addr)}
		},
		missing: producers[1].missing,
	},
}

func TestPHPReceiver(t *testing.T)  { testReceiver(t, receivers[0]) }
func TestJavaReceiver(t *testing.T) { testReceiver(t, receivers[1]) }

// testReceiver runs a real worker (against the sandbox and a real Redis)
// with --notify-url at the example receiver: both outcomes of two numbers
// (cancelled, rejected) must be stored by the receiver, once each, after
// it verified their signatures; a forged POST is refused; and a
// redelivered event is answered 2xx without being stored twice.
func testReceiver(t *testing.T, p receiverProg) {
	t.Parallel()
	if why := p.missing(); why != "" {
		if v, _ := strconv.ParseBool(os.Getenv(RequireClientsEnv)); v {
			t.Fatalf("%s receiver cannot run: %s (%s=1 forbids skipping)", p.name, why, RequireClientsEnv)
		}
		t.Skipf("%s receiver cannot run: %s (set %s=1 to fail instead)", p.name, why, RequireClientsEnv)
	}
	r := testkit.NewRedis(t)
	dir := t.TempDir()
	const secret = "receiver-test-secret-Zq7"
	store := filepath.Join(dir, "events.jsonl")
	addr := testkit.FreeAddr(t)
	bin, args, extra := p.start(addr)
	rp := testkit.Start(t, p.name+" receiver", bin, append(extra, env("WDTCANCEL_NOTIFY_SECRET", secret), env("WDTCANCEL_EVENTS_FILE", store)), args...)
	// Java compiles the source first, which takes a while on a busy
	// machine: wait on its port with a deadline of its own.
	// A receiver that exits ends the wait at once.
	testkit.PollWithin(2*time.Minute, func() bool { return listening(addr) || rp.Exited() })
	if !listening(addr) {
		t.Fatalf("%s receiver never listened on %s: %s", p.name, addr, rp.Out.String())
	}

	// A forged POST: refused.
	resp, err := http.Post("http://"+addr+"/events", "application/json", strings.NewReader(`{"event_id":"evt_forged","pre_stockin_no":"X","outcome":"cancelled"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a POST without a signature: %d, want 401", resp.StatusCode)
	}

	sbAddr := testkit.FreeAddr(t)
	// The sandbox's orders file: RC01 editing (cancelled), RC80 completed
	// (rejected).
	orders := filepath.Join(dir, "orders")
	if err := os.WriteFile(orders, []byte("RC01 20\nRC80 80\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, "sandbox", binary(t), nil, "sandbox", "--listen", sbAddr, "--orders", orders)
	testkit.WaitListening(t, sbAddr)
	wenv := append(testkit.ProcessEnv(r), env("REDIS_URL", r.URL()), env("WDT_URL", "http://"+sbAddr+"/openapi"), env("WDT_SID", "sandbox"),
		env("WDT_APPKEY", "sandbox"), env("WDT_APPSECRET", "sandbox:sandbox"), env("WDTCANCEL_NOTIFY_SECRET", secret))
	testkit.Start(t, "worker", binary(t), wenv, "worker", "--listen", "127.0.0.1:0", "--notify-url", "http://"+addr+"/events")
	if res := testkit.Run(t, binary(t), wenv, "", "enqueue", "--source", "receiver-test", "RC01", "RC80"); res.Code != 0 {
		t.Fatalf("enqueue: exit %d: %s", res.Code, res.Output())
	}
	want := map[string]string{"RC01": "cancelled", "RC80": "rejected"}
	var stored map[string]map[string]any
	if !testkit.Poll(func() bool { stored = readStore(t, store); return len(stored) == 2 }) {
		t.Fatalf("the receiver stored %d events, want 2: %v", len(stored), stored)
	}
	for no, outcome := range want {
		ev := stored[no]
		if ev["outcome"] != outcome || ev["source"] != "receiver-test" {
			t.Errorf("stored event of %s: %v, want outcome %s from receiver-test", no, ev, outcome)
		}
	}
	// Redelivered: the receiver answers 2xx and keeps one copy.
	if res := testkit.Run(t, binary(t), wenv, "", "events", "redeliver", "RC01"); res.Code != 0 {
		t.Fatalf("events redeliver: exit %d: %s", res.Code, res.Output())
	}
	if !testkit.Poll(func() bool {
		res := testkit.Run(t, binary(t), wenv, "", "events", "ls")
		return strings.Contains(res.Stdout, "0 pending, unread: false, oldest undelivered 0s")
	}) {
		t.Fatal("the redelivered event was not acknowledged")
	}
	if n := countLines(t, store); n != 2 {
		t.Errorf("the receiver stored %d lines after a redelivery, want 2 (deduplicated by event_id)", n)
	}
}

// readStore reads the receiver's JSON Lines file, by number.
func readStore(t *testing.T, path string) map[string]map[string]any {
	out := map[string]map[string]any{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			no, _ := ev["pre_stockin_no"].(string)
			out[no] = ev
		}
	}
	return out
}

func countLines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

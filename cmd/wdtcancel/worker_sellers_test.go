package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/cmd/wdtcancel/internal/sellerconf"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// connSids is a WDT stand-in that answers every call with success and
// records which sids each TCP connection carried.
type connSids struct {
	mu    sync.Mutex
	byCon map[string]map[string]bool // remote address -> sids
	calls int
}

func newConnSids(t *testing.T) (*connSids, string) {
	c := &connSids{byCon: map[string]map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if c.byCon[r.RemoteAddr] == nil {
			c.byCon[r.RemoteAddr] = map[string]bool{}
		}
		c.byCon[r.RemoteAddr][r.URL.Query().Get("sid")] = true
		c.calls++
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":0,"message":"ok"}`)
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL + "/openapi"
}

// mixed is how many connections carried more than one sid; conns how many
// connections there were.
func (c *connSids) mixed() (mixed, conns, calls int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sids := range c.byCon {
		if len(sids) > 1 {
			mixed++
		}
	}
	return mixed, len(c.byCon), c.calls
}

// callInTurn calls every client in turn, rounds times, one call at a time,
// so an idle keep-alive connection is always there for the next caller to
// reuse if their transports were shared.
func callInTurn(t *testing.T, rounds int, callers ...worker.Caller) {
	t.Helper()
	for i := range rounds {
		for _, c := range callers {
			if err := c.CancelPreStockin(context.Background(), fmt.Sprintf("RK%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Sellers never share a connection, and by default no call shares one
// with any other: each seller's client has an HTTP client of its own that
// opens a fresh connection per call. A seller with reuse_connections keeps
// its connections alive, in a pool of its own; connection_close (deprecated)
// overrides it. The control, two clients reusing connections on one shared
// transport, shows the check would catch a shared transport.
func TestSellerLanesUseTheirOwnConnections(t *testing.T) {
	t.Parallel()
	stub, url := newConnSids(t)
	yaml := fmt.Sprintf(`inline_secrets: true
sellers:
  a: {sid: sid-a, appkey: key-a, appsecret: "sa:ta", url: %[1]s}
  b: {sid: sid-b, appkey: key-b, appsecret: "sb:tb", url: %[1]s}
  c: {sid: sid-c, appkey: key-c, appsecret: "sc:tc", url: %[1]s, reuse_connections: true, connection_close: true}
  d: {sid: sid-d, appkey: key-d, appsecret: "sd:td", url: %[1]s, reuse_connections: true}
`, url)
	sellers, err := sellerconf.Parse("test.yaml", []byte(yaml), func(string) (string, bool) { return "", false }, sellerconf.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	lanes, err := sellerLanes(sellers)
	if err != nil {
		t.Fatal(err)
	}
	callInTurn(t, 4, lanes[0].API, lanes[1].API)
	mixed, conns, calls := stub.mixed()
	if mixed != 0 || conns != 8 || calls != 8 {
		t.Fatalf("%d calls over %d connections, %d carried two sids; want 8 over 8 (a fresh one per call), none mixed", calls, conns, mixed)
	}
	// connection_close beats reuse_connections: a new connection per call.
	callInTurn(t, 3, lanes[2].API)
	if _, conns, _ := stub.mixed(); conns != 8+3 {
		t.Fatalf("seller c with connection_close: %d connections in all, want 11", conns)
	}
	// reuse_connections: one kept-alive connection for all of d's calls,
	// even taking turns with another seller.
	callInTurn(t, 3, lanes[3].API, lanes[0].API)
	if mixed, conns, _ := stub.mixed(); mixed != 0 || conns != 11+1+3 {
		t.Fatalf("seller d with reuse_connections beside a: %d connections in all (%d mixed), want 15 (one for d, three for a)", conns, mixed)
	}

	control, url2 := newConnSids(t)
	sharedPool := wdt.NewKeepAliveHTTPClient()
	var shared []worker.Caller
	for _, s := range []string{"x", "y"} {
		creds, _ := wdt.NewCredentials("sid-"+s, "key-"+s, "s:t")
		c, err := wdt.New(url2, creds, wdt.WithConnectionReuse(), wdt.WithHTTPClient(sharedPool))
		if err != nil {
			t.Fatal(err)
		}
		shared = append(shared, c)
	}
	callInTurn(t, 4, shared...)
	if mixed, _, _ := control.mixed(); mixed == 0 {
		t.Fatal("control: clients reusing connections on one shared transport never shared a connection; the check above proves nothing")
	}
	sharedPool.CloseIdleConnections()
}

// writeSellers writes a sellers file for the test.
func writeSellers(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sellers.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A bad sellers file, or single-seller settings beside one, stops the worker
// at start (exit 2) with what to fix, naming the seller and the field and
// never showing a secret.
func TestWorkerSellersFileErrors(t *testing.T) {
	r := testkit.NewRedis(t)
	const inline = "InlSecretK8j:InlSaltM2n"
	good := writeSellers(t, "sellers:\n  acme: {sid: acme, appkey: acme-erp, appsecret_env: CMDTEST_ACME_SECRET, url: http://127.0.0.1:1/openapi}\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"env blank", nil, []string{"--sellers", good}, []string{good, `seller "acme"`, "appsecret_env CMDTEST_ACME_SECRET is set but blank"}},
		{"from the environment", map[string]string{"WDTCANCEL_SELLERS": good}, nil, []string{`seller "acme"`, "appsecret_env"}},
		{"inline secret", nil, []string{"--sellers", writeSellers(t, "sellers:\n  shop-7: {sid: s7, appkey: k7, appsecret: \""+inline+"\", url: http://127.0.0.1:1/openapi}\n")},
			[]string{`seller "shop-7"`, "appsecret is written in the file", "appsecret_env"}},
		{"bad field", nil, []string{"--sellers", writeSellers(t, "sellers:\n  shop-7: {sid: s7, appkey: k7, appsecret_evn: X}\n")}, []string{"appsecret_evn"}},
		{"no file", nil, []string{"--sellers", "/nonexistent/sellers.yaml"}, []string{"/nonexistent/sellers.yaml"}},
		{"beside WDT_SID", map[string]string{"WDT_SID": "acme", "WDT_APPSECRET": inline, "CMDTEST_ACME_SECRET": "x:y"}, []string{"--sellers", good},
			[]string{"WDT_SID (--sid)", "WDT_APPSECRET (--appsecret)", "`default`"}},
		{"share", map[string]string{"CMDTEST_ACME_SECRET": "x:y"}, []string{"--sellers", good, "--seller-share", "1.5"}, []string{"--seller-share"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"WDT_URL", "WDT_SID", "WDT_APPKEY", "WDT_APPSECRET", "WDTCANCEL_SELLERS", "CMDTEST_ACME_SECRET"} {
				t.Setenv(k, tt.env[k])
			}
			args := append([]string{"worker", "--listen", "", "--redis-url", r.URL()}, tt.args...)
			_, errOut, code := runCmd(t, context.Background(), "", args...)
			if code != exitUsage {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q: %s", w, errOut)
				}
			}
			for _, leak := range []string{"InlSecretK8j", "InlSaltM2n"} {
				if strings.Contains(errOut, leak) {
					t.Fatalf("stderr leaks %q: %s", leak, errOut)
				}
			}
		})
	}
}

// The worker command serves every seller of a sellers file, each against
// its own sandbox; `retry --held --seller` closes one seller's breaker and
// runs its held tasks after its secret was fixed.
func TestWorkerCommandServesSellers(t *testing.T) {
	r := testkit.NewRedis(t)
	sbs := map[string]*sandbox.Server{}
	for _, s := range []string{"acme", "shop-7"} {
		sb, err := sandbox.NewServer(sandbox.Options{SID: "sid-" + s, AppKey: "key-" + s, AppSecret: "sec-" + s + ":salt-" + s})
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		sbs[s] = sb
	}
	t.Setenv("CMDTEST_ACME", "sec-acme:salt-acme")
	t.Setenv("CMDTEST_SHOP7", "sec-shop-7:wrong-salt")
	for _, k := range []string{"WDT_URL", "WDT_SID", "WDT_APPKEY", "WDT_APPSECRET", "WDTCANCEL_SELLERS"} {
		t.Setenv(k, "")
	}
	file := writeSellers(t, fmt.Sprintf(`sellers:
  acme: {sid: sid-acme, appkey: key-acme, appsecret_env: CMDTEST_ACME, url: %s}
  shop-7: {sid: sid-shop-7, appkey: key-shop-7, appsecret_env: CMDTEST_SHOP7, url: %s}
`, sbs["acme"].APIURL(), sbs["shop-7"].APIURL()))
	args := []string{"worker", "--listen", "127.0.0.1:0", "--redis-url", r.URL(), "--sellers", file,
		"--config-fault-delay", "1h", "--breaker-hold", "1h", "--task-check-interval", "20ms"}
	wk := startCmd(t, args...)
	started := wk.logged(t, "worker started")
	if started["sellers"] != float64(2) {
		t.Fatalf("started: %v", started)
	}
	conn, _ := asynq.ParseRedisURI(r.URL())
	client := asynq.NewClient(conn)
	defer client.Close()
	for _, s := range []string{"acme", "shop-7"} {
		task, err := tasks.NewCancelTaskFor(s, "RK1", "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		info, err := client.Enqueue(task)
		if err != nil {
			t.Fatal(err)
		}
		// As producers do: the worker polls the queues in the activity
		// index (docs/sellers.md, "Idle sellers cost nothing").
		rdb := conn.MakeRedisClient().(redis.UniversalClient)
		err = store.MarkActive(context.Background(), rdb, info.Queue)
		rdb.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if l := wk.loggedFor(t, "task done", "RK1"); l["seller"] != "acme" {
		t.Fatalf("done: %v", l)
	}
	if l := wk.loggedFor(t, "task hold", "RK1"); l["seller"] != "shop-7" {
		t.Fatalf("held: %v", l)
	}
	if code := wk.stop(t); code != 0 {
		t.Fatalf("worker exit %d: %s", code, wk.stderr)
	}
	if strings.Contains(wk.stderr.String(), "wrong-salt") || strings.Contains(wk.stderr.String(), "salt-acme") {
		t.Fatal("worker log leaks a salt")
	}

	// The operator fixes shop-7's secret, runs its held task now and
	// restarts the worker.
	t.Setenv("CMDTEST_SHOP7", "sec-shop-7:salt-shop-7")
	out, errOut, code := runCmd(t, context.Background(), "", "retry", "--held", "--seller", "shop-7", "--redis-url", r.URL())
	if code != 0 || out != "seller shop-7's circuit breaker closed\n1 held task(s) of seller shop-7's queue wdt-cancel:shop-7 moved to pending\n" {
		t.Fatalf("retry %d %q %q", code, out, errOut)
	}
	wk = startCmd(t, args...)
	wk.stderr.lines.Wait(t, "shop-7's RK1 done", 1, func(l logLine) bool {
		return l["msg"] == "task done" && l["pre_stockin_no"] == "RK1" && l["seller"] == "shop-7"
	})
	if o, _ := sbs["shop-7"].Order("RK1"); o.Status != sandbox.StateCancelled {
		t.Fatalf("shop-7 RK1 %+v", o)
	}
	if _, errOut, code := runCmd(t, context.Background(), "", "retry", "--held", "--seller", "Bad!", "--redis-url", r.URL()); code != exitUsage || !strings.Contains(errOut, "--seller") {
		t.Fatalf("bad seller: %d %s", code, errOut)
	}
}

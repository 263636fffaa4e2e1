//go:build faults

package faults

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/reconcile"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/internal/testkit/runview"
)

var full = flag.Bool("faults.full", false, "run every scenario at full size")

// A distinctive appsecret: scenario 7 scans every output for its parts.
const (
	secretPart = "FaultSecretZq81"
	saltPart   = "FaultSaltWx27"
	appSecret  = secretPart + ":" + saltPart
)

var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "wdtcancel-faults-")
	if err != nil {
		panic(err)
	}
	if bin, err = testkit.Build(dir, "../../cmd/wdtcancel"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// size picks the short or the full figure.
func size(short, fullSize int) int {
	if *full {
		return fullSize
	}
	return short
}

func dur(short, fullSize time.Duration) time.Duration {
	if *full {
		return fullSize
	}
	return short
}

// proc is one wdtcancel process, with its ops address for workers.
type proc struct {
	*testkit.Proc
	ops string
}

// env is one scenario's world: a redis-server, a sandbox process, workers.
type env struct {
	t       *testing.T
	dir     string
	redis   *testkit.Redis
	sbAddr  string
	sandbox *proc
	mu      sync.Mutex
	procs   []*proc
	outputs testkit.SyncBuffer // every CLI output and HTTP body, for the secret scan
	// redisVars, when set, replace REDIS_URL=redis.URL() (a Sentinel or
	// Cluster topology: scenarios 12 and 13).
	redisVars []string
	// sellersFile: the workers and the sandbox take their sellers from
	// files (--sellers), so no process gets the single seller's WDT_SID,
	// WDT_APPKEY, WDT_APPSECRET or their sandbox twins, which a sellers
	// file refuses beside it.
	sellersFile bool
}

func newEnv(t *testing.T, ro testkit.RedisOptions) *env {
	t.Helper()
	ro.ForbidFallback = true
	e := &env{t: t, dir: t.TempDir(), redis: testkit.NewRedisWith(t, ro)}
	// Registered before any process starts, so it runs after each has been
	// killed by its own cleanup.
	t.Cleanup(e.scanSecrets)
	return e
}

func (e *env) envVars() []string {
	redisVars := e.redisVars
	if redisVars == nil {
		redisVars = []string{"REDIS_URL=" + e.redis.URL()}
	}
	if e.sellersFile {
		return append(redisVars, "WDT_URL=http://"+e.sbAddr+"/openapi")
	}
	return append(redisVars, "WDT_URL=http://"+e.sbAddr+"/openapi",
		"WDT_SID=faults", "WDT_APPKEY=faultkey", "WDT_APPSECRET="+appSecret,
		// The sandbox reads only its own variables, never the worker's WDT_*.
		"WDTCANCEL_SANDBOX_SID=faults", "WDTCANCEL_SANDBOX_APPKEY=faultkey", "WDTCANCEL_SANDBOX_APPSECRET="+appSecret)
}

func (e *env) start(name string, args ...string) *proc {
	e.t.Helper()
	p := &proc{Proc: testkit.Start(e.t, name, bin, e.envVars(), args...)}
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p
}

// scanSecrets is scenario 7, applied to every scenario: no process output,
// CLI output or HTTP body may contain the appsecret's parts.
func (e *env) scanSecrets() {
	e.mu.Lock()
	defer e.mu.Unlock()
	testkit.NoLeaks(e.t, "CLI output or HTTP body", e.outputs.String(), secretPart, saltPart)
	for i, p := range e.procs {
		testkit.NoLeaks(e.t, fmt.Sprintf("%s#%d output", p.Name, i), p.Out.String(), secretPart, saltPart)
	}
}

// order kinds and the sandbox's orders file.
type orderSet struct {
	nos   []string
	state map[string]int // initial state
}

func makeOrders(prefix string, n int, completedEvery int) orderSet {
	s := orderSet{state: map[string]int{}}
	for i := 0; i < n; i++ {
		no := fmt.Sprintf("%s%06d", prefix, i)
		s.nos = append(s.nos, no)
		st := 20
		if i%5 == 4 {
			st = 30
		}
		if completedEvery > 0 && i%completedEvery == completedEvery-1 {
			st = 80
		}
		s.state[no] = st
	}
	return s
}

func (e *env) startSandbox(o orderSet, extra ...string) {
	e.t.Helper()
	file := runview.WriteOrders(e.t, e.dir, o.nos, o.state)
	e.sbAddr = testkit.FreeAddr(e.t)
	args := append([]string{"sandbox", "--listen", e.sbAddr, "--orders", file, "--unknown", "missing",
		"--sid", "faults", "--appkey", "faultkey", "--log-level", "warn"}, extra...)
	e.sandbox = e.start("sandbox", args...)
	testkit.WaitListening(e.t, e.sbAddr)
}

// startWorker starts a worker process with its ops port.
func (e *env) startWorker(extra ...string) *proc {
	e.t.Helper()
	ops := testkit.FreeAddr(e.t)
	args := append([]string{"worker", "--listen", ops, "--log-level", "warn", "--backoff-base", "100ms", "--backoff-cap", "2s"}, extra...)
	p := e.start("worker", args...)
	p.ops = ops
	testkit.WaitListening(e.t, ops)
	return p
}

// cli runs a wdtcancel command to completion; its output joins the scan.
func (e *env) cli(stdin string, args ...string) testkit.Result {
	e.t.Helper()
	r := testkit.Run(e.t, bin, e.envVars(), stdin, args...)
	e.outputs.Write([]byte(r.Output()))
	return r
}

// get fetches an HTTP answer (decoded into into unless nil); its body
// joins the scan.
func (e *env) get(url string, into any) []byte {
	e.t.Helper()
	_, b := testkit.GetJSON(e.t, url, into)
	e.outputs.Write(b)
	return b
}

// enqueueAll enqueues through the CLI (with extra arguments, such as
// --seller NAME) and returns the numbers it acknowledged as enqueued.
func (e *env) enqueueAll(nos []string, extra ...string) []string {
	e.t.Helper()
	r := e.cli(strings.Join(nos, "\n"), append([]string{"enqueue", "--file", "-", "--json"}, extra...)...)
	var sum struct {
		Enqueued int `json:"enqueued"`
		Items    []struct {
			No     string `json:"pre_stockin_no"`
			Result string `json:"result"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil {
		e.t.Fatalf("enqueue (exit %d): %v\n%.500s", r.Code, err, r.Output())
	}
	notEnqueued := map[string]bool{}
	for _, it := range sum.Items {
		notEnqueued[it.No] = true
	}
	var acked []string
	for _, no := range nos {
		if !notEnqueued[no] {
			acked = append(acked, no)
		}
	}
	if len(acked) != sum.Enqueued {
		e.t.Fatalf("enqueue acknowledged %d but listed %d", sum.Enqueued, len(acked))
	}
	return acked
}

func (e *env) inspector() *asynq.Inspector {
	conn, _ := asynq.ParseRedisURI(e.redis.URL())
	return asynq.NewInspector(conn)
}

// waitSettled waits until every task is done or dead (runview.WaitSettled).
func (e *env) waitSettled(want int, within time.Duration) time.Duration {
	e.t.Helper()
	return runview.WaitSettled(e.t, e.redis.URL(), want, within)
}

// sandboxOrders is the sandbox's view of every order it holds, by number.
func (e *env) sandboxOrders() map[string]reconcile.Order {
	e.t.Helper()
	list, _ := runview.SandboxOrders(e.t, e.sbAddr)
	m := make(map[string]reconcile.Order, len(list))
	for _, o := range list {
		m[o.PreStockinNo] = o
	}
	return m
}

// dlq reads wdtcancel's dead-letter records through `dlq ls --json`.
func (e *env) dlq() map[string]reconcile.DeadLetter {
	e.t.Helper()
	r := e.cli("", "dlq", "ls", "--json")
	if r.Code != 0 {
		e.t.Fatalf("dlq ls --json exit %d: %.300s", r.Code, r.Output())
	}
	return runview.ParseDLQ(e.t, r.Stdout)
}

// verify is the ground-truth check every scenario makes: the sandbox's
// view of the orders against wdtcancel's, judged by package reconcile
// (the rules the demo and the end-to-end test use too).
func (e *env) verify(o orderSet) reconcile.Verdict {
	e.t.Helper()
	orders, _ := runview.SandboxOrders(e.t, e.sbAddr)
	return reconcile.Check(reconcile.Input{
		Nos: o.nos, Initial: o.state, UnknownMissing: true,
		Orders: orders, Numbers: runview.View(e.t, e.redis.URL(), e.dlq(), o.nos),
	})
}

// mustVerify fails the test on any problem, and on any order given up
// (exhausted): no scenario's faults outlast the retry schedule, so every
// order must end with a definite answer.
func (e *env) mustVerify(o orderSet) reconcile.Verdict {
	e.t.Helper()
	v := e.verify(o)
	for i, p := range v.Problems {
		if i == 20 {
			e.t.Errorf("... and %d more", len(v.Problems)-20)
			break
		}
		e.t.Error(p)
	}
	if n := v.Exhausted(); n > 0 {
		e.t.Errorf("%d orders given up (exhausted), %d of them editable orders left uncancelled", n, v.NotCancelled)
	}
	return v
}

func readyz(addr string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func sigterm(p *proc) { p.Signal(syscall.SIGTERM) }

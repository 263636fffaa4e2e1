//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/redistest"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
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
	bin = filepath.Join(dir, "wdtcancel")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/wdtcancel")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
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

// syncBuf is a bytes.Buffer safe for a process writing while a test reads.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// proc is one wdtcancel process.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuf
	done chan struct{}
	err  error
	ops  string // ops address, for workers
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// env is one scenario's world: a redis-server, a sandbox process, workers.
type env struct {
	t       *testing.T
	dir     string
	redis   *redistest.Redis
	sbAddr  string
	sandbox *proc
	mu      sync.Mutex
	procs   []*proc
	outputs syncBuf // every CLI output and HTTP body, for the secret scan
}

func newEnv(t *testing.T, ro redistest.Options) *env {
	t.Helper()
	ro.ForbidFallback = true
	e := &env{t: t, dir: t.TempDir(), redis: redistest.NewWith(t, ro)}
	t.Cleanup(e.stopAll)
	return e
}

func (e *env) envVars() []string {
	return []string{"REDIS_URL=" + e.redis.URL(), "WDT_URL=http://" + e.sbAddr + "/openapi",
		"WDT_SID=faults", "WDT_APPKEY=faultkey", "WDT_APPSECRET=" + appSecret}
}

func (e *env) start(name string, args ...string) *proc {
	e.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), e.envVars()...)
	p := &proc{name: name, cmd: cmd, out: &syncBuf{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p
}

func (e *env) stopAll() {
	e.mu.Lock()
	procs := append([]*proc(nil), e.procs...)
	e.mu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	e.scanSecrets()
}

// scanSecrets is scenario 7, applied to every scenario: no process output,
// CLI output or HTTP body may contain the appsecret's parts.
func (e *env) scanSecrets() {
	e.mu.Lock()
	defer e.mu.Unlock()
	texts := map[string]string{"outputs": e.outputs.String()}
	for i, p := range e.procs {
		texts[fmt.Sprintf("%s#%d", p.name, i)] = p.out.String()
	}
	for name, text := range texts {
		for _, bad := range []string{secretPart, saltPart} {
			if strings.Contains(text, bad) {
				e.t.Errorf("secret part %q found in %s", bad, name)
			}
		}
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listening on %s", addr)
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
	var b strings.Builder
	for _, no := range o.nos {
		fmt.Fprintf(&b, "%s %d\n", no, o.state[no])
	}
	file := filepath.Join(e.dir, "orders.txt")
	os.WriteFile(file, []byte(b.String()), 0o644)
	e.sbAddr = freeAddr(e.t)
	args := append([]string{"sandbox", "--listen", e.sbAddr, "--orders", file, "--unknown", "missing",
		"--sid", "faults", "--appkey", "faultkey", "--log-level", "warn"}, extra...)
	e.sandbox = e.start("sandbox", args...)
	waitListening(e.t, e.sbAddr)
}

// startWorker starts a worker process with its ops port.
func (e *env) startWorker(extra ...string) *proc {
	e.t.Helper()
	ops := freeAddr(e.t)
	args := append([]string{"worker", "--listen", ops, "--log-level", "warn", "--backoff-base", "100ms", "--backoff-cap", "2s"}, extra...)
	p := e.start("worker", args...)
	p.ops = ops
	waitListening(e.t, ops)
	return p
}

// cli runs a wdtcancel command to completion.
func (e *env) cli(stdin string, args ...string) (string, int) {
	e.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), e.envVars()...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	e.outputs.Write(out.Bytes())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return out.String(), code
}

// enqueueAll enqueues through the CLI and returns the numbers it
// acknowledged as enqueued.
func (e *env) enqueueAll(nos []string) []string {
	e.t.Helper()
	out, code := e.cli(strings.Join(nos, "\n"), "enqueue", "--file", "-", "--json")
	var sum struct {
		Enqueued int `json:"enqueued"`
		Items    []struct {
			No     string `json:"pre_stockin_no"`
			Result string `json:"result"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		e.t.Fatalf("enqueue (exit %d): %v\n%.500s", code, err, out)
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

// waitSettled waits until no task is pending, active, scheduled or retrying
// and every number is done or dead. Dead is counted from wdtcancel's own
// DLQ as well as asynq's archive, which asynq trims at 10,000 tasks.
func (e *env) waitSettled(want int, within time.Duration) time.Duration {
	e.t.Helper()
	insp := e.inspector()
	defer insp.Close()
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr})
	defer rdb.Close()
	start := time.Now()
	var q *asynq.QueueInfo
	var err error
	for time.Since(start) < within {
		q, err = insp.GetQueueInfo(tasks.DefaultQueue)
		if err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0 {
			dead, _ := rdb.HLen(context.Background(), store.DeadLetterKey(tasks.DefaultQueue)).Result()
			if q.Completed+max(q.Archived, int(dead)) >= want {
				return time.Since(start)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("not settled within %s: %+v %v", within, q, err)
	return 0
}

type sbOrder struct {
	No            string `json:"pre_stockin_no"`
	Status        int    `json:"status"`
	CancelCalls   int    `json:"cancel_calls"`
	LostResponses int    `json:"lost_responses"`
	// GarbledResponses counts calls the sandbox applied and then answered
	// with something that is not a definite WDT answer.
	GarbledResponses int `json:"garbled_responses"`
}

func (e *env) sandboxOrders() map[string]sbOrder {
	e.t.Helper()
	resp, err := http.Get("http://" + e.sbAddr + "/_sandbox/orders")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []sbOrder
	json.NewDecoder(resp.Body).Decode(&list)
	m := make(map[string]sbOrder, len(list))
	for _, o := range list {
		m[o.No] = o
	}
	return m
}

type deadRec struct {
	No        string `json:"pre_stockin_no"`
	Category  string `json:"category"`
	Ambiguous bool   `json:"ambiguous"`
}

func (e *env) dlq() map[string]deadRec {
	e.t.Helper()
	out, code := e.cli("", "dlq", "ls", "--json")
	var list []deadRec
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		e.t.Fatalf("dlq ls --json exit %d: %.300s", code, out)
	}
	m := make(map[string]deadRec, len(list))
	for _, r := range list {
		m[r.No] = r
	}
	return m
}

// verdict is the ground-truth check shared by the scenarios: every
// editable order is cancelled at the sandbox; every completed one is dead
// as rejected; an editable order in the DLQ must be flagged ambiguous;
// every number is done or dead (nothing lost). It returns the figures.
type verdict struct {
	Orders, Cancelled, Dead, Ambiguous, CalledMoreThanOnce, Calls int
}

func (e *env) verify(o orderSet) (verdict, []string) {
	e.t.Helper()
	sb := e.sandboxOrders()
	dead := e.dlq()
	insp := e.inspector()
	defer insp.Close()
	v := verdict{Orders: len(o.nos)}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, no := range o.nos {
		so := sb[no]
		v.Calls += so.CancelCalls
		if so.CancelCalls > 1 {
			v.CalledMoreThanOnce++
		}
		rec, isDead := dead[no]
		info, err := insp.GetTaskInfo(tasks.DefaultQueue, no)
		done := err == nil && info.State == asynq.TaskStateCompleted
		switch {
		case done:
			v.Cancelled++
		case isDead:
			v.Dead++
			if rec.Ambiguous {
				v.Ambiguous++
			}
		default:
			bad("LOST %s: neither done nor dead (task %+v, %v)", no, info, err)
		}
		switch o.state[no] {
		case 20, 30:
			if so.Status != 10 {
				bad("%s: editable order ended in state %d at the sandbox", no, so.Status)
			}
			if isDead && !rec.Ambiguous {
				bad("MISFILED %s: cancelled at the sandbox but dead-lettered %s without the ambiguous flag", no, rec.Category)
			}
		case 80, 10:
			if done {
				bad("MISFILED %s: order in state %d reported cancelled", no, o.state[no])
			}
			if isDead && rec.Category != "rejected" {
				bad("%s: dead as %s, want rejected", no, rec.Category)
			}
		}
		if isDead && so.LostResponses+so.GarbledResponses > 0 && rec.Category == "rejected" && !rec.Ambiguous {
			bad("MISFILED %s: a response was lost or garbled after the call was applied, then rejected, but not flagged ambiguous", no)
		}
	}
	return v, problems
}

// mustVerify fails the test on any problem.
func (e *env) mustVerify(o orderSet) verdict {
	e.t.Helper()
	v, problems := e.verify(o)
	for i, p := range problems {
		if i == 20 {
			e.t.Errorf("... and %d more", len(problems)-20)
			break
		}
		e.t.Error(p)
	}
	return v
}

func (v verdict) String() string {
	return fmt.Sprintf("orders %d, cancelled %d, dead %d (ambiguous %d), calls %d, orders called more than once %d",
		v.Orders, v.Cancelled, v.Dead, v.Ambiguous, v.Calls, v.CalledMoreThanOnce)
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

func sigterm(p *proc) { p.cmd.Process.Signal(syscall.SIGTERM) }

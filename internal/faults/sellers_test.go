//go:build faults

package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/reconcile"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/internal/testkit/runview"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// 14. Several sellers on one worker pool (docs/sellers.md). One sandbox
// serves three sellers: healthy; broken, for which the workers' sellers file
// holds a wrong appsecret; slow, with a low quota at the sandbox (half the
// workers' own rate for it, so the sandbox must refuse calls) and 350 ms
// latency. Two worker processes serve all three from one sellers file. The
// healthy seller runs alone first, then beside the other two, and its
// throughput is compared. The broken seller's tasks must all be held, none
// dead; after its secret is fixed in the file, `retry --held --seller
// broken` run and the workers restarted, all must be cancelled. The slow seller
// must meet the sandbox's rate limit, never have more accepted calls in a
// minute than its quota there (counted from the sandbox's call log), and
// have none of its tasks dead-lettered. Numbers enqueued for both healthy
// and slow must be cancelled at each. The ground truth is package
// reconcile's, seller by seller.
func TestSeveralSellers(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{AppendFsync: "everysec"})
	e.sellersFile = true
	n := size(80, 400)
	quota := size(60, 120) // slow's calls per minute at the sandbox
	// The workers' rate for slow is above the quota, so the sandbox must
	// answer with its rate limit. Twice the quota, because the workers do
	// not reach a configured rate: a task that must wait for the limiter is
	// put back and returns on asynq's once-a-second forwarder. At 10% above
	// the quota the sandbox refused 1 call in the short form and none in
	// the full one (where the workers reached 220 of their 264 a minute).
	workerRate := 2 * quota
	alone := makeOrders("HALONE", n, 0)
	healthy := makeOrders("HMIX", n, 0)
	broken := makeOrders("BROKEN", n, 0)
	slow := makeOrders("SLOW", n, 0)
	shared := makeOrders("SHARED", size(5, 20), 0)
	healthyAll := unionOrders(alone, healthy, shared)
	slowAll := unionOrders(slow, shared)

	sbFile := e.writeSandboxSellers([]sellerSpec{
		{name: "healthy", orders: healthyAll, block: "latency: 20ms"},
		{name: "broken", orders: broken},
		{name: "slow", orders: slowAll, block: fmt.Sprintf("rate_per_minute: %d, latency: 350ms", quota)},
	})
	wrong := secretPart + "Wrong:" + saltPart + "Wrong"
	wFile := filepath.Join(e.dir, "workers-sellers.yaml")
	writeWorkerSellers(t, wFile, wrong, workerRate)

	e.sbAddr = testkit.FreeAddr(t)
	e.sandbox = e.start("sandbox", "sandbox", "--listen", e.sbAddr, "--sellers", sbFile, "--log-level", "info")
	testkit.WaitListening(t, e.sbAddr)
	pool := func() []*proc {
		// A short cooldown after a rate-limit answer, as in scenario 4: the
		// default minute would only make the slow seller slower.
		args := []string{"--sellers", wFile, "--concurrency", "4", "--cooldown", "5s"}
		return []*proc{e.startWorker(args...), e.startWorker(args...)}
	}
	workers := pool()

	// The healthy seller alone: the figure to compare with.
	start := time.Now()
	e.enqueueAll(alone.nos, "--seller", "healthy")
	aloneTook := e.waitSeller("healthy", len(alone.nos), start, 3*time.Minute)

	// All three, and the shared numbers for healthy and slow. The healthy
	// seller's batch goes last, so the others already compete for the pool.
	brokenStart := time.Now()
	e.enqueueAll(broken.nos, "--seller", "broken")
	slowStart := time.Now()
	e.enqueueAll(slow.nos, "--seller", "slow")
	e.enqueueAll(shared.nos, "--seller", "slow")
	e.enqueueAll(shared.nos, "--seller", "healthy")
	start = time.Now()
	e.enqueueAll(healthy.nos, "--seller", "healthy")
	mixedTook := e.waitSeller("healthy", len(healthyAll.nos), start, 3*time.Minute)

	// Broken: every task held, none dead, readiness names the seller.
	heldAfter := e.waitHeld("broken", len(broken.nos), brokenStart, time.Minute)
	if dead := len(e.sellerDLQ("broken")); dead != 0 {
		t.Errorf("broken: %d tasks dead-lettered for a configuration fault, want all held", dead)
	}
	ready := e.get("http://"+workers[0].ops+"/readyz", nil)
	if !strings.Contains(string(ready), "broken") {
		t.Errorf("/readyz does not name the broken seller: %.300s", ready)
	}

	var before sandbox.Stats
	e.get("http://"+e.sbAddr+"/_sandbox/stats?seller=broken", &before)
	brokenRefused := before.ByStatus["1"]
	if before.ByStatus["0"] != 0 || brokenRefused == 0 {
		t.Errorf("broken's calls at the sandbox before the fix: %v, want only refusals", before.ByStatus)
	}

	// Fix the secret and restart the pool, releasing the held tasks with
	// retry --held while it is down: a starting worker probes an open
	// breaker at once, so run after the restart, the command would race the
	// workers' own release and show nothing of its own.
	writeWorkerSellers(t, wFile, sellerSecret("broken"), workerRate)
	for _, w := range workers {
		sigterm(w)
	}
	for _, w := range workers {
		if exited, _ := w.Wait(30 * time.Second); !exited {
			t.Fatalf("worker did not exit after SIGTERM: %s", w.Out.String())
		}
	}
	fixed := time.Now()
	r := e.cli("", "retry", "--held", "--seller", "broken")
	released := -1
	for _, line := range strings.Split(r.Stdout, "\n") {
		if i := strings.Index(line, " held task(s)"); i > 0 {
			fmt.Sscan(line[:i], &released)
		}
	}
	if r.Code != 0 || released != len(broken.nos) {
		t.Fatalf("retry --held --seller broken: exit %d, released %d of %d: %.300s", r.Code, released, len(broken.nos), r.Output())
	}
	workers = pool()
	brokenTook := e.waitSeller("broken", len(broken.nos), fixed, 3*time.Minute)

	slowTook := e.waitSeller("slow", len(slowAll.nos), slowStart, dur(5*time.Minute, 8*time.Minute))

	// The ground truth, seller by seller.
	vh := e.verifySeller("healthy", healthyAll)
	vb := e.verifySeller("broken", broken)
	vs := e.verifySeller("slow", slowAll)
	for _, c := range []struct {
		seller string
		v      reconcile.Verdict
		o      orderSet
	}{{"healthy", vh, healthyAll}, {"broken", vb, broken}, {"slow", vs, slowAll}} {
		if c.v.Done != len(c.o.nos) || c.v.Dead != 0 {
			t.Errorf("%s: %s; want every order cancelled and none dead", c.seller, c.v)
		}
	}
	sharedAt := map[string]int{}
	for _, seller := range []string{"healthy", "slow"} {
		for _, no := range shared.nos {
			if o := e.sellerOrder(seller, no); o.Status == sandbox.StateCancelled && o.CancelCalls >= 1 {
				sharedAt[seller]++
			}
		}
	}
	if sharedAt["healthy"] != len(shared.nos) || sharedAt["slow"] != len(shared.nos) {
		t.Errorf("shared numbers cancelled: %v of %d at each seller", sharedAt, len(shared.nos))
	}

	// Slow: its accepted calls per minute at the sandbox, from the call log.
	calls := sandboxCalls(t, e.sandbox.Out.String(), "slow")
	// The log's time is taken just after the sandbox admitted the call, so
	// the window is cut a little short of the minute it enforces.
	window := time.Minute - 250*time.Millisecond
	maxAccepted, maxTried, limited := perWindow(calls, window)
	if maxAccepted > quota {
		t.Errorf("slow: %d calls accepted within %s at the sandbox, quota %d a minute", maxAccepted, window, quota)
	}
	if limited == 0 {
		t.Errorf("slow: the sandbox never answered with a rate limit (workers at %d/min against a quota of %d)", workerRate, quota)
	}
	var st sandbox.MultiStats
	e.get("http://"+e.sbAddr+"/_sandbox/stats", &st)

	ratio := aloneTook.Seconds() / mixedTook.Seconds()
	t.Logf("several sellers: healthy alone %d orders in %s (%.0f/s); beside broken and slow %d orders in %s (%.0f/s): %.2f of its throughput alone",
		n, aloneTook.Round(10*time.Millisecond), float64(n)/aloneTook.Seconds(), n, mixedTook.Round(10*time.Millisecond), float64(n)/mixedTook.Seconds(), ratio)
	t.Logf("several sellers: broken (wrong appsecret) %d of %d held when checked %s after enqueue (once healthy had settled), 0 dead, %d calls reached the sandbox with the wrong secret, /readyz named it; secret fixed, workers stopped, retry --held --seller broken: %q, workers started",
		len(broken.nos), len(broken.nos), heldAfter.Round(100*time.Millisecond), brokenRefused, strings.ReplaceAll(strings.TrimSpace(r.Stdout), "\n", "; "))
	t.Logf("several sellers: broken after the fix: %s, settled in %s", vb, brokenTook.Round(100*time.Millisecond))
	t.Logf("several sellers: slow (quota %d/min at the sandbox, workers at %d/min, 350 ms latency) %d orders in %s; at most %d calls accepted and %d tried in any %s window; %d rate-limit answers; dead-lettered %d",
		quota, workerRate, len(slowAll.nos), slowTook.Round(time.Second), maxAccepted, maxTried, window, limited, vs.Dead)
	t.Logf("several sellers: %d numbers enqueued for healthy and slow, cancelled %d at healthy and %d at slow; healthy %s; slow %s",
		len(shared.nos), sharedAt["healthy"], sharedAt["slow"], vh, vs)
	t.Logf("several sellers: sandbox answers by seller: healthy %v, broken %v, slow %v; unknown sid %d",
		st.Sellers["healthy"].ByStatus, st.Sellers["broken"].ByStatus, st.Sellers["slow"].ByStatus, st.UnknownSID.Calls)
}

// sellerSpec is one seller of the sandbox's sellers file: its orders and the
// rest of its sandbox: block (YAML flow-mapping entries).
type sellerSpec struct {
	name   string
	orders orderSet
	block  string
}

func sellerSecret(name string) string { return secretPart + name + ":" + saltPart + name }

// unionOrders joins order sets with distinct numbers.
func unionOrders(sets ...orderSet) orderSet {
	u := orderSet{state: map[string]int{}}
	for _, s := range sets {
		u.nos = append(u.nos, s.nos...)
		for no, st := range s.state {
			u.state[no] = st
		}
	}
	return u
}

// writeSandboxSellers writes the sandbox's sellers file, each seller's
// orders in a file of its own; unlisted numbers are missing.
func (e *env) writeSandboxSellers(specs []sellerSpec) string {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("inline_secrets: true\nsellers:\n")
	for _, s := range specs {
		dir := filepath.Join(e.dir, "orders-"+s.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			e.t.Fatal(err)
		}
		orders := runview.WriteOrders(e.t, dir, s.orders.nos, s.orders.state)
		block := "orders: " + orders + ", unknown: missing"
		if s.block != "" {
			block += ", " + s.block
		}
		fmt.Fprintf(&b, "  %s:\n    sid: sid-%s\n    appkey: key-%s\n    appsecret: %q\n    sandbox: {%s}\n",
			s.name, s.name, s.name, sellerSecret(s.name), block)
	}
	path := filepath.Join(e.dir, "sandbox-sellers.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// writeWorkerSellers writes the workers' sellers file: broken's appsecret as
// given, slow limited to slowRate calls a minute.
func writeWorkerSellers(t *testing.T, path, brokenSecret string, slowRate int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("inline_secrets: true\nsellers:\n")
	for _, name := range []string{"healthy", "broken", "slow"} {
		secret := sellerSecret(name)
		if name == "broken" {
			secret = brokenSecret
		}
		fmt.Fprintf(&b, "  %s:\n    sid: sid-%s\n    appkey: key-%s\n    appsecret: %q\n", name, name, name, secret)
		if name == "slow" {
			fmt.Fprintf(&b, "    rate_per_minute: %d\n", slowRate)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *env) redisClient() *redis.Client {
	e.t.Helper()
	opt, err := redis.ParseURL(e.redis.URL())
	if err != nil {
		e.t.Fatal(err)
	}
	return redis.NewClient(opt)
}

// waitSeller waits until the seller's queue holds nothing pending, active,
// scheduled or retrying and at least want of its numbers are done or dead,
// and returns the time since from.
func (e *env) waitSeller(seller string, want int, from time.Time, within time.Duration) time.Duration {
	e.t.Helper()
	queue := tasks.QueueFor(tasks.DefaultQueue, seller)
	insp := e.inspector()
	defer insp.Close()
	rdb := e.redisClient()
	defer rdb.Close()
	var q *asynq.QueueInfo
	var err error
	if testkit.PollWithin(within, func() bool {
		q, err = insp.GetQueueInfo(queue)
		if err != nil || q.Pending+q.Active+q.Scheduled+q.Retry != 0 {
			return false
		}
		dead, _ := rdb.HLen(e.t.Context(), store.DeadLetterKey(queue)).Result()
		return q.Completed+max(q.Archived, int(dead)) >= want
	}) {
		return time.Since(from)
	}
	e.t.Fatalf("seller %s not settled within %s: %+v %v", seller, within, q, err)
	return 0
}

// waitHeld waits until want tasks of the seller are held (in the retry set
// with a held: last error) and returns the time since from.
func (e *env) waitHeld(seller string, want int, from time.Time, within time.Duration) time.Duration {
	e.t.Helper()
	queue := tasks.QueueFor(tasks.DefaultQueue, seller)
	insp := e.inspector()
	defer insp.Close()
	held := 0
	if testkit.PollWithin(within, func() bool {
		held = 0
		infos, err := insp.ListRetryTasks(queue, asynq.PageSize(want+10))
		if err == nil {
			for _, ti := range infos {
				if worker.IsHeld(ti.LastErr) {
					held++
				}
			}
		}
		return held == want
	}) {
		return time.Since(from)
	}
	q, err := insp.GetQueueInfo(queue)
	e.t.Fatalf("seller %s: %d of %d tasks held after %s: %+v %v", seller, held, want, within, q, err)
	return 0
}

// sellerDLQ reads the seller's dead letters through `dlq ls --json --seller`.
func (e *env) sellerDLQ(seller string) map[string]reconcile.DeadLetter {
	e.t.Helper()
	r := e.cli("", "dlq", "ls", "--json", "--seller", seller)
	if r.Code != 0 {
		e.t.Fatalf("dlq ls --json --seller %s: exit %d: %.300s", seller, r.Code, r.Output())
	}
	return runview.ParseDLQ(e.t, r.Stdout)
}

// sellerOrder is the sandbox's view of one of the seller's orders.
func (e *env) sellerOrder(seller, no string) sandbox.Order {
	e.t.Helper()
	var o sandbox.Order
	e.get("http://"+e.sbAddr+"/_sandbox/orders/"+no+"?seller="+seller, &o)
	return o
}

// verifySeller is verify for one seller: its orders at the sandbox against
// its queue and dead letters, with the problems reported as failures.
func (e *env) verifySeller(seller string, o orderSet) reconcile.Verdict {
	e.t.Helper()
	var orders []reconcile.Order
	e.get("http://"+e.sbAddr+"/_sandbox/orders?seller="+seller, &orders)
	dead := e.sellerDLQ(seller)
	queue := tasks.QueueFor(tasks.DefaultQueue, seller)
	insp := e.inspector()
	defer insp.Close()
	view := make(map[string]reconcile.Number, len(o.nos))
	for _, no := range o.nos {
		task, err := insp.GetTaskInfo(queue, no)
		if err != nil {
			task = nil
		}
		var rec *reconcile.DeadLetter
		if r, ok := dead[no]; ok {
			rec = &r
		}
		view[no] = reconcile.NumberOf(task, rec)
	}
	v := reconcile.Check(reconcile.Input{Nos: o.nos, Initial: o.state, UnknownMissing: true, Orders: orders, Numbers: view})
	for i, p := range v.Problems {
		if i == 20 {
			e.t.Errorf("%s: ... and %d more", seller, len(v.Problems)-20)
			break
		}
		e.t.Errorf("%s: %v", seller, p)
	}
	return v
}

// sandboxCall is one API call of the sandbox's log: when it was answered and
// whether it counted towards the quota.
type sandboxCall struct {
	at          time.Time
	accepted    bool // verified and admitted by the quota
	rateLimited bool
}

// sandboxCalls reads the seller's calls from the sandbox's JSON log. A call
// WDT processed logs its status; one answered by a gateway fault in front of
// WDT logs "-" and reaches no quota.
func sandboxCalls(t *testing.T, out, seller string) []sandboxCall {
	t.Helper()
	var calls []sandboxCall
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg     string `json:"msg"`
			TS      string `json:"ts"`
			Seller  string `json:"seller"`
			Status  string `json:"status"`
			Message string `json:"message"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Msg != "sandbox call" || l.Seller != seller {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, l.TS)
		if err != nil {
			t.Fatalf("sandbox log time %q: %v", l.TS, err)
		}
		limited := strings.HasPrefix(l.Message, wdt.RateLimitCallsPrefix) || strings.HasPrefix(l.Message, wdt.RateLimitConcurrencyPrefix)
		// Status 0 and the answers about the order (100 other than a rate
		// limit) passed the quota; the answers before it (status 1, 7, ...)
		// and a rate limit did not.
		accepted := l.Status == "0" || (l.Status == "100" && !limited)
		calls = append(calls, sandboxCall{at: at, accepted: accepted, rateLimited: limited})
	}
	if len(calls) == 0 {
		t.Fatalf("no sandbox call of seller %s in the sandbox's log", seller)
	}
	sort.Slice(calls, func(i, j int) bool { return calls[i].at.Before(calls[j].at) })
	return calls
}

// perWindow is the most calls accepted, and tried, in any window, and the
// rate-limit answers in all.
func perWindow(calls []sandboxCall, window time.Duration) (maxAccepted, maxTried, limited int) {
	var acc []time.Time
	for _, c := range calls {
		if c.accepted {
			acc = append(acc, c.at)
		}
		if c.rateLimited {
			limited++
		}
	}
	most := func(ts []time.Time) int {
		best, lo := 0, 0
		for hi := range ts {
			for ts[hi].Sub(ts[lo]) >= window {
				lo++
			}
			best = max(best, hi-lo+1)
		}
		return best
	}
	all := make([]time.Time, len(calls))
	for i, c := range calls {
		all[i] = c.at
	}
	return most(acc), most(all), limited
}

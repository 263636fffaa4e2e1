//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/reconcile"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/internal/testkit/runview"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// topology is a highly available Redis under test and how to break it.
type topology struct {
	name string
	vars []string // REDIS_URL or REDIS_CLUSTER for the processes
	conn asynq.RedisConnOpt
	// fault takes the master away (kill -9, or a Sentinel-initiated
	// failover) and returns its address; failedOver waits until another
	// node serves the queue; rejoin brings the old master back as a
	// replica (what an orchestrator restarting it does).
	fault      func() (string, error)
	failedOver func(old string) error
	rejoin     func(old string) error
}

// With noAOF the data nodes keep nothing on disk (the setup issue 20's
// tester broke: the replicas are the only durability).
func sentinelTopology(t *testing.T, manual bool, replicas int, noAOF bool) topology {
	s := testkit.NewSentinel(t, testkit.TopologyOptions{AppendFsync: "everysec", NoAOF: noAOF, Replicas: replicas})
	conn, err := asynq.ParseRedisURI(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	tp := topology{name: "sentinel kill -9", vars: []string{"REDIS_URL=" + s.URL()}, conn: conn, fault: s.KillMaster,
		failedOver: func(old string) error { _, err := s.WaitFailover(old, 2*time.Minute); return err },
		rejoin:     func(old string) error { return s.Restart(old, 2*time.Minute) },
	}
	if manual {
		tp.name, tp.fault = "SENTINEL FAILOVER", s.Failover
		// A demoted master stays up and becomes a replica by itself.
		tp.rejoin = func(string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			return waitUntil(ctx, func() error {
				m, err := s.MasterAddr(ctx)
				if err != nil {
					return err
				}
				return replicaOnline(ctx, m)
			})
		}
	}
	return tp
}

func clusterTopology(t *testing.T) topology {
	c := testkit.NewCluster(t, testkit.TopologyOptions{AppendFsync: "everysec"})
	key := store.DeadLetterKey(tasks.DefaultQueue) // the queue's slot
	return topology{name: "cluster kill -9", vars: []string{"REDIS_CLUSTER=" + strings.Join(c.Addrs(), ",")},
		conn:  config.ClusterConnOpt{RedisClusterClientOpt: asynq.RedisClusterClientOpt{Addrs: c.Addrs()}},
		fault: func() (string, error) { return c.KillMasterFor(key) },
		failedOver: func(old string) error {
			_, err := c.WaitFailover(key, old, 2*time.Minute)
			return err
		},
		rejoin: func(old string) error { return c.Restart(old, 2*time.Minute) },
	}
}

// failoverFigures are what one failover run measured.
type failoverFigures struct {
	acked, lostAcked, calledTwice, cleanCancelled int
	// The half enqueued while the master went away: how many numbers,
	// acknowledged at once, reported unknown.
	second, secondAcked, secondUnknown, secondRefused int
	failover, resumed                                 time.Duration
	verdict                                           reconcile.Verdict
}

func (f failoverFigures) String() string {
	return fmt.Sprintf("acknowledged enqueues %d, lost %d; enqueued during the fault %d: acknowledged at once %d, unknown %d, refused at start %d; orders called twice %d; cancelled orders filed without ambiguous %d; failover done %s, calls resumed %s after the fault; %s",
		f.acked, f.lostAcked, f.second, f.secondAcked, f.secondUnknown, f.secondRefused, f.calledTwice, f.cleanCancelled, f.failover.Round(100*time.Millisecond), f.resumed.Round(100*time.Millisecond), f.verdict)
}

// 12. Sentinel: kill -9 the master mid-run, and a Sentinel-initiated
// failover under load, with and without --redis-wait-replicas 1, with one
// replica and with two (so that one is left to acknowledge after the
// failover), and with the default (auto: every replica). The short form
// (CI) runs the cases marked short. Issue 20: two replicas with a wait
// for one lost 190 of 340 acknowledged enqueues under SENTINEL FAILOVER;
// auto must lose none and still acknowledge most.
func TestSentinelFailover(t *testing.T) {
	cases := []struct {
		manual   bool
		wait     string
		replicas int
		short    bool
	}{
		{false, "0", 1, true},
		{false, "1", 1, false},
		{false, "1", 2, true},
		{true, "0", 1, false},
		{true, "1", 1, true},
		{true, "auto", 2, true},
		{false, "auto", 2, false},
	}
	for _, c := range cases {
		if !*full && !c.short {
			continue
		}
		name := fmt.Sprintf("kill/wait%s/replicas%d", c.wait, c.replicas)
		if c.manual {
			name = fmt.Sprintf("failover/wait%s/replicas%d", c.wait, c.replicas)
		}
		t.Run(name, func(t *testing.T) {
			tp := sentinelTopology(t, c.manual, c.replicas, c.wait == "auto")
			f := runFailover(t, tp, c.wait, "S")
			t.Logf("%s, %d replica(s), --redis-wait-replicas %s: %s", tp.name, c.replicas, c.wait, f)
			if c.wait == "auto" && f.secondAcked*2 < f.second {
				t.Errorf("auto acknowledged only %d of the %d enqueues made during the failover (%d unknown): most should be", f.secondAcked, f.second, f.secondUnknown)
			}
		})
	}
}

// 13. Cluster: kill -9 the master of the queue's slot mid-run, with and
// without --redis-wait-replicas 1.
func TestClusterFailover(t *testing.T) {
	for _, wait := range []string{"0", "auto"} {
		if !*full && wait == "0" {
			continue // the short form (CI) runs the mitigated case
		}
		t.Run(fmt.Sprintf("kill/wait%s", wait), func(t *testing.T) {
			tp := clusterTopology(t)
			f := runFailover(t, tp, wait, "C")
			t.Logf("%s, --redis-wait-replicas %s: %s", tp.name, wait, f)
		})
	}
}

// runFailover runs a few thousand orders (a few hundred in the short form)
// through two workers, breaks the master while half the orders are still
// being enqueued and the rest are being processed, and checks the ground
// truth once everything settled. A producer re-enqueues what it was not
// told was enqueued (failed or unknown), as the CLI says to; an enqueue it
// was told succeeded and that the failover lost is counted, then
// re-enqueued so that every order ends settled.
func runFailover(t *testing.T, tp topology, wait, prefix string) failoverFigures {
	e := &env{t: t, dir: t.TempDir(), redisVars: tp.vars}
	t.Cleanup(e.scanSecrets)
	o := makeOrders(prefix, size(400, 3000), 5)
	e.startSandbox(o, "--latency", "20ms")
	waitArgs := []string{"--redis-wait-replicas", wait}
	for i := 0; i < 2; i++ {
		e.startWorker(append([]string{"--concurrency", "8"}, waitArgs...)...)
	}
	half := len(o.nos) / 2
	acked := e.enqueueSome(o.nos[:half], waitArgs)
	t.Logf("first half enqueued: %d acknowledged", len(acked))
	e.waitCalls(half/4, 2*time.Minute)
	// The second half is enqueued while the master goes away.
	// With auto the second half is sent the way the outside tester of
	// issue 20 did (and a producer enqueueing numbers as they arrive
	// does): small batches, one `enqueue` process each, started 150 ms
	// apart so that several run at once, the fault given as the 10th
	// batch starts; the enqueues span the failover and each batch's answer
	// is counted (one bulk run stops at its first unknown answer).
	batch := len(o.nos[half:])
	if wait == "auto" {
		// The short form's 200 numbers span 15 s: the failover takes
		// about 1 s, and the promoted master's replicas about 5 more to
		// be online (a full resync), during which enqueues are unknown.
		batch = 2
	}
	parts := (len(o.nos[half:]) + batch - 1) / batch
	results := make([]testkit.Result, parts)
	second := make(chan []testkit.Result, 1)
	faultNow := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for p := 0; p < parts; p++ {
			if p == min(10, parts-1) {
				close(faultNow)
			}
			part := o.nos[half+p*batch : min(half+(p+1)*batch, len(o.nos))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[p] = testkit.Run(t, bin, e.envVars(), strings.Join(part, "\n"), append([]string{"enqueue", "--file", "-", "--json"}, waitArgs...)...)
			}()
			if batch < len(o.nos[half:]) {
				// The outside tester's pace (issue 20): batches start
				// 150 ms apart, whatever happens; no event to wait for.
				time.Sleep(150 * time.Millisecond)
			}
		}
		wg.Wait()
		second <- results
	}()
	<-faultNow
	if parts == 1 {
		// The one enqueue process reports nothing until it ends; the
		// fault should land while it is sending, so it waits until the
		// process's first numbers are in the queue.
		started := asynq.NewInspector(tp.conn)
		first := o.nos[half:min(half+32, len(o.nos))]
		if !testkit.PollWithin(time.Minute, func() bool { return anyQueued(started, first) }) {
			t.Fatalf("none of the enqueue process's first %d numbers was in the queue within 1 min", len(first))
		}
		started.Close()
	}
	faultAt := time.Now()
	old, err := tp.fault()
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.failedOver(old); err != nil {
		t.Fatal(err)
	}
	f := failoverFigures{failover: time.Since(faultAt)}
	t.Logf("%s: %s was the master; failed over in %s", tp.name, old, f.failover.Round(time.Millisecond))
	rejoined := make(chan error, 1)
	go func() { rejoined <- tp.rejoin(old) }()
	base := e.statsCalls()
	if !testkit.PollWithin(3*time.Minute, func() bool { return e.statsCalls() >= base+10 }) {
		t.Fatalf("no calls within 3 min of the failover (%d calls)", base)
	}
	f.resumed = time.Since(faultAt)
	t.Logf("calls resumed %s after the fault", f.resumed.Round(time.Millisecond))
	if err := <-rejoined; err != nil {
		t.Fatal(err)
	}
	f.second = len(o.nos[half:])
	for i, r := range <-second {
		e.outputs.Write([]byte(r.Output()))
		part := o.nos[half+i*batch : min(half+(i+1)*batch, len(o.nos))]
		if strings.TrimSpace(r.Stdout) == "" {
			// Refused before enqueueing (Redis unreachable mid-failover):
			// nothing acknowledged, the producer sends them again below.
			// A master whose replicas are re-attaching is a failover in
			// progress, not a Redis to turn AOF on for (issue 20, F2).
			if strings.Contains(r.Stderr, "does not keep writes across a crash") {
				t.Errorf("enqueue batch %d refused as volatile during the failover (exit %d), not reported retryable: %s", i, r.Code, strings.TrimSpace(r.Stderr))
			}
			f.secondRefused += len(part)
			continue
		}
		secondAcked := e.parseAcked(part, r)
		f.secondAcked += len(secondAcked)
		f.secondUnknown += countResult(t, r, "unknown")
		acked = append(acked, secondAcked...)
	}
	// A producer re-sends what was not acknowledged until it is.
	acked = e.enqueueUntilAcked(o.nos, acked, waitArgs)
	f.acked = len(acked)

	t.Logf("every number acknowledged (%d)", len(acked))
	insp := asynq.NewInspector(tp.conn)
	defer insp.Close()
	e.waitQuiet(insp, 6*time.Minute)
	t.Log("queue quiet")
	sb := e.sandboxOrders()
	dead := e.dlq()
	var lost []string
	for _, no := range acked {
		if _, err := insp.GetTaskInfo(tasks.DefaultQueue, no); err != nil && sb[no].CancelCalls == 0 {
			if _, ok := dead[no]; !ok {
				lost = append(lost, no)
			}
		}
	}
	f.lostAcked = len(lost)
	if len(lost) > 0 {
		e.enqueueSome(lost, waitArgs)
		e.waitQuiet(insp, 6*time.Minute)
	}
	orders, _ := runview.SandboxOrders(t, e.sbAddr)
	view := make(map[string]reconcile.Number, len(o.nos))
	dead = e.dlq()
	for _, no := range o.nos {
		task, err := insp.GetTaskInfo(tasks.DefaultQueue, no)
		if err != nil {
			task = nil
		}
		var rec *reconcile.DeadLetter
		if d, ok := dead[no]; ok {
			rec = &d
		}
		view[no] = reconcile.NumberOf(task, rec)
	}
	f.verdict = reconcile.Check(reconcile.Input{Nos: o.nos, Initial: o.state, UnknownMissing: true, Orders: orders, Numbers: view})
	f.calledTwice = f.verdict.CalledMoreThanOnce
	for _, p := range f.verdict.Problems {
		if p.Rule == reconcile.RuleCancelledDeadClean {
			f.cleanCancelled++
		}
	}
	// What must hold on every failover with the replica wait (the default
	// on Sentinel and Cluster): no cancelled order filed as a clean
	// rejection, and (once what was lost is re-sent) every order settled
	// with a definite answer. Without it (--redis-wait-replicas 0, the
	// measurement of what the wait prevents) a cancelled order filed
	// clean is reported, not failed; every other problem still fails.
	shown := 0
	for _, p := range f.verdict.Problems {
		if wait == "0" && p.Rule == reconcile.RuleCancelledDeadClean {
			if shown < 3 {
				t.Logf("without the replica wait: %s", p)
			}
			shown++
			continue
		}
		t.Error(p)
	}
	if n := f.verdict.Exhausted(); n > 0 {
		t.Errorf("%d orders given up (exhausted)", n)
	}
	if wait != "0" && f.lostAcked > 0 {
		t.Errorf("with --redis-wait-replicas %s the failover lost %d acknowledged enqueues: %v", wait, f.lostAcked, lost)
	}
	return f
}

// countResult counts the items of an `enqueue --json` run with result.
func countResult(t *testing.T, r testkit.Result, result string) int {
	var sum struct {
		Items []struct {
			Result string `json:"result"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil {
		t.Fatalf("enqueue (exit %d): %v\n%.500s", r.Code, err, r.Output())
	}
	n := 0
	for _, it := range sum.Items {
		if it.Result == result {
			n++
		}
	}
	return n
}

// enqueueSome enqueues nos through the CLI and returns those acknowledged.
func (e *env) enqueueSome(nos, extra []string) []string {
	e.t.Helper()
	r := e.cli(strings.Join(nos, "\n"), append([]string{"enqueue", "--file", "-", "--json"}, extra...)...)
	return e.parseAcked(nos, r)
}

// parseAcked is the numbers an `enqueue --json` run acknowledged as
// enqueued (or found already there: a duplicate is a task Redis holds).
func (e *env) parseAcked(nos []string, r testkit.Result) []string {
	e.t.Helper()
	var sum struct {
		Items []struct {
			No     string `json:"pre_stockin_no"`
			Result string `json:"result"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil {
		e.t.Fatalf("enqueue (exit %d): %v\n%.500s", r.Code, err, r.Output())
	}
	notAcked := map[string]bool{}
	for _, it := range sum.Items {
		if it.Result != "enqueued" && it.Result != "duplicate" {
			notAcked[it.No] = true
		}
	}
	var acked []string
	for _, no := range nos {
		if !notAcked[no] {
			acked = append(acked, no)
		}
	}
	return acked
}

// enqueueUntilAcked re-sends every number of nos not in acked until each
// is acknowledged (appending to acked), as a producer following the CLI's
// advice does.
func (e *env) enqueueUntilAcked(nos []string, acked, extra []string) []string {
	e.t.Helper()
	have := map[string]bool{}
	for _, no := range acked {
		have[no] = true
	}
	for try := 0; ; try++ {
		var rest []string
		for _, no := range nos {
			if !have[no] {
				rest = append(rest, no)
			}
		}
		if len(rest) == 0 {
			return acked
		}
		if try == 20 {
			e.t.Fatalf("%d numbers still not acknowledged after 20 tries", len(rest))
		}
		for _, no := range e.enqueueSome(rest, extra) {
			have[no] = true
			acked = append(acked, no)
		}
		// A producer's pause between tries while the topology heals: a
		// try that fails says nothing about when the next one can
		// succeed, so no event marks when to try again.
		time.Sleep(time.Second)
	}
}

// anyQueued reports whether asynq holds a task for one of nos.
func anyQueued(insp *asynq.Inspector, nos []string) bool {
	for _, no := range nos {
		if _, err := insp.GetTaskInfo(tasks.DefaultQueue, no); err == nil {
			return true
		}
	}
	return false
}

// sandboxCalls is how many cancel calls reached the sandbox.
func (e *env) sandboxCalls() int {
	e.t.Helper()
	list, _ := runview.SandboxOrders(e.t, e.sbAddr)
	n := 0
	for _, o := range list {
		n += o.CancelCalls
	}
	return n
}

// waitQuiet waits until the queue holds nothing pending, active, scheduled
// or retrying.
func (e *env) waitQuiet(insp *asynq.Inspector, within time.Duration) {
	e.t.Helper()
	var (
		q   *asynq.QueueInfo
		err error
	)
	if !testkit.PollWithin(within, func() bool {
		q, err = insp.GetQueueInfo(tasks.DefaultQueue)
		return err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0
	}) {
		e.t.Fatalf("queue not settled within %s: %+v %v", within, q, err)
	}
}

// replicaOnline checks that the master at addr has a replica online.
func replicaOnline(ctx context.Context, addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	info, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "role:master") || !strings.Contains(info, "state=online") {
		return fmt.Errorf("%s has no replica online yet", addr)
	}
	return nil
}

// waitUntil polls check every 50 ms until it returns nil or ctx ends.
func waitUntil(ctx context.Context, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

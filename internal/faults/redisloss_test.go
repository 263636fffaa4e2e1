//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// Scenarios 16 and 17 (issue 20): a Redis that lost writes is noticed, and
// nothing it forgot turns a cancelled order into a clean rejection.

// volatileArgs are the arguments that let command run on a Redis without
// durable writes (no AOF, no replica wait), as these scenarios need: the
// start-time durability check refuses such a Redis unless told
// --allow-volatile-redis.
func volatileArgs(t *testing.T, _ string) []string {
	t.Helper()
	return []string{"--allow-volatile-redis"}
}

// readyReport is /readyz's body.
type readyReport struct {
	Ready   bool     `json:"ready"`
	Redis   string   `json:"redis"`
	Reasons []string `json:"reasons"`
}

func readyzReport(addr string) (int, readyReport) {
	var rep readyReport
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, rep
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &rep)
	return resp.StatusCode, rep
}

// waitCalls waits until at least n calls reached the sandbox (its
// GET /_sandbox/stats count): the load a fault needs has built. A fixed
// sleep guessed at it.
func (e *env) waitCalls(n int, within time.Duration) {
	e.t.Helper()
	if !testkit.PollWithin(within, func() bool { return e.statsCalls() >= n }) {
		e.t.Fatalf("fewer than %d calls within %s (%d)", n, within, e.statsCalls())
	}
}

// statsCalls is the sandbox's count of calls to its API path
// (GET /_sandbox/stats), cheap enough to poll. Its body joins no scan: it
// holds counts only.
func (e *env) statsCalls() int {
	e.t.Helper()
	var stats struct {
		Calls int `json:"calls"`
	}
	if code, b := testkit.GetJSON(e.t, "http://"+e.sbAddr+"/_sandbox/stats", &stats); code != 200 {
		e.t.Fatalf("GET /_sandbox/stats: %d %.300s", code, b)
	}
	return stats.Calls
}

// 16. Redis without persistence restarted under a backlog: it comes back
// empty. Readiness turns red within seconds naming the loss, the metric is
// 1, `status` of a lost number says it may have been lost, and after the
// ERP re-enqueues everything the ground truth has no clean misfile: every
// order a call cancelled before the loss is done or an ambiguous dead
// letter. The alert on the metric is unit-tested by promtool
// (docs/monitoring/wdtcancel.rules_test.yml, WdtcancelRedisLostWrites).
func TestRedisRestartEmpty(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{NoAOF: true}) // appendonly no, no snapshots
	o := makeOrders("RE", size(300, 2000), 0)
	e.startSandbox(o, "--latency", "100ms")
	w := e.startWorker(append([]string{"--concurrency", "4"}, volatileArgs(t, "worker")...)...)
	acked := e.enqueueAll(o.nos, volatileArgs(t, "enqueue")...)
	e.waitCalls(len(o.nos)/7, time.Minute)

	if err := e.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := e.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	var rep readyReport
	var code int
	if !testkit.PollWithin(time.Until(back.Add(15*time.Second)), func() bool {
		code, rep = readyzReport(w.ops)
		return code == 503 && rep.Redis == "lost_writes"
	}) {
		t.Fatalf("readiness did not name the loss within 15 s of Redis answering again: %d %+v", code, rep)
	}
	red := time.Since(back)
	reason := strings.Join(rep.Reasons, " ")
	for _, want := range []string{"came back empty", "re-enqueue", "redis-loss ack --yes"} {
		if !strings.Contains(reason, want) {
			t.Errorf("readyz reasons %q lack %q", reason, want)
		}
	}
	if v := e.metricValue(w.ops, `wdtcancel_redis_writes_lost{seller="default"}`); v != 1 {
		t.Errorf("wdtcancel_redis_writes_lost = %v, want 1", v)
	}

	// What the loss took: acknowledged numbers with no task, never called.
	insp := e.inspector()
	sb := e.sandboxOrders()
	var lost []string
	for _, no := range acked {
		if _, err := insp.GetTaskInfo(tasks.DefaultQueue, no); err != nil && sb[no].CancelCalls == 0 {
			lost = append(lost, no)
		}
	}
	insp.Close()
	if len(lost) == 0 {
		t.Fatal("the restart lost nothing: the scenario did not restart Redis under a backlog")
	}
	st := e.cli("", "status", lost[0])
	if st.Code != 1 || strings.Contains(st.Stdout, "never enqueued") || !strings.Contains(st.Stdout, "may have been enqueued and lost") {
		t.Errorf("status of a lost number: exit %d %q", st.Code, st.Stdout)
	}
	if r := e.cli("", "redis-loss", "show"); r.Code != 0 || !strings.Contains(r.Stdout, "came back empty") {
		t.Errorf("redis-loss show: exit %d %q", r.Code, r.Output())
	}

	// The ERP re-enqueues every number (safe: the number is the task ID).
	e.enqueueAll(o.nos, volatileArgs(t, "enqueue")...)
	e.waitSettled(len(o.nos), 3*time.Minute)
	v := e.mustVerify(o)

	if r := e.cli("", "redis-loss", "ack", "--yes"); r.Code != 0 {
		t.Fatalf("redis-loss ack: exit %d %q", r.Code, r.Output())
	}
	if !testkit.Poll(func() bool { return readyz(w.ops) == 200 }) {
		t.Errorf("readiness still red after the acknowledgement")
	}
	t.Logf("redis without persistence restarted under a backlog: %d of %d acknowledged enqueues lost; readiness red %s after Redis answered again (check every 1 s); after re-enqueueing: %s",
		len(lost), len(acked), red.Round(10*time.Millisecond), v)
}

// 17. A snapshot-only Redis (RDB, no AOF) killed with -9 mid-run and
// restarted from its snapshot: the tasks come back, the sent marks and
// confirmations written after the snapshot do not. The workers notice the
// counter going back, and every rerun of an order a lost call cancelled is
// done or an ambiguous dead letter: 0 clean misfiles by the ground truth.
func TestRedisSnapshotRestore(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{NoAOF: true}) // appendonly no; the snapshot is taken by hand
	o := makeOrders("RS", size(400, 2000), 5)
	e.startSandbox(o, "--latency", "50ms")
	w := e.startWorker(append([]string{"--concurrency", "4"}, volatileArgs(t, "worker")...)...)
	acked := e.enqueueAll(o.nos, volatileArgs(t, "enqueue")...)
	if len(acked) != len(o.nos) {
		t.Fatalf("%d of %d enqueued", len(acked), len(o.nos))
	}

	opt, err := redis.ParseURL(e.redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	// A quarter of the calls made: the snapshot, as `save 60 1000` would
	// take it; half: the crash.
	e.waitCalls(len(o.nos)/4, time.Minute)
	if err := rdb.Save(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	snapshotAt := e.sandboxCalls()
	e.waitCalls(len(o.nos)/2, time.Minute)
	rdb.Close()
	if err := e.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := e.sandboxCalls()
	if err := e.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	var (
		code int
		r    readyReport
	)
	if !testkit.PollWithin(time.Until(back.Add(15*time.Second)), func() bool {
		code, r = readyzReport(w.ops)
		return code == 503 && r.Redis == "lost_writes"
	}) {
		t.Fatalf("readiness did not name the loss within 15 s of Redis answering again: %d %+v", code, r)
	}
	if reason := strings.Join(r.Reasons, " "); !strings.Contains(reason, "older than writes it had acknowledged") {
		t.Errorf("readyz reasons %q: want the older snapshot named", reason)
	}
	red := time.Since(back)

	e.waitSettled(len(o.nos), 4*time.Minute)
	v := e.mustVerify(o)
	if v.CalledMoreThanOnce == 0 {
		t.Error("no order was called twice: the restore did not bring back tasks whose calls the snapshot missed")
	}
	t.Logf("snapshot-only redis killed -9 after %d calls, snapshot at %d calls: readiness red %s after Redis answered again; %s (clean misfiles: %d)",
		killedAt, snapshotAt, red.Round(10*time.Millisecond), v, len(v.Problems))
}

//go:build faults

package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// 1. Worker crashes: SIGKILL a random worker each time the sandbox has
// counted another share of the calls, and restart it.
func TestWorkerCrashes(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{AppendFsync: "everysec"})
	o := makeOrders("WC", size(600, 5000), 5)
	e.startSandbox(o, "--latency", "200ms")
	workers := []*proc{e.startWorker("--concurrency", "4"), e.startWorker("--concurrency", "4"), e.startWorker("--concurrency", "4")}
	acked := e.enqueueAll(o.nos)
	// A SIGKILL each time the sandbox has counted another share of the
	// calls, so every kill lands while the workers are calling; the last
	// leaves a share of the orders to settle after it.
	kills, nKills := 0, size(5, 24)
	step := max(len(acked)/(nKills+2), 1)
	for kills < nKills {
		e.waitCalls(step*(kills+1), 2*time.Minute)
		i := rand.IntN(len(workers))
		workers[i].Kill()
		workers[i] = e.startWorker("--concurrency", "4")
		kills++
	}
	recovered := e.waitSettled(len(acked), 6*time.Minute)
	v := e.mustVerify(o)
	t.Logf("worker crashes: %d SIGKILLs; %s; settled %s after the last kill (asynq recovers a killed worker's tasks when their lease expires)", kills, v, recovered.Round(time.Second))
}

// 2. Redis restart with AOF: SIGKILL redis-server mid-run and restart it.
func TestRedisRestart(t *testing.T) {
	for _, mode := range []string{"everysec", "always"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, testkit.RedisOptions{AppendFsync: mode})
			o := makeOrders("RR", size(1000, 5000), 0)
			e.startSandbox(o, "--latency", "20ms")
			w := e.startWorker("--concurrency", "4")
			acked := e.enqueueAll(o.nos)
			e.waitCalls(50, time.Minute) // the kill lands mid-run
			if err := e.redis.Kill(); err != nil {
				t.Fatal(err)
			}
			sawRed := testkit.PollWithin(2*time.Second, func() bool { return readyz(w.ops) == 503 })
			// Redis stays down a fixed while: the outage is the fault,
			// an outside actor's pace; no event marks its end.
			time.Sleep(2 * time.Second)
			if err := e.redis.Restart(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			testkit.PollWithin(30*time.Second, func() bool { return readyz(w.ops) == 200 })
			recoverReady := time.Since(start)
			if w.Exited() {
				t.Fatalf("worker died with Redis: %s", w.Out.String())
			}
			// Acknowledged enqueues lost: no task, no dead letter, never called.
			insp := e.inspector()
			sb := e.sandboxOrders()
			lost := 0
			for _, no := range acked {
				if _, err := insp.GetTaskInfo(tasks.DefaultQueue, no); err != nil && sb[no].CancelCalls == 0 {
					lost++
				}
			}
			insp.Close()
			// Re-enqueue what was lost, as a producer that checks would.
			if lost > 0 {
				e.enqueueAll(o.nos)
			}
			e.waitSettled(len(o.nos), 3*time.Minute)
			v := e.verify(o)
			t.Logf("redis restart (appendfsync %s): acknowledged enqueues lost %d of %d; readiness red during the outage: %v; green %s after restart; %s",
				mode, lost, len(acked), sawRed, recoverReady.Round(100*time.Millisecond), v)
			if !sawRed {
				t.Error("readiness never went red while Redis was down")
			}
			if recoverReady >= 30*time.Second {
				t.Error("readiness did not recover within 30 s")
			}
			if mode == "always" {
				if lost != 0 {
					t.Errorf("appendfsync always lost %d acknowledged enqueues", lost)
				}
				for _, p := range v.Problems {
					t.Error(p)
				}
			} else {
				for i, p := range v.Problems {
					if i < 5 {
						t.Logf("everysec may lose up to a second of writes: %s", p)
					}
				}
			}
		})
	}
}

// 3. Redis outage: stop Redis for a while mid-run; workers keep running.
func TestRedisOutage(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{AppendFsync: "everysec"})
	o := makeOrders("RO", size(800, 3000), 6)
	e.startSandbox(o, "--latency", "50ms")
	w := e.startWorker("--concurrency", "4")
	e.enqueueAll(o.nos)
	e.waitCalls(40, time.Minute) // the outage starts mid-run
	if err := e.redis.Stop(); err != nil {
		t.Fatal(err)
	}
	outage := dur(10*time.Second, 30*time.Second)
	red, samples := 0, 0
	// Readiness is sampled through an outage of fixed length, the fault
	// itself: the figure is the share of samples that were red.
	for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		samples++
		if readyz(w.ops) == 503 {
			red++
		}
	}
	if err := e.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	settled := e.waitSettled(len(o.nos), 3*time.Minute)
	if w.Exited() {
		t.Fatalf("worker exited during the outage: %s", w.Out.String())
	}
	v := e.mustVerify(o)
	t.Logf("redis outage %s: readiness red in %d of %d samples; all settled %s after Redis came back; %s", outage, red, samples, settled.Round(100*time.Millisecond), v)
	if red != samples {
		t.Errorf("readiness green during the outage in %d samples", samples-red)
	}
	_ = back
}

// 4. Hostile API: gateway faults, lost responses, a skewed clock, a quota.
func TestHostileAPI(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{AppendFsync: "everysec"})
	o := makeOrders("HA", size(400, 3000), 5)
	// A per-minute quota below the calls the batch needs: WDT answers with
	// its rate-limit message until its sliding minute frees up.
	quota := size(350, 2500)
	e.startSandbox(o, "--fail-rate", "0.2", "--lost-response-rate", "0.05", "--clock-offset", "150s",
		"--rate-per-minute", fmt.Sprint(quota), "--latency", "10ms", "--seed", "42")
	w1 := e.startWorker("--concurrency", "4", "--cooldown", "5s")
	w2 := e.startWorker("--concurrency", "4", "--cooldown", "5s")
	e.enqueueAll(o.nos)
	settled := e.waitSettled(len(o.nos), 5*time.Minute)
	v := e.mustVerify(o)
	var stats struct {
		ByStatus map[string]int `json:"by_status"`
		ByFault  map[string]int `json:"by_fault"`
	}
	e.get("http://"+e.sbAddr+"/_sandbox/stats", &stats)
	t.Logf("hostile API: %s; settled in %s; quota %d calls/min; sandbox answers %v, faults %v; %d orders lost a response and were then dead-lettered (all flagged)",
		v, settled.Round(time.Second), quota, stats.ByStatus, stats.ByFault, v.LostOrGarbledDead)
	limited := e.metricValue(w1.ops, `wdtcancel_calls_total{category="rate_limited",seller="default"}`) + e.metricValue(w2.ops, `wdtcancel_calls_total{category="rate_limited",seller="default"}`)
	t.Logf("hostile API: %v rate-limit answers, none dead-lettered", limited)
	if limited == 0 {
		t.Error("the quota was never hit")
	}
	if stats.ByStatus["7"] == 0 || stats.ByFault["lost_response"] == 0 || stats.ByStatus["100"] == 0 {
		t.Errorf("the scenario did not exercise clock skew, lost responses and rejections: %v %v", stats.ByStatus, stats.ByFault)
	}
	// Scenario 7 on the ops surfaces: metrics and asynqmon's API.
	for _, path := range []string{"/metrics", "/readyz", "/monitoring/api/queues", "/monitoring/api/queues/wdt-cancel/archived_tasks", "/monitoring/api/servers"} {
		e.get("http://"+w1.ops+path, nil)
	}
}

// 5. Bad input through the CLI, the HTTP API and straight into the queue.
func TestBadInput(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{})
	o := makeOrders("BI", 100, 0)
	e.startSandbox(o)
	w := e.startWorker("--concurrency", "4")

	// Fuzzed numbers through the CLI, mixed with valid ones.
	r := rand.New(rand.NewPCG(7, 7))
	var lines []string
	wantInvalid := 0
	for i := 0; i < size(300, 3000); i++ {
		s := fuzzString(r)
		if strings.TrimSpace(s) == "" || strings.HasPrefix(strings.TrimSpace(s), "#") || strings.ContainsAny(s, "\r\n") {
			continue
		}
		if _, err := tasks.NormalizeNo(s); err != nil {
			wantInvalid++
		}
		lines = append(lines, s)
	}
	lines = append(lines, o.nos[:50]...)
	res := e.cli(strings.Join(lines, "\n"), "enqueue", "--file", "-", "--json")
	var sum struct{ Enqueued, Invalid, Duplicate, Failed int }
	if err := json.Unmarshal([]byte(res.Stdout), &sum); err != nil || res.Code != 1 || sum.Invalid != wantInvalid || sum.Failed != 0 {
		t.Fatalf("CLI fuzz: exit %d, %+v, want %d invalid: %v", res.Code, sum, wantInvalid, err)
	}

	// The HTTP API: auth, sizes, content types, bad JSON, a fuzzed batch.
	apiAddr := testkit.FreeAddr(t)
	e.start("api", "api", "--listen", apiAddr, "--token", "fault-token-1", "--max-numbers", "500")
	testkit.WaitListening(t, apiAddr)
	post := func(ctype, token, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", "http://"+apiAddr+"/v1/cancellations", strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		e.outputs.Write(b)
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			t.Fatalf("API answered non-JSON %d: %.200s", resp.StatusCode, b)
		}
		return resp.StatusCode, m
	}
	batch, _ := json.Marshal(map[string]any{"pre_stockin_nos": append(lines[:100:100], o.nos[50:100]...), "source": "fuzz"})
	cases := []struct {
		name, ctype, token, body string
		code                     int
	}{
		{"no token", "application/json", "", string(batch), 401},
		{"wrong token", "application/json", "nope", string(batch), 401},
		{"not JSON", "application/json", "fault-token-1", "pre_stockin_nos=RK1", 400},
		{"truncated JSON", "application/json", "fault-token-1", string(batch[:len(batch)/2]), 400},
		{"wrong content type", "text/csv", "fault-token-1", "RK1", 415},
		{"oversize", "application/json", "fault-token-1", `{"pre_stockin_nos":["` + strings.Repeat("9", 2<<20) + `"]}`, 413},
		{"fuzzed batch", "application/json", "fault-token-1", string(batch), 200},
	}
	for _, c := range cases {
		code, body := post(c.ctype, c.token, c.body)
		if code != c.code || (code >= 400 && body["error"] == nil) {
			t.Errorf("API %s: %d %v, want %d", c.name, code, body, c.code)
		}
	}

	// Malformed payloads and unknown types straight into the queue.
	conn, _ := asynq.ParseRedisURI(e.redis.URL())
	client := asynq.NewClient(conn)
	defer client.Close()
	junk := []struct{ id, typ, payload string }{
		{"JUNK1", tasks.TypeCancel, "not json"},
		{"JUNK2", tasks.TypeCancel, `{"pre_stockin_no":"BI 1","requested_at":"2026-01-01T00:00:00Z"}`},
		{"JUNK3", tasks.TypeCancel, `{"pre_stockin_no":"BI000001"}`},
		{"JUNK4", "email:send", `{"to":"x"}`},
		{"JUNK5", tasks.TypeCancel, "\x00\xff\xfe"},
	}
	for _, j := range junk {
		if _, err := client.Enqueue(asynq.NewTask(j.typ, []byte(j.payload)), asynq.Queue(tasks.DefaultQueue), asynq.TaskID(j.id)); err != nil {
			t.Fatal(err)
		}
	}
	e.waitSettled(100+len(junk), 2*time.Minute)
	dead := e.dlq()
	for _, j := range junk {
		if dead[j.id].Category != "invalid" {
			t.Errorf("%s: dead as %q, want invalid", j.id, dead[j.id].Category)
		}
	}
	v := e.mustVerify(o)
	if w.Exited() {
		t.Fatalf("worker died on bad input: %s", w.Out.String())
	}
	t.Logf("bad input: %d fuzzed CLI lines (%d invalid, refused with reasons), 7 API abuses answered 4xx with JSON errors, %d junk tasks dead as invalid; worker alive; valid: %s",
		len(lines)-50, wantInvalid, len(junk), v)
}

func fuzzString(r *rand.Rand) string {
	alphabets := []string{"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", " \t!\"#$%&'()*+,/:;<=>?@[\\]^`{|}~", "退货预入库单编号", "\x00\x01\x7f", "é"}
	n := r.IntN(80)
	var b strings.Builder
	for i := 0; i < n; i++ {
		a := []rune(alphabets[r.IntN(len(alphabets))])
		b.WriteRune(a[r.IntN(len(a))])
	}
	return b.String()
}

// 6. Dead letters beyond asynq's 10,000-task archive, re-driven once each.
func TestDeadLettersBeyondArchive(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{})
	n := size(1500, 12000)
	o := makeOrders("DL", n, 1) // every order completed: every call rejected
	e.startSandbox(o)
	e.startWorker("--concurrency", "10")
	e.enqueueAll(o.nos)
	e.waitSettled(n, 10*time.Minute)
	if got := len(e.dlq()); got != n {
		t.Fatalf("%d dead-letter records for %d rejections", got, n)
	}
	insp := e.inspector()
	q, _ := insp.GetQueueInfo(tasks.DefaultQueue)
	insp.Close()
	archived := q.Archived
	r := e.cli("", "dlq", "requeue", "--all")
	if r.Code != 0 || !strings.Contains(r.Output(), fmt.Sprintf("requeued %d, failed 0", n)) {
		t.Fatalf("requeue --all exit %d: %.300s", r.Code, r.Output())
	}
	e.waitSettled(n, 10*time.Minute)
	sb := e.sandboxOrders()
	twice := 0
	for _, no := range o.nos {
		if sb[no].CancelCalls == 2 {
			twice++
		}
	}
	if got := len(e.dlq()); got != n || twice != n {
		t.Fatalf("after requeue: %d records, %d of %d orders called exactly twice", got, twice, n)
	}
	t.Logf("dead letters beyond the archive: %d rejections -> %d DLQ records while asynq's archive held %d; requeue --all re-drove each once (%d called exactly twice)", n, n, archived, twice)
}

// 8. Shutdown under load: SIGTERM a worker mid-run.
func TestShutdownUnderLoad(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{AppendFsync: "everysec"})
	o := makeOrders("SU", size(300, 2000), 6)
	e.startSandbox(o, "--latency", "300ms")
	const timeout = 3 * time.Second
	w := e.startWorker("--concurrency", "8", "--shutdown-timeout", timeout.String())
	e.enqueueAll(o.nos)
	e.waitCalls(16, time.Minute) // calls are in flight when SIGTERM comes
	start := time.Now()
	sigterm(w)
	exited, err := w.Wait(timeout + 15*time.Second)
	if !exited {
		t.Fatal("worker did not exit after SIGTERM")
	}
	took := time.Since(start)
	if err != nil {
		t.Errorf("worker exit after SIGTERM: %v", err)
	}
	e.startWorker("--concurrency", "8")
	e.waitSettled(len(o.nos), 3*time.Minute)
	v := e.mustVerify(o)
	t.Logf("shutdown under load: exited %s after SIGTERM (timeout %s); %s", took.Round(10*time.Millisecond), timeout, v)
	if took > timeout+2*time.Second {
		t.Errorf("exit took %s, shutdown timeout %s", took, timeout)
	}
}

// metricValue reads one series from a worker's /metrics.
func (e *env) metricValue(ops, series string) float64 {
	e.t.Helper()
	b := e.get("http://"+ops+"/metrics", nil)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// A distinctive appsecret; leak tests look for its parts.
const (
	testSecret = "WkrSecretX7q2"
	testSalt   = "WkrSaltZ9p4"
)

// harness is one Redis, one sandbox and the worker processes under test.
type harness struct {
	t     *testing.T
	redis *testkit.Redis
	conn  asynq.RedisConnOpt
	sb    *sandbox.Server
	prod  *enqueue.Client
	insp  *asynq.Inspector
	shift atomic.Int64 // sandbox clock jump, to age its rate-limit window
	logs  *observer.ObservedLogs
	rdb   redis.UniversalClient
	dlq   *worker.DLQ // independent of any worker's lifetime

	// attempts and lines are what every worker of the harness did and
	// logged, for tests to wait on; workers counts the workers started.
	attempts *testkit.Log[attempt]
	lines    *testkit.Log[logLine]
	workers  int
}

// logLine is a worker's log message and which worker wrote it.
type logLine struct {
	Worker  int
	Message string
}

func newHarness(t *testing.T, opts sandbox.Options) *harness {
	t.Helper()
	h := &harness{t: t, redis: testkit.NewRedis(t), attempts: testkit.NewLog[attempt](), lines: testkit.NewLog[logLine]()}
	h.conn, _ = asynq.ParseRedisURI(h.redis.URL())
	opts.AppSecret = testSecret + ":" + testSalt
	opts.Now = func() time.Time { return time.Now().Add(time.Duration(h.shift.Load())) }
	sb, err := sandbox.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	h.sb = sb
	if h.prod, err = enqueue.New(h.conn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.prod.Close() })
	h.insp = asynq.NewInspector(h.conn)
	t.Cleanup(func() { h.insp.Close() })
	h.rdb = h.conn.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { h.rdb.Close() })
	h.dlq = worker.NewDLQ(h.rdb, tasks.DefaultQueue)
	return h
}

// client builds a WDT client for the sandbox with the given appsecret.
func (h *harness) client(appSecret string) *wdt.Client {
	creds, err := wdt.NewCredentials(sandbox.DefaultSID, sandbox.DefaultAppKey, appSecret)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := wdt.New(h.sb.APIURL(), creds)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// startWorker starts a worker process; mod adjusts its config. Its attempts
// and log lines are recorded in h.attempts and h.lines.
func (h *harness) startWorker(mod func(*worker.Config)) *worker.Worker {
	h.t.Helper()
	h.workers++
	n := h.workers
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	core = zapcore.RegisterHooks(core, func(e zapcore.Entry) error {
		h.lines.Add(logLine{Worker: n, Message: e.Message})
		return nil
	})
	cfg := worker.Config{
		Redis: h.conn, Sellers: worker.SingleSeller(h.client(testSecret+":"+testSalt), 0, 0),
		Concurrency: 4, Listen: "127.0.0.1:0",
		Handler:         worker.HandlerOptions{Backoff: worker.Backoff{Base: 50 * time.Millisecond, Cap: 200 * time.Millisecond}},
		Breaker:         worker.BreakerOptions{ProbeEvery: 100 * time.Millisecond},
		ShutdownTimeout: 5 * time.Second,
		// Retried and snoozed tasks come back as soon as they are due, not
		// at asynq's next one-second sweep: no test waits on that sweep.
		DelayedTaskCheckInterval: 50 * time.Millisecond,
		Logger:                   zap.New(core),
		OnAttempt:                func(a worker.Attempt) { h.attempts.Add(attempt{Attempt: a, Worker: n}) },
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := worker.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		w.Shutdown()
		checkLogs(h.t, logs)
	})
	return w
}

func (h *harness) enqueue(nos ...string) {
	h.t.Helper()
	res, err := h.prod.CancelSlice(context.Background(), nos, enqueue.ManyOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range res {
		if r.Result != enqueue.Enqueued {
			h.t.Fatalf("enqueue %s: %+v", r.PreStockinNo, r)
		}
	}
}

// settled waits for the attempt that settles no's task (done or dead) and
// returns it.
func (h *harness) settled(no string) attempt {
	h.t.Helper()
	return h.attempts.Wait(h.t, no+" settled", 1, settles(no))[0]
}

// waitTask waits until asynq shows the task of no in state, returning its
// info. asynq records a task's new state after the handler returned, with
// no event to wait on, so this polls; wait for the attempt first.
func (h *harness) waitTask(no string, state asynq.TaskState) *asynq.TaskInfo {
	h.t.Helper()
	var info *asynq.TaskInfo
	var err error
	if !testkit.Poll(func() bool {
		info, err = h.insp.GetTaskInfo(tasks.DefaultQueue, no)
		return err == nil && info.State == state
	}) {
		if info != nil {
			h.t.Fatalf("%s: state %s (retried %d, last error %q), want %s", no, info.State, info.Retried, info.LastErr, state)
		}
		h.t.Fatalf("%s: never reached %s: %v", no, state, err)
	}
	return info
}

func (h *harness) order(no string) sandbox.Order {
	o, _ := h.sb.Order(no)
	return o
}

func (h *harness) deadRecord(no string) worker.Record {
	h.t.Helper()
	rec, err := h.dlq.Get(context.Background(), no)
	if err != nil {
		h.t.Fatalf("dead-letter record of %s: %v", no, err)
	}
	return rec
}

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s: not JSON: %q", url, b)
		}
	}
	return resp.StatusCode
}

// checkLogs holds every worker log line to two rules: no secret part, and
// every task line carries the fields operators search by.
func checkLogs(t *testing.T, logs *observer.ObservedLogs) {
	t.Helper()
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + fmt.Sprint(v)
		}
		for _, bad := range []string{testSecret, testSalt, "sign="} {
			if strings.Contains(line, bad) {
				t.Errorf("log line leaks %q: %s", bad, line)
			}
		}
		if strings.HasPrefix(e.Message, "task ") {
			m := e.ContextMap()
			for _, f := range []string{"pre_stockin_no", "task_id", "attempt", "category", "wdt_status", "duration"} {
				if _, ok := m[f]; !ok {
					t.Errorf("task log line without %s: %s", f, line)
				}
			}
		}
	}
}

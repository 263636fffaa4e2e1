package worker_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/httpserver"
	"github.com/wdtcancel/wdtcancel/internal/redisguard"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// guardSetup is a worker config on a Redis started with opts, the worker
// not yet started.
type guardSetup struct {
	redis *testkit.Redis
	rdb   *redis.Client
	cfg   worker.Config
	logs  *observer.ObservedLogs
	// attempts are the worker's (cfg.OnAttempt).
	attempts *testkit.Log[attempt]
}

func newGuardSetup(t *testing.T, opts testkit.RedisOptions, needReal string) *guardSetup {
	t.Helper()
	r := testkit.NewRedisWith(t, opts)
	if needReal != "" && !r.Real {
		t.Skip(needReal + " needs a real redis-server; testkit.NewRedis fell back to miniredis (install redis-server, or set " + testkit.RequireRealEnv + "=1 to make this a failure)")
	}
	sb, err := sandbox.NewServer(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	creds, err := wdt.NewCredentials(sandbox.DefaultSID, sandbox.DefaultAppKey, sandbox.DefaultAppSecret)
	if err != nil {
		t.Fatal(err)
	}
	api, err := wdt.New(sb.APIURL(), creds)
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := asynq.ParseRedisURI(r.URL())
	core, logs := observer.New(zap.DebugLevel)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	attempts := testkit.NewLog[attempt]()
	return &guardSetup{redis: r, rdb: rdb, logs: logs, attempts: attempts, cfg: worker.Config{
		Redis: conn, Sellers: worker.SingleSeller(api, 0, 0), Concurrency: 2, Listen: "127.0.0.1:0",
		ShutdownTimeout: 5 * time.Second, Logger: zap.New(core),
		// Only CheckRedis triggers checks, unless a test sets it.
		RedisCheckInterval: time.Hour,
		OnAttempt:          func(a worker.Attempt) { attempts.Add(attempt{Attempt: a, Worker: 1}) },
	}}
}

// start starts the worker and shuts it down when the test ends.
func (g *guardSetup) start(t *testing.T) *worker.Worker {
	t.Helper()
	w, err := worker.New(g.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		w.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Shutdown()
		checkLogs(t, g.logs)
	})
	return w
}

func (g *guardSetup) countLogs(level zapcore.Level, contains string) int {
	n := 0
	for _, e := range g.logs.All() {
		if e.Level == level && strings.Contains(e.Message, contains) {
			n++
		}
	}
	return n
}

func readyz(t *testing.T, w *worker.Worker) (int, worker.ReadyReport) {
	t.Helper()
	var rep worker.ReadyReport
	code := getJSON(t, "http://"+w.OpsAddr()+"/readyz", &rep)
	return code, rep
}

func TestEvictingRedisRefusedAtStart(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"allkeys-lru", "volatile-lru"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			g := newGuardSetup(t, testkit.RedisOptions{MaxmemoryPolicy: policy}, "maxmemory-policy "+policy)
			w, err := worker.New(g.cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = w.Start(context.Background())
			w.Close()
			if !errors.Is(err, redisguard.ErrEviction) {
				t.Fatalf("started on maxmemory-policy %s: %v", policy, err)
			}
			for _, want := range []string{"maxmemory-policy " + policy, "CONFIG SET maxmemory-policy noeviction", "parameter group", "--allow-eviction"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			if w.OpsAddr() != "" {
				t.Fatalf("ops port bound by a refused worker: %s", w.OpsAddr())
			}
		})
	}
}

func TestEvictingRedisAllowedButNotReady(t *testing.T) {
	t.Parallel()
	g := newGuardSetup(t, testkit.RedisOptions{MaxmemoryPolicy: "allkeys-lru"}, "maxmemory-policy allkeys-lru")
	g.cfg.AllowEviction = true
	w := g.start(t)
	code, rep := readyz(t, w)
	if code != 503 || rep.Ready || rep.Redis != worker.RedisEvicting || len(rep.Reasons) != 1 ||
		!strings.Contains(rep.Reasons[0], "maxmemory-policy allkeys-lru") || !strings.Contains(rep.Reasons[0], "CONFIG SET maxmemory-policy noeviction") {
		t.Fatalf("readyz %d %+v", code, rep)
	}
	if got := testutil.ToFloat64(w.Seller("default").Metrics().RedisEvicting); got != 1 {
		t.Fatalf("wdtcancel_redis_evicting = %v on allkeys-lru, want 1", got)
	}
	// Still red at the next check, and the warning is not repeated.
	if err := w.CheckRedis(context.Background()); !errors.Is(err, redisguard.ErrEviction) {
		t.Fatalf("check: %v", err)
	}
	if n := g.countLogs(zapcore.WarnLevel, "--allow-eviction"); n != 1 {
		t.Fatalf("%d eviction warnings, want 1: %v", n, g.logs.All())
	}
	if e := g.logs.FilterMessageSnippet("--allow-eviction").All(); len(e) != 1 || e[0].ContextMap()["fix"] != redisguard.Fix || e[0].ContextMap()["maxmemory_policy"] != "allkeys-lru" {
		t.Fatalf("warning without the policy and the fix: %+v", e)
	}
	// The worker still works.
	p := newProducer(t, g.redis)
	if _, err := p.Cancel(context.Background(), "EV1"); err != nil {
		t.Fatal(err)
	}
	if a := g.attempts.Wait(t, "EV1 settled", 1, settles("EV1"))[0]; a.Action != worker.ActDone {
		t.Fatalf("EV1: %v", a)
	}

	// Fixed in Redis: green after the next check.
	if err := g.rdb.ConfigSet(context.Background(), "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.CheckRedis(context.Background()); err != nil {
		t.Fatalf("check after the fix: %v", err)
	}
	if code, rep := readyz(t, w); code != 200 || rep.Redis != "ok" {
		t.Fatalf("readyz after the fix %d %+v", code, rep)
	}
	if got := testutil.ToFloat64(w.Seller("default").Metrics().RedisEvicting); got != 0 {
		t.Fatalf("wdtcancel_redis_evicting = %v after the fix, want 0", got)
	}
	if n := g.countLogs(zapcore.InfoLevel, "noeviction now"); n != 1 {
		t.Fatalf("%d recovery lines", n)
	}
}

func TestReadyzRedWhileRedisRefusesWrites(t *testing.T) {
	t.Parallel()
	g := newGuardSetup(t, testkit.RedisOptions{MaxmemoryPolicy: "noeviction", Maxmemory: "2mb"}, "maxmemory 2mb")
	w := g.start(t)
	ctx := context.Background()
	if code, rep := readyz(t, w); code != 200 || !rep.Ready {
		t.Fatalf("readyz before the fill %d %+v", code, rep)
	}
	if err := g.redis.FillUntilOOM(ctx); err != nil {
		t.Fatal(err)
	}
	err := w.CheckRedis(ctx)
	var refused *redisguard.WriteRefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("check on a full Redis: %v", err)
	}
	code, rep := readyz(t, w)
	if code != 503 || rep.Redis != worker.RedisRefusesWrites || len(rep.Reasons) != 1 || !strings.HasPrefix(rep.Reasons[0], "redis refuses writes: OOM") {
		t.Fatalf("readyz on a full Redis %d %+v", code, rep)
	}
	w.CheckRedis(ctx)
	if n := g.countLogs(zapcore.ErrorLevel, "redis refuses writes"); n != 1 {
		t.Fatalf("%d refusal log lines, want 1", n)
	}

	if err := g.redis.DrainFill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.CheckRedis(ctx); err != nil {
		t.Fatalf("check after freeing memory: %v", err)
	}
	if code, rep := readyz(t, w); code != 200 || !rep.Ready || rep.Redis != "ok" {
		t.Fatalf("readyz after freeing memory %d %+v", code, rep)
	}
	if n := g.countLogs(zapcore.InfoLevel, "accepts writes again"); n != 1 {
		t.Fatalf("%d recovery lines", n)
	}
	if ttl := g.rdb.PTTL(ctx, store.ProbeKey(tasks.DefaultQueue)).Val(); ttl <= 0 {
		t.Fatalf("probe key TTL %v: a probe must not stay behind", ttl)
	}
}

// TestReadyzPeriodicCheckSeesEviction: without a trigger, the periodic check
// notices a policy changed under a running worker.
func TestReadyzPeriodicCheckSeesEviction(t *testing.T) {
	t.Parallel()
	g := newGuardSetup(t, testkit.RedisOptions{}, "CONFIG SET maxmemory-policy")
	g.cfg.RedisCheckInterval = 20 * time.Millisecond
	w := g.start(t)
	if err := g.rdb.ConfigSet(context.Background(), "maxmemory-policy", "volatile-lru").Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Until(t, "/readyz to report the policy the periodic check found", func() bool {
		code, rep := readyz(t, w)
		return code == 503 && rep.Redis == worker.RedisEvicting && strings.Contains(strings.Join(rep.Reasons, " "), "volatile-lru")
	})
	if n := g.countLogs(zapcore.ErrorLevel, "may evict"); n != 1 {
		t.Fatalf("%d eviction error lines across periods, want 1", n)
	}
}

// TestReadyzNotCheckableIsReady: miniredis reports no policy; the worker
// runs, readiness is green, and it says so once at debug level.
func TestReadyzNotCheckableIsReady(t *testing.T) {
	t.Parallel()
	g := newGuardSetup(t, testkit.RedisOptions{Embedded: true}, "")
	w := g.start(t)
	if err := w.CheckRedis(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, rep := readyz(t, w); code != 200 || !rep.Ready {
		t.Fatalf("readyz %d %+v", code, rep)
	}
	if n := g.countLogs(zapcore.DebugLevel, "does not report maxmemory_policy"); n != 1 {
		t.Fatalf("%d not-checkable lines, want 1", n)
	}
}

// TestOpsServerTimeoutClosesSilentConnection: a client that connects and
// sends nothing is closed by the ops server.
func TestOpsServerTimeoutClosesSilentConnection(t *testing.T) {
	t.Parallel()
	g := newGuardSetup(t, testkit.RedisOptions{}, "")
	g.cfg.OpsHTTP = httpserver.Options{ReadHeaderTimeout: 100 * time.Millisecond}
	w := g.start(t)
	conn, err := net.Dial("tcp", w.OpsAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // testkit.Failsafe only
	if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("ops server kept a silent connection open")
	}
	if code, _ := readyz(t, w); code != 200 {
		t.Fatalf("readyz %d", code)
	}
}

func newProducer(t *testing.T, r *testkit.Redis) *enqueue.Client {
	t.Helper()
	conn, _ := asynq.ParseRedisURI(r.URL())
	p, err := enqueue.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

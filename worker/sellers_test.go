package worker_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// sellersHarness is one Redis and one sandbox per seller, each with its own
// credentials, and the multi-seller worker under test.
type sellersHarness struct {
	t        *testing.T
	conn     asynq.RedisConnOpt
	rdb      redis.UniversalClient
	insp     *asynq.Inspector
	client   *asynq.Client
	sbs      map[string]*sandbox.Server
	attempts *testkit.Log[attempt]
}

// sellerSecret is a seller's appsecret; it holds the harness's distinctive
// secret and salt, so checkLogs catches a leak.
func sellerSecret(name string) string { return testSecret + name + ":" + testSalt + name }

func newSellersHarness(t *testing.T, sellers map[string]sandbox.Options) *sellersHarness {
	t.Helper()
	r := testkit.NewRedis(t)
	h := &sellersHarness{t: t, sbs: map[string]*sandbox.Server{}, attempts: testkit.NewLog[attempt]()}
	h.conn, _ = asynq.ParseRedisURI(r.URL())
	for name, o := range sellers {
		o.SID, o.AppKey, o.AppSecret = "sid-"+name, "key-"+name, sellerSecret(name)
		sb, err := sandbox.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sb.Close)
		h.sbs[name] = sb
	}
	h.rdb = h.conn.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { h.rdb.Close() })
	h.insp = asynq.NewInspector(h.conn)
	t.Cleanup(func() { h.insp.Close() })
	h.client = asynq.NewClient(h.conn)
	t.Cleanup(func() { h.client.Close() })
	return h
}

// lane is seller name's lane against its own sandbox, signed with appSecret
// ("" is the right one), with an HTTP client of its own.
func (h *sellersHarness) lane(name, appSecret string) worker.SellerLane {
	h.t.Helper()
	if appSecret == "" {
		appSecret = sellerSecret(name)
	}
	creds, err := wdt.NewCredentials("sid-"+name, "key-"+name, appSecret)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := wdt.New(h.sbs[name].APIURL(), creds, wdt.WithHTTPClient(wdt.NewHTTPClient()))
	if err != nil {
		h.t.Fatal(err)
	}
	return worker.SellerLane{Name: name, API: c}
}

func (h *sellersHarness) start(lanes []worker.SellerLane, mod func(*worker.Config)) *worker.Worker {
	h.t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	cfg := worker.Config{
		Redis: h.conn, Sellers: lanes,
		Concurrency: 4, Listen: "127.0.0.1:0",
		Handler:                    worker.HandlerOptions{Backoff: worker.Backoff{Base: 50 * time.Millisecond, Cap: 200 * time.Millisecond}},
		Breaker:                    worker.BreakerOptions{ProbeEvery: 100 * time.Millisecond},
		ShutdownTimeout:            5 * time.Second,
		DelayedTaskCheckInterval:   50 * time.Millisecond,
		UnknownSellerCheckInterval: 50 * time.Millisecond,
		Logger:                     zap.New(core),
		OnAttempt:                  func(a worker.Attempt) { h.attempts.Add(attempt{Attempt: a, Worker: 1}) },
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
		for _, e := range logs.All() {
			if strings.HasPrefix(e.Message, "task ") && e.ContextMap()["seller"] == nil {
				h.t.Errorf("task log line without seller: %s %v", e.Message, e.ContextMap())
			}
		}
	})
	return w
}

// enqueue queues the numbers for seller, in the seller's queue.
func (h *sellersHarness) enqueue(seller string, nos ...string) {
	h.t.Helper()
	for _, no := range nos {
		task, err := tasks.NewCancelTaskFor(seller, no, "", time.Now())
		if err != nil {
			h.t.Fatal(err)
		}
		if err := h.enqueueTask(task); err != nil {
			h.t.Fatalf("enqueue %s for %s: %v", no, seller, err)
		}
	}
}

// enqueueTask enqueues task as a producer does: the enqueue, then the
// activity index (store.MarkActive), which a worker with several sellers
// polls instead of every queue.
func (h *sellersHarness) enqueueTask(task *asynq.Task, opts ...asynq.Option) error {
	info, err := h.client.Enqueue(task, opts...)
	if err != nil {
		return err
	}
	return store.MarkActive(context.Background(), h.rdb, info.Queue)
}

func sellerSettles(seller, no string) func(attempt) bool {
	return func(a attempt) bool {
		return a.Seller == seller && a.PreStockinNo == no && (a.Action == worker.ActDone || a.Action == worker.ActDead)
	}
}

// done waits for every number of seller to be cancelled.
func (h *sellersHarness) done(seller string, nos ...string) {
	h.t.Helper()
	for _, no := range nos {
		a := h.attempts.Wait(h.t, seller+" "+no+" settled", 1, sellerSettles(seller, no))[0]
		if a.Action != worker.ActDone || a.Category != wdt.Cancelled {
			h.t.Fatalf("seller %s %s: %v", seller, no, a)
		}
	}
}

func metricsText(t *testing.T, w *worker.Worker) string {
	t.Helper()
	resp, err := http.Get("http://" + w.OpsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Pre-stockin numbers are per-seller sequences: the same number for two
// sellers is two tasks, each cancelled at its own seller, and every series
// says which seller it counts.
func TestSellersSameNumberCancelledAtEach(t *testing.T) {
	t.Parallel()
	h := newSellersHarness(t, map[string]sandbox.Options{
		"acme":   {Orders: map[string]int{"RK1": sandbox.StateEditing}},
		"shop-7": {Orders: map[string]int{"RK1": sandbox.StateEditing}},
	})
	w := h.start([]worker.SellerLane{h.lane("acme", ""), h.lane("shop-7", "")}, nil)
	h.enqueue("acme", "RK1")
	h.enqueue("shop-7", "RK1")
	h.done("acme", "RK1")
	h.done("shop-7", "RK1")
	for _, s := range []string{"acme", "shop-7"} {
		if o, _ := h.sbs[s].Order("RK1"); o.Status != sandbox.StateCancelled || o.CancelCalls != 1 {
			t.Errorf("%s's RK1 at its sandbox: %+v", s, o)
		}
		q := tasks.QueueFor(tasks.DefaultQueue, s)
		if !testkit.Poll(func() bool {
			info, err := h.insp.GetTaskInfo(q, "RK1")
			return err == nil && info.State == asynq.TaskStateCompleted
		}) {
			t.Errorf("RK1 in %s never completed", q)
		}
		if got := testutil.ToFloat64(w.Seller(s).Metrics().Calls.WithLabelValues(string(wdt.Cancelled))); got != 1 {
			t.Errorf("%s cancelled calls %v", s, got)
		}
	}
	body := metricsText(t, w)
	for _, want := range []string{
		`wdtcancel_calls_total{category="cancelled",seller="acme"} 1`,
		`wdtcancel_calls_total{category="cancelled",seller="shop-7"} 1`,
		`wdtcancel_task_outcomes_total{action="done",category="cancelled",seller="acme"} 1`,
		`wdtcancel_breaker_open{seller="shop-7"} 0`,
		`wdtcancel_dead_letters{seller="acme"} 0`,
		`wdtcancel_clock_offset_seconds{seller="shop-7"}`,
		`wdtcancel_rate_limit_waits_total{reason="share",seller="acme"}`,
		`wdtcancel_unknown_seller_queues 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "wdtcancel_") && !strings.HasPrefix(line, "wdtcancel_unknown_seller_queues") && !strings.HasPrefix(line, "wdtcancel_redis_") && !strings.Contains(line, `seller="`) {
			t.Errorf("series without a seller label: %s", line)
		}
	}
	if code, rep := readyz(t, w); code != 200 || len(rep.Sellers) != 0 {
		t.Fatalf("readyz %d %+v", code, rep)
	}
}

// A wrong secret on one seller holds that seller's tasks (none dead) and
// names it on /readyz with the fix, while the other seller's tasks all
// finish.
func TestSellerWrongSecretHoldsOnlyItsTasks(t *testing.T) {
	t.Parallel()
	h := newSellersHarness(t, map[string]sandbox.Options{"a": {}, "b": {}})
	w := h.start([]worker.SellerLane{h.lane("a", ""), h.lane("b", testSecret+":wrongsalt")}, func(c *worker.Config) {
		c.Handler.BreakerHoldDelay = time.Hour
		c.Handler.ConfigFaultDelay = time.Hour
	})
	bNos := []string{"B1", "B2", "B3"}
	h.enqueue("b", bNos...)
	h.enqueue("a", "A1", "A2", "A3", "A4")
	h.done("a", "A1", "A2", "A3", "A4")
	for _, no := range bNos {
		h.attempts.Wait(t, "b "+no+" held", 1, func(a attempt) bool {
			return a.Seller == "b" && a.PreStockinNo == no && a.Action == worker.ActHold
		})
	}
	// Held, or put back for being over b's share: never called through,
	// never retried, never dead.
	if n := h.attempts.Count(func(a attempt) bool {
		return a.Seller == "b" && a.Action != worker.ActHold && (a.Action != worker.ActSnooze || a.Calls != 0)
	}); n != 0 {
		t.Fatalf("b's tasks did something besides being held: %s", h.attempts.Dump())
	}
	ctx := context.Background()
	if n, err := w.Seller("b").DLQ().Count(ctx); err != nil || n != 0 {
		t.Fatalf("b dead letters %d %v", n, err)
	}
	// The attempt is reported before asynq records the hold: wait for it.
	for _, no := range bNos {
		var info *asynq.TaskInfo
		var err error
		testkit.Until(t, "b "+no+" recorded as held", func() bool {
			info, err = h.insp.GetTaskInfo(tasks.QueueFor(tasks.DefaultQueue, "b"), no)
			return err == nil && info.State != asynq.TaskStateActive
		})
		if info.State != asynq.TaskStateRetry || !worker.IsHeld(info.LastErr) {
			t.Fatalf("b %s: %+v", no, info)
		}
	}
	if st, _ := w.Seller("a").Breaker().State(ctx); st != nil {
		t.Fatalf("a's breaker opened: %+v", st)
	}
	st, _ := w.Seller("b").Breaker().State(ctx)
	if st == nil || st.Reason != worker.BreakerConfig {
		t.Fatalf("b's breaker %+v", st)
	}
	code, rep := readyz(t, w)
	if code != 503 || rep.Ready || !strings.Contains(rep.Sellers["b"], "configuration fault") || !strings.Contains(rep.Sellers["b"], "fix") {
		t.Fatalf("readyz %d %+v", code, rep)
	}
	if !strings.Contains(rep.Sellers["b"], "`wdtcancel retry --held --seller b`") {
		t.Fatalf("readyz does not say how to rerun b's tasks: %q", rep.Sellers["b"])
	}
	if _, ok := rep.Sellers["a"]; ok || !strings.Contains(strings.Join(rep.Reasons, "\n"), `seller "b": configuration fault`) {
		t.Fatalf("readyz names the wrong sellers: %+v", rep)
	}
	body := metricsText(t, w)
	for _, want := range []string{`wdtcancel_config_fault{seller="a"} 0`, `wdtcancel_config_fault{seller="b"} 1`, `wdtcancel_breaker_open{seller="b"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, "wrongsalt") || strings.Contains(rep.Sellers["b"], "wrongsalt") {
		t.Fatal("the wrong salt leaked")
	}
}

// A seller's rate-limit answer starts that seller's cooldown only: another
// seller's tasks are cancelled while it cools down.
func TestSellerRateLimitCoolsOnlyThatSeller(t *testing.T) {
	t.Parallel()
	h := newSellersHarness(t, map[string]sandbox.Options{"a": {}, "b": {RatePerMinute: 1}})
	w := h.start([]worker.SellerLane{h.lane("a", ""), h.lane("b", "")}, func(c *worker.Config) { c.Handler.Cooldown = time.Hour })
	h.enqueue("b", "B1", "B2")
	h.attempts.Wait(t, "b's rate-limit answer", 1, func(a attempt) bool {
		return a.Seller == "b" && a.Category == wdt.RateLimited && a.Calls == 1
	})
	ctx := context.Background()
	base := tasks.DefaultQueue
	if left, err := worker.NewLimiter(h.rdb, tasks.QueueFor(base, "b"), worker.LimiterOptions{}).Cooldown(ctx); err != nil || left < 50*time.Minute {
		t.Fatalf("b's cooldown %v %v, want about an hour", left, err)
	}
	h.enqueue("a", "A1", "A2", "A3")
	h.done("a", "A1", "A2", "A3")
	if left, err := worker.NewLimiter(h.rdb, tasks.QueueFor(base, "a"), worker.LimiterOptions{}).Cooldown(ctx); err != nil || left != 0 {
		t.Fatalf("a cools down too: %v %v", left, err)
	}
	if got := testutil.ToFloat64(w.Seller("b").Metrics().Cooldowns); got != 1 {
		t.Fatalf("b cooldowns %v", got)
	}
	if got := testutil.ToFloat64(w.Seller("a").Metrics().Cooldowns); got != 0 {
		t.Fatalf("a cooldowns %v", got)
	}
	// b's rate-limited task waits, never dead-lettered.
	if n := h.attempts.Count(func(a attempt) bool { return a.Seller == "b" && a.Action == worker.ActDead }); n != 0 {
		t.Fatalf("b dead-lettered: %s", h.attempts.Dump())
	}
}

// A slow seller gets at most its share of the workers: with concurrency 4
// and share 0.5, two of its calls hang at its endpoint, its other tasks are
// put back, and the other seller's tasks run on the two workers left.
func TestSlowSellerLeavesOthersTheirShare(t *testing.T) {
	t.Parallel()
	gate := newCallGate()
	h := newSellersHarness(t, map[string]sandbox.Options{"a": {}, "b": {Latency: time.Hour, Sleep: gate.sleep}})
	t.Cleanup(gate.close)
	w := h.start([]worker.SellerLane{h.lane("a", ""), h.lane("b", "")}, func(c *worker.Config) {
		c.Concurrency = 4
		c.SellerShare = 0.5
	})
	bNos := []string{"B1", "B2", "B3", "B4", "B5", "B6"}
	h.enqueue("b", bNos...)
	// b is alone: it may use every worker but one (3 of 4), beyond its
	// share of 2, so a seller alone is not slowed down by the bound.
	held := []*heldCall{gate.next(t), gate.next(t), gate.next(t)}
	// b's other tasks come to a worker and are put back for being over
	// what b may take, without a call or a retry.
	over := h.attempts.Wait(t, "a b task over its share", 1, func(a attempt) bool {
		var we *worker.WaitError
		return a.Seller == "b" && errors.As(a.Err, &we) && we.Reason == worker.ReasonShare
	})[0]
	if over.Action != worker.ActSnooze || over.Calls != 0 || over.Number != 1 {
		t.Fatalf("over-share attempt %v", over)
	}
	// a's tasks arrive: the worker b could not take runs them, while b's
	// three calls still hang, and b takes no more.
	h.enqueue("a", "A1", "A2", "A3", "A4")
	h.done("a", "A1", "A2", "A3", "A4")
	if n := len(gate.arrived); n != 0 {
		t.Fatalf("%d more of b's calls reached its endpoint: b took the last worker", n)
	}
	if n := h.attempts.Count(func(a attempt) bool { return a.Seller == "b" && a.Action == worker.ActDone }); n != 0 {
		t.Fatalf("b's held calls finished early: %s", h.attempts.Dump())
	}
	if got := testutil.ToFloat64(w.Seller("b").Metrics().RateLimitWaits.WithLabelValues("share")); got < 1 {
		t.Fatalf("b share waits %v", got)
	}
	gate.open()
	for _, c := range held {
		c.release()
	}
	h.done("b", bNos...)
}

// Tasks in the queue of a seller the worker does not serve wait, pending,
// and are reported on /readyz (without turning it red) and the gauge; the
// base queue counts as the seller "default" when it is not served.
func TestUnknownSellerQueueReported(t *testing.T) {
	t.Parallel()
	h := newSellersHarness(t, map[string]sandbox.Options{"a": {}})
	w := h.start([]worker.SellerLane{h.lane("a", "")}, nil)
	h.enqueue("ghost", "G1")
	h.enqueue(tasks.DefaultSeller, "D1")
	h.enqueue("a", "A1")
	h.done("a", "A1")
	var rep worker.ReadyReport
	if !testkit.Poll(func() bool {
		_, rep = readyz(t, w)
		return len(rep.UnknownSellers) == 2
	}) {
		t.Fatalf("readyz never named both unknown sellers: %+v", rep)
	}
	// Stray tasks are not this worker's fault: it stays ready (one
	// producer's typo must not stall a rollout waiting for readiness).
	code, rep := readyz(t, w)
	if code != 200 || !rep.Ready || !slices.Equal(rep.UnknownSellers, []string{"default", "ghost"}) {
		t.Fatalf("readyz %d %+v", code, rep)
	}
	// The worker announced the queue it serves, and only that one.
	for q, want := range map[string]bool{tasks.QueueFor(tasks.DefaultQueue, "a"): true, tasks.QueueFor(tasks.DefaultQueue, "ghost"): false} {
		if ok, err := store.Announced(context.Background(), h.rdb, q); err != nil || ok != want {
			t.Fatalf("%s announced %v (%v), want %v", q, ok, err, want)
		}
	}
	if !strings.Contains(metricsText(t, w), "wdtcancel_unknown_seller_queues 2") {
		t.Fatal("gauge does not count two unknown seller queues")
	}
	for q, no := range map[string]string{tasks.QueueFor(tasks.DefaultQueue, "ghost"): "G1", tasks.DefaultQueue: "D1"} {
		info, err := h.insp.GetTaskInfo(q, no)
		if err != nil || info.State != asynq.TaskStatePending {
			t.Fatalf("%s in %s: %+v %v", no, q, info, err)
		}
	}
	if n := h.attempts.Count(func(a attempt) bool { return a.Seller != "a" }); n != 0 {
		t.Fatalf("unknown sellers' tasks were worked: %s", h.attempts.Dump())
	}
}

// A payload naming another seller than its queue's is invalid: dead-lettered
// at once in the queue's seller's DLQ with the raw payload and a message
// saying what is wrong; it is never sent to either seller.
func TestPayloadSellerQueueMismatchIsInvalid(t *testing.T) {
	t.Parallel()
	h := newSellersHarness(t, map[string]sandbox.Options{"a": {}, "b": {}})
	w := h.start([]worker.SellerLane{h.lane("a", ""), h.lane("b", "")}, nil)
	task, err := tasks.NewCancelTaskFor("b", "MX1", "", time.Now(), asynq.Queue(tasks.QueueFor(tasks.DefaultQueue, "a")))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.enqueueTask(task); err != nil {
		t.Fatal(err)
	}
	a := h.attempts.Wait(t, "MX1 settled", 1, sellerSettles("a", "MX1"))[0]
	if a.Action != worker.ActDead || a.Category != wdt.Invalid || a.Calls != 0 {
		t.Fatalf("attempt %v", a)
	}
	rec, err := w.Seller("a").DLQ().Get(context.Background(), "MX1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Seller != "a" || rec.Category != wdt.Invalid || !strings.Contains(rec.Payload, `"seller":"b"`) ||
		!strings.Contains(rec.Error, `names seller "b"`) || !strings.Contains(rec.Error, `seller "a"'s`) {
		t.Fatalf("record %+v", rec)
	}
	for _, s := range []string{"a", "b"} {
		if o, _ := h.sbs[s].Order("MX1"); o.CancelCalls != 0 {
			t.Fatalf("%s was called: %+v", s, o)
		}
	}
}

// Each seller's client has an HTTP transport of its own.
func TestSellerLanesKeepTheirClients(t *testing.T) {
	t.Parallel()
	h := newSellersHarness(t, map[string]sandbox.Options{"a": {}, "b": {}})
	la, lb := h.lane("a", ""), h.lane("b", "")
	w := h.start([]worker.SellerLane{lb, la}, nil)
	if w.Seller("a").API() != la.API || w.Seller("b").API() != lb.API || w.Seller("ghost") != nil {
		t.Fatal("lanes do not keep their sellers' clients")
	}
	if got := []string{w.Sellers()[0].Name(), w.Sellers()[1].Name()}; got[0] != "a" || got[1] != "b" {
		t.Fatalf("sellers %v, want sorted", got)
	}
	if w.Seller("b").Queue() != "wdt-cancel:b" {
		t.Fatalf("queue %s", w.Seller("b").Queue())
	}
}

func TestSellersConfigErrors(t *testing.T) {
	t.Parallel()
	h := newSellersHarness(t, map[string]sandbox.Options{"a": {}})
	la := h.lane("a", "")
	for _, tt := range []struct {
		name string
		cfg  worker.Config
		want string
	}{
		{"none", worker.Config{}, "Sellers is empty"},
		{"negative concurrency", worker.Config{Sellers: []worker.SellerLane{la}, Concurrency: -1}, "--concurrency (worker.Config.Concurrency) is -1"},
		{"negative max retry", worker.Config{Sellers: []worker.SellerLane{la}, Handler: worker.HandlerOptions{MaxRetry: -2}}, "--max-retry"},
		{"negative slot wait", worker.Config{Sellers: []worker.SellerLane{la}, SlotWait: -time.Second}, "--slot-wait (worker.Config.SlotWait) is -1s"},
		{"negative backoff", worker.Config{Sellers: []worker.SellerLane{la}, Handler: worker.HandlerOptions{Backoff: worker.Backoff{Cap: -1}}}, "--backoff-cap"},
		{"negative breaker window", worker.Config{Sellers: []worker.SellerLane{la}, Breaker: worker.BreakerOptions{Window: -time.Minute}}, "--breaker-window"},
		{"negative interval without a flag", worker.Config{Sellers: []worker.SellerLane{la}, LossCheckInterval: -1}, "worker.Config.LossCheckInterval"},
		{"negative rate", worker.Config{Sellers: worker.SingleSeller(la.API, -1, 0)}, "--rate-per-minute"},
		{"negative share", worker.Config{Sellers: []worker.SellerLane{la}, SellerShare: -0.5}, "--seller-share"},
		{"twice", worker.Config{Sellers: []worker.SellerLane{la, la}}, `seller "a" is listed twice`},
		{"bad name", worker.Config{Sellers: []worker.SellerLane{{Name: "A!", API: la.API}}}, `seller "A!"`},
		{"no client", worker.Config{Sellers: []worker.SellerLane{{Name: "a"}}}, "no API client"},
		{"share", worker.Config{Sellers: []worker.SellerLane{la}, SellerShare: 1.5}, "--seller-share"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Redis = h.conn
			if _, err := worker.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// Under another base queue, seller NAME works <base>:NAME, and its
// dead-letter store still knows its seller.
func TestSellersUnderAnotherBaseQueue(t *testing.T) {
	t.Parallel()
	h := newSellersHarness(t, map[string]sandbox.Options{"a": {}, "b": {}})
	w := h.start([]worker.SellerLane{h.lane("a", ""), h.lane("b", "")}, func(c *worker.Config) { c.Queue = "other" })
	if l := w.Seller("b"); l.Queue() != "other:b" || l.DLQ().Seller() != "b" || l.DLQ().Queue() != "other:b" {
		t.Fatalf("seller b: queue %s, dlq %s of %q", l.Queue(), l.DLQ().Queue(), l.DLQ().Seller())
	}
	task, err := tasks.NewCancelTaskFor("b", "OB1", "", time.Now(), asynq.Queue("other:b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.enqueueTask(task); err != nil {
		t.Fatal(err)
	}
	h.done("b", "OB1")
}

// TestWorkerRegistersItsQueuesAgain: a Redis that lost its data forgets
// asynq's set of queues, and a producer process that already enqueued once
// never adds its queue again, so asynqmon, `status` and the API's look-ups
// would not find tasks that are there. The worker adds its queues back on
// every seller check.
func TestWorkerRegistersItsQueuesAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	h.startWorker(func(c *worker.Config) { c.UnknownSellerCheckInterval = 20 * time.Millisecond })
	h.enqueue("RG1")
	h.settled("RG1")
	ctx := context.Background()
	if err := h.rdb.Del(ctx, "asynq:queues").Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Until(t, "the queue registered again", func() bool {
		_, err := h.insp.GetTaskInfo(tasks.DefaultQueue, "RG1")
		return err == nil
	})
}

// A queue another running worker serves is not reported: a single-seller
// worker beside multi-seller ones, or workers with different sellers files
// on one Redis, must not turn each other's readiness red.
func TestQueueServedByAnotherWorkerIsNotUnknown(t *testing.T) {
	t.Parallel()
	h := newSellersHarness(t, map[string]sandbox.Options{"a": {}})
	// Another worker (any asynq server) fetches from ghost's queue and is
	// busy with its task, which stays live.
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	other := asynq.NewServer(h.conn, asynq.Config{
		Queues:   map[string]int{tasks.QueueFor(tasks.DefaultQueue, "ghost"): 1},
		LogLevel: asynq.FatalLevel, TaskCheckInterval: 10 * time.Millisecond,
	})
	if err := other.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(release); other.Shutdown() })
	h.enqueue("ghost", "G1")
	testkit.Recv(t, started, "the other worker to take ghost's task")
	h.enqueue(tasks.DefaultSeller, "D1") // served by no one
	w := h.start([]worker.SellerLane{h.lane("a", "")}, nil)
	var rep worker.ReadyReport
	if !testkit.Poll(func() bool {
		_, rep = readyz(t, w)
		return len(rep.UnknownSellers) > 0
	}) {
		t.Fatalf("readyz never named the unserved seller: %+v", rep)
	}
	if !slices.Equal(rep.UnknownSellers, []string{"default"}) {
		t.Fatalf("readyz unknown sellers %v: want only default, ghost's queue is served by another worker", rep.UnknownSellers)
	}
}

// A seller still announced (producers accept it for a day) whose last
// worker is gone is reported like any other: served now means a running
// worker fetches its queue (store.ServedNow), the definition `wdtcancel
// strays` uses too, not the announcement.
func TestAnnouncedSellerWithoutWorkerIsUnknown(t *testing.T) {
	t.Parallel()
	h := newSellersHarness(t, map[string]sandbox.Options{"a": {}})
	if err := store.Announce(context.Background(), h.rdb, tasks.QueueFor(tasks.DefaultQueue, "gone")); err != nil {
		t.Fatal(err)
	}
	h.enqueue("gone", "G1")
	w := h.start([]worker.SellerLane{h.lane("a", "")}, nil)
	h.enqueue(tasks.DefaultSeller, "D1") // the default seller: not served here either
	var rep worker.ReadyReport
	if !testkit.Poll(func() bool {
		_, rep = readyz(t, w)
		return len(rep.UnknownSellers) == 2
	}) {
		t.Fatalf("readyz never named the announced seller without a worker: %+v", rep)
	}
	if !slices.Equal(rep.UnknownSellers, []string{"default", "gone"}) || !rep.Ready {
		t.Fatalf("readyz %+v", rep)
	}
}

package worker

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// scriptsRunOnCluster names every Lua script of the module (a
// `redis.NewScript` assignment) that TestEveryScriptOnCluster runs. A new
// script fails the test until it is run there too.
var scriptsRunOnCluster = []string{"ackScript", "acquireScript", "appendScript", "beginCallScript", "bumpFastScript", "bumpScript", "cancelledFinalScript", "confirmFinalScript", "cooldownScript", "dropFinalScript", "openIfFailingScript", "putFinalScript", "queueWorkCmd", "removeArchivedCmd", "reserveScript", "writeResultIfTask"}

// TestEveryScriptOnCluster runs every Lua script and every multi-key
// command of wdtcancel (the limiter's, the breaker's, the outcome memory's,
// the dead-letter store's and the replica wait) on a real Redis Cluster,
// through the client the commands use. A key outside the queue's hash tag
// would make Redis answer CROSSSLOT, which the negative check below shows
// it does.
func TestEveryScriptOnCluster(t *testing.T) {
	t.Parallel()
	checkScriptList(t)
	c := testkit.NewCluster(t, testkit.TopologyOptions{})
	rdb := config.ClusterConnOpt{RedisClusterClientOpt: asynq.RedisClusterClientOpt{Addrs: c.Addrs()}}.MakeRedisClient().(*redis.ClusterClient)
	defer rdb.Close()
	ctx := context.Background()
	q := tasks.DefaultQueue
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s on the cluster: %v", what, err)
		}
	}

	// The negative check: a script given keys of two slots is refused.
	err := acquireScript.Run(ctx, rdb, []string{store.RateTATKey(q), "wdtcancel:{other}:rl:inflight", store.CooldownKey(q)}, 1000, 1, 1000, "x", 1000).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("a script with keys of two slots answered %v, want CROSSSLOT: the test could not catch an escaped key", err)
	}

	// Limiter: acquireScript (rate and in-flight), cooldownScript.
	l := NewLimiter(rdb, q, LimiterOptions{RatePerMinute: 6000, MaxInflight: 2, MaxWait: time.Second})
	slot, err := l.Acquire(ctx)
	must("limiter acquire (acquireScript)", err)
	slot.Release(ctx)
	// A rate-only limiter reserves in batches: reserveScript.
	rateOnly := NewLimiter(rdb, q, LimiterOptions{RatePerMinute: 6000, MaxWait: time.Second})
	_, err = rateOnly.Acquire(ctx)
	must("limiter batch reservation (reserveScript)", err)
	started, err := l.StartCooldown(ctx, 50*time.Millisecond)
	must("cooldown (cooldownScript)", err)
	if !started {
		t.Error("cooldown not started")
	}
	_, err = l.Cooldown(ctx)
	must("read cooldown", err)

	// Breaker: openIfFailingScript, the multi-key pipelines and DELs.
	b := NewBreaker(rdb, q, BreakerOptions{Threshold: 2, Window: time.Minute, ProbeEvery: time.Minute})
	_, err = b.Failure(ctx, "reset")
	must("breaker failure (openIfFailingScript)", err)
	open, err := b.Failure(ctx, "reset")
	must("breaker failure (openIfFailingScript)", err)
	if !open {
		t.Fatal("breaker did not open after the threshold")
	}
	st, probe, err := b.Gate(ctx)
	must("breaker gate", err)
	if st != nil || !probe {
		t.Fatalf("open breaker's first gate: state %v probe %v, want the probe", st, probe)
	}
	closed, err := b.Answered(ctx)
	must("breaker answered (DEL open, fails, probe)", err)
	if !closed {
		t.Error("a definite answer did not close the breaker")
	}
	must("breaker open for config", b.OpenForConfig(ctx, "bad key", "fix it"))
	must("free probe", b.FreeProbe(ctx))
	_, err = b.Reset(ctx)
	must("breaker reset (DEL open, fails, probe)", err)

	// Outcome memory: every method, multi-key DEL, MGET and MULTI.
	m := store.NewOutcomeMemory(rdb, q)
	_, err = m.Begin(ctx, "N1", time.Now())
	must("begin", err)
	earlier, err := m.Begin(ctx, "N1", time.Now())
	must("begin again (promotes)", err)
	if !earlier {
		t.Error("second Begin did not see the first mark")
	}
	must("unknown (pipeline)", m.Unknown(ctx, "N1", time.Now()))
	must("answered", m.Answered(ctx, "N1"))
	must("cancelled (MULTI)", m.Cancelled(ctx, "N1"))
	confirmed, unknown, err := m.Recall(ctx, "N1")
	must("recall (MGET)", err)
	if !confirmed || unknown {
		t.Errorf("recall: confirmed %v unknown %v, want true false", confirmed, unknown)
	}
	_, err = m.Begin(ctx, "N2", time.Now())
	must("begin", err)
	m.ClearLater(ctx, "N2")
	m.Close()
	if n := rdb.Exists(ctx, store.SentKey(q, "N2")).Val(); n != 0 {
		t.Error("ClearLater's batched DEL left the sent mark")
	}
	must("forget (DEL three marks)", m.Forget(ctx, "N1"))
	written, err := m.ConfirmInTask(ctx, "N3", []byte("x"))
	must("confirm in a task asynq does not hold (writeResultIfTask)", err)
	if written {
		t.Error("a result was written into a task asynq does not hold")
	}

	// Outcome events: the scripts that record an outcome with its event.
	_, _, err = m.ConfirmInTaskFinal(ctx, "N4", []byte("x"), store.Event{EventID: store.NewEventID(), PreStockinNo: "N4"})
	must("confirm with event (confirmFinalScript)", err)
	_, err = m.CancelledFinal(ctx, "N4", "N4", store.Event{EventID: store.NewEventID(), PreStockinNo: "N4"})
	must("cancelled with event (cancelledFinalScript)", err)
	_, err = store.NewDLQ(rdb, q).PutFinal(ctx, store.Record{PreStockinNo: "D0", Category: wdt.Rejected}, "D0", store.Event{EventID: store.NewEventID(), PreStockinNo: "D0"})
	must("dead letter with event (putFinalScript)", err)
	must("purge with event (dropFinalScript)", store.NewDLQ(rdb, q).Purge(ctx, "D0"))
	evs := store.NewEvents(rdb, q)
	last, err := evs.Last(ctx, 1)
	must("read events", err)
	if len(last) != 1 {
		t.Fatalf("events after the outcome scripts: %d, want at least 1", len(last))
	}
	_, err = evs.Append(ctx, last[0])
	must("append again (appendScript)", err)

	// Dead-letter store: HMGET, requeue and purge (dropFinalScript).
	d := store.NewDLQ(rdb, q)
	for _, no := range []string{"D1", "D2"} {
		must("dlq put", d.Put(ctx, store.Record{PreStockinNo: no, Category: wdt.Rejected, Error: "x", DeadLetteredAt: time.Now()}))
	}
	dead, err := d.Dead(ctx, []string{"D1", "D2", "D3"})
	must("dlq dead (HMGET)", err)
	if !dead[0] || !dead[1] || dead[2] {
		t.Errorf("dead = %v", dead)
	}
	must("dlq requeue (dropFinalScript)", d.Requeue(ctx, "D1"))
	if _, err := d.Get(ctx, "D1"); !errors.Is(err, store.ErrNotDead) {
		t.Errorf("requeued record still there: %v", err)
	}
	must("dlq purge", d.Purge(ctx, "D2"))
	// RequeueAll: removeArchivedCmd and dropFinalScript, pipelined.
	must("dlq put", d.Put(ctx, store.Record{PreStockinNo: "D3", Category: wdt.Rejected, Error: "x", DeadLetteredAt: time.Now()}))
	var requeueErr error
	requeued := 0
	must("dlq requeue --all (removeArchivedCmd)", d.RequeueAll(ctx, func(no string, err error) {
		requeued++
		if err != nil {
			requeueErr = err
		}
	}))
	must("dlq requeue --all of one record", requeueErr)
	if requeued != 1 {
		t.Errorf("RequeueAll re-drove %d records, want 1", requeued)
	}
	_, err = d.List(ctx)
	must("dlq list", err)

	// The replica wait goes to the queue's master, which has a replica.
	dur, err := store.NewDurable(rdb, q, 1, time.Second)
	must("durable", err)
	must("WAIT 1 on the queue's master", dur.Sync(ctx))

	// Redis loss detection: bumpScript (with INFO inside the script, on
	// the queue's master), the loss record, ackScript.
	e, err := store.BumpEpoch(ctx, rdb, q)
	must("bump the epoch marker (bumpScript)", err)
	if e.Gen != 1 || !e.Created || e.RunID == "" {
		t.Errorf("first bump on the cluster: %+v, want gen 1, created, the master's run_id", e)
	}
	fe, err := store.BumpEpochFast(ctx, rdb, q)
	must("bump the epoch marker (bumpFastScript)", err)
	if fe.Gen != 2 || fe.Created || fe.ID != "" {
		t.Errorf("fast bump on the cluster: %+v, want gen 2 of the existing marker (id not read)", fe)
	}
	died, be, err := m.BeginCalls(ctx, []string{"B1", "B2"}, time.Now())
	must("sent marks and the epoch bump of a batch (beginCallScript)", err)
	if len(died) != 2 || died[0] || died[1] || be.Gen != 3 || be.Created {
		t.Errorf("batch of marks on the cluster: died %v, epoch %+v, want two fresh marks and gen 3 of the existing marker", died, be)
	}
	_, err = store.RecordLoss(ctx, rdb, store.Loss{Queue: q, Kind: store.LossEmpty, DetectedAt: time.Now()})
	must("record a loss", err)
	_, err = store.AckLoss(ctx, rdb, q, time.Now())
	must("acknowledge a loss (ackScript)", err)

	// The activity index: queueWorkCmd (RetireQueue) reads the queue's
	// asynq keys in its slot; the sweep's EXISTS of four keys likewise;
	// the index itself is one key of its own slot.
	must("mark active", store.MarkActive(ctx, rdb, q))
	_, err = store.RetireQueue(ctx, rdb, q)
	must("retire an idle queue (queueWorkCmd)", err)
	_, err = store.SweepQueues(ctx, rdb, []string{q}, nil)
	must("sweep (EXISTS of the queue's four keys)", err)

	// Every key of the queue is in the queue's slot (MULTI and pipelines
	// that go-redis would otherwise split per slot without a word).
	want := testkit.Slot(q)
	for _, k := range []string{store.DeadLetterKey(q), store.SentKey(q, "N"), store.UnknownKey(q, "N"), store.ConfirmedKey(q, "N"),
		store.RateTATKey(q), store.InflightKey(q), store.CooldownKey(q), store.BreakerOpenKey(q), store.BreakerFailsKey(q),
		store.BreakerAliveKey(q), store.BreakerProbeKey(q), store.ProbeKey(q), store.SettingsKey(q),
		store.EpochKey(q), store.LossKey(q), store.LossAckedKey(q), "asynq:{" + q + "}:t:N"} {
		if s := testkit.Slot(k); s != want {
			t.Errorf("%s is in slot %d, the queue's is %d", k, s, want)
		}
		if got, err := rdb.ClusterKeySlot(ctx, k).Result(); err != nil || uint16(got) != want {
			t.Errorf("CLUSTER KEYSLOT %s = %d, %v; want %d", k, got, err, want)
		}
	}
}

// checkScriptList fails when a `redis.NewScript` in the module's Go code is
// missing from scriptsRunOnCluster (or the list names one that is gone).
func checkScriptList(t *testing.T) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*(?:var\s+)?(\w+)\s*=\s*redis\.NewScript\(`)
	var found []string
	root := ".."
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == ".git" || e.Name() == "testdata") {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			found = append(found, m[1])
		}
		if strings.Contains(string(b), ".Eval(") {
			t.Errorf("%s calls Eval directly: make it a redis.NewScript and add it to scriptsRunOnCluster", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(found)
	if strings.Join(found, ",") != strings.Join(scriptsRunOnCluster, ",") {
		t.Fatalf("scripts in the code: %v; run on the cluster: %v: add the new script to TestEveryScriptOnCluster", found, scriptsRunOnCluster)
	}
}

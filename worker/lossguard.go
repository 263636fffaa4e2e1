package worker

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/store"
)

// The loss guard notices a Redis that lost writes (store/epoch.go): it
// bumps each queue's epoch marker every LossCheckInterval (every
// lossFullEvery while the queue's calls bump it), and each lane's
// handler bumps it again after writing a sent mark (and making it durable)
// and before calling, so a snapshot taken before that mark cannot be
// restored without the counter going back below what this process saw. A detection is recorded in Redis for every
// worker and producer, logged once with what to do, turns /readyz red and
// sets wdtcancel_redis_writes_lost until an operator runs
// `wdtcancel redis-loss ack --yes`; meanwhile every rejection is filed
// ambiguous (Situation.MemoryIncomplete).

// DefaultLossCheckInterval is how often the worker bumps the epoch markers:
// readiness turns red within about this long after Redis came back.
const DefaultLossCheckInterval = time.Second

// lossFullEvery bounds how long the periodic full bump of a lane may wait
// while its calls' fast bumps flow (issue 24: a full bump is 7 commands a
// second per open queue). A lane whose calls bumped its marker within the
// last interval already compares the counter at every call, which is how
// this process detects a Redis that came back empty or older; what only the
// full bump reads is the loss records (a loss another process recorded)
// and the run_id. So a busy lane gets its full bump every lossFullEvery
// instead of every interval: readiness turns red for a loss another process
// recorded within lossFullEvery plus the interval (6 s by default), and at
// once for one this process detects. An idle lane, or one whose calls
// stopped, is bumped in full every interval as before, and every decision
// that needs the outcome memory bumps in full first (incomplete).
const lossFullEvery = 5 * time.Second

// RedisLostWrites is ReadyReport.Redis while a loss is known.
const RedisLostWrites = "lost_writes"

// lossClockMargin widens the horizon of an acknowledged loss: an order
// whose payload says it was requested up to this long after the loss was
// detected is still treated as possibly called before it, since the
// producer's clock is not the worker's.
const lossClockMargin = 2 * time.Minute

// lossNote is the Decision note of a rejection filed ambiguous because
// Redis lost writes, and the dead-letter record's ambiguous reason.
const lossNote = "Redis lost writes (see `wdtcancel redis-loss show`) since this order may have been called: " +
	"an earlier call may have cancelled it and its record be gone; check the order in WDT before a re-drive"

// lossGuard runs the epoch check of every lane of a worker.
type lossGuard struct {
	lanes    []*laneLoss
	interval time.Duration
	// active, when set, says which lanes' queues have work
	// (activity.isOpen): the periodic check bumps those every interval
	// and one idle lane in turn, so its cost does not grow with idle
	// sellers. A lane is bumped when its queue opens (bumpQueue), before
	// its first call, and its handler bumps again after each sent mark.
	active func(queue string) bool
	next   int // the idle lane whose turn is next
	loop   periodic
}

// laneLoss is what one lane's process knows of its queue's marker.
type laneLoss struct {
	rdb   redis.UniversalClient
	queue string
	// durable is the lane's replica wait: a bump counts towards the
	// baseline only once the replicas it waits for have it, so a failover
	// that loses only what nobody waited for is not taken for a loss of
	// what was waited for (nil or off: every bump counts).
	durable *store.Durable
	log     *zap.Logger
	gauge   prometheus.Gauge
	byWhom  string
	// lastFast and lastFull are when a fast bump's reply (a call's) and a
	// full bump's reply were last judged (unix ns): the periodic check
	// skips a full bump while fast ones flow (fullDue).
	lastFast, lastFull atomic.Int64

	mu sync.Mutex
	// The baseline: the highest counter this process got from the marker
	// with this id on the server with this run_id; era counts detections,
	// so a reply to a bump sent before one does not move the new baseline.
	seen  bool
	gen   int64
	id    string
	runID string
	era   uint64
	// active is the unacknowledged loss record, acked the last
	// acknowledged one, as last read.
	active, acked *store.Loss
	// logged is the detection time of the record last logged.
	logged time.Time
	// unrecorded is a detection whose record could not be written yet:
	// the next bump writes it (the marker is re-baselined, so nothing
	// would detect it again).
	unrecorded *store.Loss
}

func newLossGuard(interval time.Duration) *lossGuard {
	if interval <= 0 {
		interval = DefaultLossCheckInterval
	}
	return &lossGuard{interval: interval}
}

// lossGauge is wdtcancel_redis_writes_lost, one series per seller.
func lossGauge(reg prometheus.Registerer) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wdtcancel_redis_writes_lost",
		Help: "1 while Redis is known to have lost writes of the seller's queue (restarted empty or from an older snapshot) and no operator has run `wdtcancel redis-loss ack --yes`.",
	}, []string{SellerLabel})
	reg.MustRegister(g)
	return g
}

// addLane watches one lane's queue.
func (g *lossGuard) addLane(rdb redis.UniversalClient, queue string, durable *store.Durable, gauge prometheus.Gauge, log *zap.Logger) *laneLoss {
	host, _ := os.Hostname()
	l := &laneLoss{rdb: rdb, queue: queue, durable: durable, gauge: gauge, log: log, byWhom: fmt.Sprintf("%s pid %d", host, os.Getpid())}
	gauge.Set(0)
	g.lanes = append(g.lanes, l)
	return l
}

// check bumps every lane's marker once.
func (g *lossGuard) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, l := range g.lanes {
		l.bumpLogged(ctx)
	}
}

// tick is the periodic check: every lane without an activity filter,
// else the lanes with work and one idle lane in turn.
func (g *lossGuard) tick(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	now := time.Now()
	idle := -1
	for i := range g.lanes {
		j := (g.next + i) % len(g.lanes)
		l := g.lanes[j]
		switch {
		case g.active == nil || g.active(l.queue):
			if l.fullDue(now, g.interval) {
				l.bumpLogged(ctx)
			}
		case idle < 0:
			idle = j
		}
	}
	if idle >= 0 {
		g.lanes[idle].bumpLogged(ctx)
		g.next = idle + 1
	}
}

// fullDue reports whether the periodic check must bump the lane in full:
// unless a call's fast bump was judged within the last lossFullEvery (or
// the interval, if longer) and the last full bump is less than
// lossFullEvery old. The window is lossFullEvery, not the interval: a
// seller at a low rate (24/min at 1,000 sellers) calls less than once a
// second, and its lane fell back to a full bump every second between its
// calls, 7 commands each, most of its Redis cost per call (issue 24).
func (l *laneLoss) fullDue(now time.Time, interval time.Duration) bool {
	fastRecently := now.UnixNano()-l.lastFast.Load() < int64(max(interval, lossFullEvery))
	return !fastRecently || now.UnixNano()-l.lastFull.Load() >= int64(lossFullEvery)
}

// bumpQueue bumps the marker of queue's lane (a queue that just opened).
func (g *lossGuard) bumpQueue(ctx context.Context, queue string) {
	for _, l := range g.lanes {
		if l.queue == queue {
			l.bumpLogged(ctx)
		}
	}
}

func (l *laneLoss) bumpLogged(ctx context.Context) {
	if err := l.bump(ctx); err != nil && ctx.Err() == nil {
		l.log.Debug("epoch marker not bumped; Redis loss detection waits for Redis", zap.Error(err))
	}
}

// start runs check every interval until stop.
func (g *lossGuard) start() { g.loop.start(g.interval, false, g.tick) }

// stop ends the periodic check; safe before start and more than once.
func (g *lossGuard) stop() { g.loop.stop() }

// reasons are readiness's reasons: one per lane with a known loss.
func (g *lossGuard) reasons() []string {
	var out []string
	for _, l := range g.lanes {
		l.mu.Lock()
		if l.active != nil {
			out = append(out, l.active.Describe())
		}
		l.mu.Unlock()
	}
	return out
}

// bump bumps the marker, compares what came back with what this process
// saw before, and records and reports a loss. Safe for concurrent use and
// on a nil laneLoss (a handler driven without a worker).
func (l *laneLoss) bump(ctx context.Context) error { return l.bumpWith(ctx, false) }

// bumpFast is a bump that reads the counter only, without the server's
// run_id and the loss records, which the periodic bump reads. The handler
// makes this bump in the sent mark's own script (afterCallBump).
func (l *laneLoss) bumpFast(ctx context.Context) error { return l.bumpWith(ctx, true) }

// lossSnapshot is what a lane knew of its marker before a bump was sent:
// the reply is compared with it.
type lossSnapshot struct {
	seen      bool
	gen       int64
	id, runID string
	era       uint64
}

// snapshot is taken before a bump is sent (bumpWith, and the handler's
// mark-and-bump script, BeginCalls). Safe on a nil laneLoss.
func (l *laneLoss) snapshot() lossSnapshot {
	if l == nil {
		return lossSnapshot{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return lossSnapshot{seen: l.seen, gen: l.gen, id: l.id, runID: l.runID, era: l.era}
}

// afterCallBump judges the bump that the sent mark's script made before a
// call (store.OutcomeMemory.BeginCall: the mark and the bump in one round
// trip, the per-call bump this guard needs). keep: the replicas
// acknowledged the script (Durable.Sync), so its counter joins the
// baseline. Safe on a nil laneLoss.
func (l *laneLoss) afterCallBump(ctx context.Context, before lossSnapshot, e store.Epoch, keep bool) {
	if l == nil {
		return
	}
	e.RunID = before.runID // not read: compared as unchanged, never stored
	l.judge(ctx, before, e, true, keep)
}

func (l *laneLoss) bumpWith(ctx context.Context, fast bool) error {
	if l == nil {
		return nil
	}
	before := l.snapshot()
	var e store.Epoch
	var err error
	if fast {
		e, err = store.BumpEpochFast(ctx, l.rdb, l.queue)
		e.RunID = before.runID // not read: compared as unchanged, never stored
	} else {
		e, err = store.BumpEpoch(ctx, l.rdb, l.queue)
	}
	if err != nil {
		return err
	}
	// A bump the replicas did not acknowledge is compared but not kept.
	keep := l.durable.Sync(ctx) == nil
	l.judge(ctx, before, e, fast, keep)
	return nil
}

// judge compares a bump's reply with what this process saw before it was
// sent, and records and reports a loss. fast: the reply has the counter
// only (no run_id, no loss records).
func (l *laneLoss) judge(ctx context.Context, before lossSnapshot, e store.Epoch, fast, keep bool) {
	if fast {
		l.lastFast.Store(time.Now().UnixNano())
	} else {
		l.lastFull.Store(time.Now().UnixNano())
		l.retryRecord(ctx, &e)
	}
	kind := before.lossKind(e)
	l.mu.Lock()
	kind = l.rebaseLocked(before, e, kind, fast, keep)
	l.mu.Unlock()
	if kind != "" {
		l.recordDetection(ctx, before, e, kind, fast)
	}
	l.report()
}

// retryRecord writes a detection whose record could not be written at the
// time, as the periodic bump's loss record e.Loss.
func (l *laneLoss) retryRecord(ctx context.Context, e *store.Epoch) {
	l.mu.Lock()
	retry := l.unrecorded
	l.mu.Unlock()
	if retry == nil {
		return
	}
	if rec, err := store.RecordLoss(ctx, l.rdb, *retry); err == nil {
		l.mu.Lock()
		l.unrecorded = nil
		l.mu.Unlock()
		e.Loss = &rec
	}
}

// lossKind is the loss a bump's reply shows against what was known before
// it was sent: "" when none. A fast bump's reply has no id unless it
// created the marker (store.BumpEpochFast, the sent mark's script), so it
// is judged by its counter and "created" only, as it is judged without the
// run_id: a marker recreated by another process (Redis came back empty and
// another worker bumped first) with a counter above this process's
// baseline passes it, and is caught by the next full bump, which compares
// the id: the periodic one (lossGuard.tick) and the one before every
// decision that needs the outcome memory (incomplete).
func (b lossSnapshot) lossKind(e store.Epoch) string {
	switch {
	case !b.seen:
		return ""
	case e.Created || (e.ID != "" && e.ID != b.id):
		return store.LossEmpty
	case e.Gen <= b.gen:
		return store.LossOlderSnapshot
	}
	return ""
}

// rebaseLocked moves the baseline as the reply e says and returns the loss
// kind still to record ("" when a detection in between made this reply
// stale). l.mu is held.
func (l *laneLoss) rebaseLocked(before lossSnapshot, e store.Epoch, kind string, fast, keep bool) string {
	stale := l.era != before.era
	switch {
	case stale:
		// A detection re-baselined while this bump was on its way: its
		// reply says nothing the detection did not; it only raises the
		// counter of the same marker on the same server.
		kind = ""
		if keep && l.sameMarkerLocked(e) && e.Gen > l.gen {
			l.gen = e.Gen
		}
	case kind != "":
		l.rebaselineLocked(e, fast)
	case keep:
		l.keepLocked(before, e, fast)
	}
	if !stale && !fast {
		l.active, l.acked = e.Loss, e.Acked
		if l.active == nil && l.unrecorded != nil {
			l.active = l.unrecorded
		}
	}
	return kind
}

// sameMarkerLocked reports whether reply e is of the baseline's marker on
// the baseline's server, as far as it tells: a fast reply that did not
// create the marker has no id, and is taken for the same marker (the full
// bump compares the id). l.mu is held.
func (l *laneLoss) sameMarkerLocked(e store.Epoch) bool {
	sameID := e.ID == l.id || e.ID == "" && !e.Created
	return sameID && e.RunID == l.runID
}

// rebaselineLocked starts a new baseline at a reply that showed a loss,
// even one the replicas did not acknowledge: the old baseline is known to
// be gone. l.mu is held.
func (l *laneLoss) rebaselineLocked(e store.Epoch, fast bool) {
	l.era++
	l.gen, l.runID = e.Gen, e.RunID
	if e.ID != "" {
		l.id = e.ID // a fast reply that did not create the marker has none
	}
	if fast {
		l.runID = "" // the new server's is not known yet
	}
}

// keepLocked raises the baseline to an acknowledged reply without a loss.
// l.mu is held.
func (l *laneLoss) keepLocked(before lossSnapshot, e store.Epoch, fast bool) {
	if before.seen && e.RunID != before.runID && before.runID != "" && e.RunID != l.runID {
		l.log.Info("redis restarted or failed over with wdtcancel's epoch marker intact: no lost writes seen",
			zap.String("queue", l.queue), zap.String("old_run_id", before.runID), zap.String("new_run_id", e.RunID))
	}
	if e.ID == "" && !l.seen {
		// A fast reply without the marker's id starts no baseline: the
		// first full bump does (a queue's first bump is a full one).
		return
	}
	l.seen = true
	if e.ID != "" {
		l.id = e.ID
	}
	if !fast {
		l.runID = e.RunID
	}
	if e.Gen > l.gen {
		l.gen = e.Gen
	}
}

// recordDetection writes and logs a loss this process detected.
func (l *laneLoss) recordDetection(ctx context.Context, before lossSnapshot, e store.Epoch, kind string, fast bool) {
	newRunID := e.RunID
	if fast {
		newRunID = ""
	}
	rec, err := store.RecordLoss(context.WithoutCancel(ctx), l.rdb, store.Loss{
		Queue: l.queue, Kind: kind, DetectedAt: time.Now().UTC(),
		LastSeenEpoch: before.gen, FoundEpoch: e.Gen, OldRunID: before.runID, NewRunID: newRunID, DetectedBy: l.byWhom,
	})
	l.mu.Lock()
	if err != nil {
		// The next bump finds the marker at the new baseline and would
		// not detect again: keep the loss known here and write its
		// record at the next bump.
		l.log.Error("redis lost writes, and the loss record could not be written yet; this worker reports it and retries", zap.Error(err))
		l.unrecorded = &rec
	}
	l.active, l.logged = &rec, rec.DetectedAt
	l.mu.Unlock()
	l.log.Error("redis lost writes: "+rec.Describe(),
		zap.String("queue", l.queue), zap.String("kind", kind), zap.Int64("last_seen_epoch", before.gen), zap.Int64("found_epoch", e.Gen),
		zap.String("old_run_id", before.runID), zap.String("new_run_id", newRunID))
}

// report sets the gauge and logs a loss another process recorded, once.
func (l *laneLoss) report() {
	l.mu.Lock()
	active := l.active
	var fresh bool
	if active != nil && !active.DetectedAt.Equal(l.logged) {
		fresh, l.logged = true, active.DetectedAt
	}
	l.mu.Unlock()
	if active == nil {
		l.gauge.Set(0)
		return
	}
	l.gauge.Set(1)
	if fresh {
		l.log.Error("redis lost writes (recorded by "+active.DetectedBy+"): "+active.Describe(), zap.String("queue", l.queue), zap.String("kind", active.Kind))
	}
}

// incomplete bumps the marker now and reports whether the outcome memory
// of an order requested at requestedAt may be missing marks: a loss is
// known and not acknowledged (any order, since a number re-enqueued after
// the loss may have been called before it), or the order was requested
// before the last acknowledged loss.
func (l *laneLoss) incomplete(ctx context.Context, requestedAt time.Time) (bool, error) {
	if l == nil {
		return false, nil
	}
	if err := l.bump(ctx); err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active != nil {
		return true, nil
	}
	if l.acked != nil {
		return requestedAt.IsZero() || requestedAt.Before(l.acked.DetectedAt.Add(lossClockMargin)), nil
	}
	return false, nil
}

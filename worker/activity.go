package worker

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/store"
)

// A worker that serves many sellers polls only the queues that have
// something to do (docs/sellers.md, "Idle sellers cost nothing"). asynq
// has no dynamic queue list: its processor polls every queue it was given
// in turn, its forwarder, recoverer and janitor visit each one. So the
// worker keeps asynq's queue list whole (asynqmon, fairness and isolation
// are untouched) and hands asynq a Redis client whose hook answers asynq's
// polling scripts for a closed queue itself, without a round trip: "no
// task" to a dequeue, "nothing moved" to a forward, "no lease expired" to
// the recoverer, and lets the janitor through once per
// DefaultIdleJanitorInterval. A queue is open while the activity index
// (store.ActiveQueuesKey, which every producer writes after its enqueue)
// says it has work now, or while this process runs one of its tasks.
//
// When no queue is open at all, the hook also holds asynq's dequeue for up
// to activityBlock (woken at once when a queue opens), so asynq's 20 ms
// polling loop turns over a few times a second instead of fifty.

// Defaults of the activity tracker.
const (
	// DefaultActivityPollInterval is how often the worker reads the
	// activity index: the most a task for an idle seller waits before its
	// queue opens.
	DefaultActivityPollInterval = 200 * time.Millisecond
	// DefaultActivitySweepInterval is how often one worker of a set of
	// sellers checks every queue for tasks enqueued without the index (a
	// producer that died between its enqueue and its ZADD, an older
	// producer, asynqmon's "run", plain asynq).
	DefaultActivitySweepInterval = time.Minute
	// DefaultIdleJanitorInterval is how often asynq's janitor may delete
	// the expired completed tasks of a closed queue.
	DefaultIdleJanitorInterval = 5 * time.Minute
	// DefaultActivityIdleAfter is how long an open queue runs nothing
	// before the worker retires it from the index (store.RetireQueue).
	DefaultActivityIdleAfter = 5 * time.Second
	// activityBlock bounds how long the hook holds asynq's dequeue while
	// nothing is open (and so how much it delays a shutdown).
	activityBlock = time.Second
	// activityQuiet is how long an open queue runs nothing before its
	// polling slows to one round per activityQuietBlock.
	activityQuiet      = time.Second
	activityQuietBlock = 100 * time.Millisecond
)

// queueActivity is one served queue's state.
type queueActivity struct {
	queue   string
	open    atomic.Bool  // asynq's polling reaches Redis
	indexed atomic.Bool  // in the index with any score (it holds some task)
	running atomic.Int64 // its tasks in this process's handlers now
	// last is when it last opened, started or finished a task (UnixNano).
	last atomic.Int64
	// janitor is when the janitor last went through while closed.
	janitor atomic.Int64
	// pacer is its seller's schedule, for fetch by slot (pacing.go); nil:
	// not paced. Set before the worker starts.
	pacer pacer
	// emptyAt is when a dequeue of it last found no task (UnixNano),
	// fetchedAt when one last found a task.
	emptyAt, fetchedAt atomic.Int64
	// forwarded is when its delayed sets were last forwarded for real
	// (forwardhold.go).
	forwarded forwardState
}

// activity is the worker's view of the activity index.
type activity struct {
	rdb    redis.UniversalClient
	log    *zap.Logger
	byQ    map[string]*queueActivity
	queues []string // served, sorted

	poll, sweep, janitorEvery, idleAfter time.Duration
	// onOpen runs before a queue opens for asynq (the loss guard's bump,
	// so a lost Redis is noticed before the queue's first call).
	onOpen func(ctx context.Context, queue string)
	owner  string
	// retire is store.RetireQueue.
	retire func(ctx context.Context, rdb redis.UniversalClient, queue string) (bool, error)

	anyOpen atomic.Bool
	mu      sync.Mutex
	wake    chan struct{} // closed (and replaced) when a queue opens
	// pos is the place of the next dequeue in asynq's current round over
	// every queue (asynq's processor is the only caller, from one
	// goroutine): a round ends with a task, an error, or every queue
	// tried. round lists the queues the round's dequeues go to, in order
	// (plan), and turn is the next one's place in it; rr turns over the
	// unpaced open queues, open lists the open queues.
	pos, turn atomic.Int64
	round     atomic.Pointer[[]string]
	rr        atomic.Uint64
	open      atomic.Pointer[[]string]
	openQA    atomic.Pointer[[]*queueActivity] // the same queues' states (setOpen)
	lastSweep time.Time
	// forwardEvery is asynq's DelayedTaskCheckInterval: a busy queue's
	// forwards may be answered without Redis (forwardhold.go); 0: never.
	forwardEvery time.Duration

	stopped chan struct{}
	loop    periodic
}

// ActivityOptions tune the activity tracker (zero: the defaults).
type ActivityOptions struct {
	// PollInterval is how often the index is read
	// (DefaultActivityPollInterval).
	PollInterval time.Duration
	// SweepInterval is how often the queues are swept for tasks enqueued
	// without the index (DefaultActivitySweepInterval).
	SweepInterval time.Duration
	// IdleJanitorInterval is how often asynq's janitor runs on a closed
	// queue (DefaultIdleJanitorInterval).
	IdleJanitorInterval time.Duration
	// IdleAfter is how long an open queue runs no task before the worker
	// retires it from the index (DefaultActivityIdleAfter).
	IdleAfter time.Duration
}

func newActivity(rdb redis.UniversalClient, queues []string, o ActivityOptions, log *zap.Logger) *activity {
	host, _ := os.Hostname()
	a := &activity{rdb: rdb, log: log, byQ: make(map[string]*queueActivity, len(queues)), queues: queues,
		poll: o.PollInterval, sweep: o.SweepInterval, janitorEvery: o.IdleJanitorInterval, idleAfter: o.IdleAfter,
		owner: fmt.Sprintf("%s pid %d", host, os.Getpid()), retire: store.RetireQueue,
		wake: make(chan struct{}), stopped: make(chan struct{})}
	if a.poll <= 0 {
		a.poll = DefaultActivityPollInterval
	}
	if a.sweep <= 0 {
		a.sweep = DefaultActivitySweepInterval
	}
	if a.idleAfter <= 0 {
		a.idleAfter = DefaultActivityIdleAfter
	}
	if a.janitorEvery <= 0 {
		a.janitorEvery = DefaultIdleJanitorInterval
	}
	// The janitor's passes over closed queues are spread over its
	// interval instead of all at once.
	now := time.Now().UnixNano()
	for i, q := range queues {
		qa := &queueActivity{queue: q}
		qa.janitor.Store(now - int64(i)*int64(a.janitorEvery)/int64(len(queues)))
		a.byQ[q] = qa
	}
	return a
}

// isOpen reports whether queue's polling reaches Redis (true for a queue
// the worker does not serve: nothing is hidden about it).
func (a *activity) isOpen(queue string) bool {
	if a == nil {
		return true
	}
	qa := a.byQ[queue]
	return qa == nil || qa.open.Load()
}

// hasTasks reports whether queue holds any task as the index last said
// (or is open): the probe of an open breaker needs a held task.
func (a *activity) hasTasks(queue string) bool {
	if a == nil {
		return true
	}
	qa := a.byQ[queue]
	return qa == nil || qa.open.Load() || qa.indexed.Load()
}

// mayHavePending reports whether queue may have tasks waiting for a
// worker, from what this process already knows, without Redis (the share
// gate's question, share.go): it is open (the index says it has work, or
// this process runs its tasks) and its last dequeue, if any, found a task.
// A queue whose last dequeue came back empty has nothing pending until a
// dequeue finds one again (an empty paced queue is tried again after
// emptyBackoff, an unpaced one every round), or it closes and reopens.
func (a *activity) mayHavePending(queue string) bool {
	if a == nil {
		return true
	}
	qa := a.byQ[queue]
	if qa == nil {
		return true
	}
	return qa.open.Load() && qa.emptyAt.Load() <= qa.fetchedAt.Load()
}

// begin and end bracket a task of queue in this process: its queue stays
// open while it runs, and for activityIdleAfter after.
func (a *activity) begin(queue string) {
	if a == nil {
		return
	}
	if qa := a.byQ[queue]; qa != nil {
		qa.running.Add(1)
		qa.last.Store(time.Now().UnixNano())
	}
}

func (a *activity) end(queue string) {
	if a == nil {
		return
	}
	if qa := a.byQ[queue]; qa != nil {
		qa.last.Store(time.Now().UnixNano())
		qa.running.Add(-1)
	}
}

// openNow opens queue at once: this process just made one of its tasks
// pending (a probe, a release of held tasks), after marking it in the
// index.
func (a *activity) openNow(ctx context.Context, queue string) {
	if a == nil {
		return
	}
	qa := a.byQ[queue]
	if qa == nil || qa.open.Load() {
		return
	}
	if a.onOpen != nil {
		a.onOpen(ctx, queue)
	}
	qa.last.Store(time.Now().UnixNano())
	qa.indexed.Store(true)
	qa.open.Store(true)
	a.mu.Lock()
	open := []string{queue}
	if prev := a.open.Load(); prev != nil {
		open = append(append([]string(nil), *prev...), queue)
	}
	a.setOpen(open)
	a.mu.Unlock()
	a.anyOpen.Store(true)
	a.broadcast()
}

// broadcast wakes a dequeue held while nothing was open.
func (a *activity) broadcast() {
	a.mu.Lock()
	close(a.wake)
	a.wake = make(chan struct{})
	a.mu.Unlock()
}

// refresh reads the index once and opens, closes and retires queues.
func (a *activity) refresh(ctx context.Context) error {
	idx, err := store.ActiveQueues(ctx, a.rdb)
	if err != nil {
		return err
	}
	now := time.Now()
	horizon := now.Add(a.poll)
	opened := false
	var open []string
	for _, q := range a.queues {
		due, in := idx[q]
		if a.update(ctx, a.byQ[q], in, in && !due.After(horizon), now) {
			opened = true
		}
		if a.byQ[q].open.Load() {
			open = append(open, q)
		}
	}
	a.setOpen(open)
	a.anyOpen.Store(len(open) > 0)
	if opened {
		a.broadcast()
	}
	if now.Sub(a.lastSweep) >= a.sweep {
		a.lastSweep = now
		a.sweepOnce(ctx, idx)
	}
	return nil
}

// update applies one reading of the index to a queue: in says it is in
// the index, due that it has work now. It reports whether the queue
// opened.
func (a *activity) update(ctx context.Context, qa *queueActivity, in, due bool, now time.Time) bool {
	qa.indexed.Store(in)
	idle := qa.running.Load() == 0
	switch {
	case due && !qa.open.Load():
		if a.onOpen != nil {
			a.onOpen(ctx, qa.queue)
		}
		qa.last.Store(now.UnixNano())
		qa.open.Store(true)
		return true
	case !due && qa.open.Load() && idle:
		// Another worker retired it, or its next task is due later.
		qa.open.Store(false)
	case due && idle && now.Sub(time.Unix(0, qa.last.Load())) >= a.idleAfter:
		a.retireIdle(ctx, qa, now)
	}
	return false
}

// retireIdle retires a queue that ran nothing for idleAfter.
func (a *activity) retireIdle(ctx context.Context, qa *queueActivity, now time.Time) {
	kept, err := a.retire(ctx, a.rdb, qa.queue)
	if err != nil {
		a.log.Debug("idle queue not retired from the activity index; it stays polled", zap.String("queue", qa.queue), zap.Error(err))
	}
	if !kept {
		qa.open.Store(false)
		qa.indexed.Store(false)
		return
	}
	// Kept: read again next time (it may be due later).
	qa.last.Store(now.UnixNano())
}

// sweepOnce adds back the queues that hold tasks the index does not know,
// if no other worker of the same sellers swept them within the interval.
func (a *activity) sweepOnce(ctx context.Context, idx map[string]time.Time) {
	ok, err := store.TrySweepLock(ctx, a.rdb, a.queues, a.sweep, a.owner)
	if err != nil || !ok {
		return
	}
	found, err := store.SweepQueues(ctx, a.rdb, a.queues, idx)
	if err != nil {
		a.log.Warn("activity sweep failed; the next one retries", zap.Error(err))
		return
	}
	if len(found) > 0 {
		a.log.Info("tasks found outside the activity index (a producer without it, or one that stopped between its enqueue and its mark); their queues are polled again",
			zap.Strings("queues", found))
	}
}

// start reads the index every poll until stop. The first read is done
// before start returns, so the queues with work open at once.
func (a *activity) start() {
	if a == nil {
		return
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := a.refresh(rctx); err != nil {
		a.log.Warn("could not read the activity index; retrying", zap.Error(err))
	}
	rcancel()
	a.loop.start(a.poll, false, func(ctx context.Context) {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		defer rcancel()
		if err := a.refresh(rctx); err != nil && ctx.Err() == nil {
			a.log.Debug("could not read the activity index; retrying", zap.Error(err))
		}
	})
}

// stop ends the loop and releases a held dequeue; safe before start and
// more than once.
func (a *activity) stop() {
	if a == nil {
		return
	}
	a.mu.Lock()
	select {
	case <-a.stopped:
	default:
		close(a.stopped)
	}
	a.mu.Unlock()
	a.loop.stop()
}

// hold is called at the start of a round of asynq's dequeues and returns
// the queues the round goes to (plan). It returns at once when a paced
// seller's slot is due, or an unpaced open queue ran a task within
// activityQuiet. Otherwise it waits, woken when a queue opens or a
// seller's task in hand gets its answer from the schedule, for at most:
// the time until the next paced seller is due, activityQuietBlock when the
// open queues are quiet (on their way to being retired: their next task
// would wait for the index anyway), activityBlock when nothing is open.
// Either way the rounds, each a call per queue, stop costing CPU in
// proportion to the sellers.
func (a *activity) hold() []string {
	now := time.Now()
	limit := activityBlock
	var p plan
	if a.anyOpen.Load() {
		p = a.plan(now)
		if p.due || (len(p.queues) > 0 && !a.quiet()) {
			return p.queues
		}
		if len(p.queues) > 0 {
			limit = activityQuietBlock
		}
		if !p.wake.IsZero() {
			limit = min(limit, p.wake.Sub(now))
		}
	}
	a.mu.Lock()
	wake := a.wake
	a.mu.Unlock()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-wake:
	case <-a.stopped:
	case <-t.C:
	}
	return a.plan(time.Now()).queues
}

// plan is where a round of dequeues goes.
type plan struct {
	// queues: the paced queues whose slot is due within fetchAhead,
	// earliest slot first, then the unpaced open queues in turn.
	queues []string
	// due: some paced queue is among them.
	due bool
	// wake: when the next paced queue not due yet will be (zero: none).
	wake time.Time
}

// setOpen records the open queues, by name and by state (plan reads the
// states without a map lookup per queue: at 1,000 sellers it runs over
// every open queue for each round).
func (a *activity) setOpen(open []string) {
	qas := make([]*queueActivity, 0, len(open))
	for _, q := range open {
		if qa := a.byQ[q]; qa != nil {
			qas = append(qas, qa)
		}
	}
	a.open.Store(&open)
	a.openQA.Store(&qas)
}

// plan orders the open queues for a round at now. It works in UnixNano
// throughout: it runs for every round over every open queue.
func (a *activity) plan(now time.Time) plan {
	var p plan
	open := a.openQA.Load()
	if open == nil {
		return p
	}
	type dueQueue struct {
		q  string
		at int64
	}
	var due []dueQueue
	var other []string
	nowNs := now.UnixNano()
	var wake int64
	for _, qa := range *open {
		if !qa.open.Load() {
			continue
		}
		var at int64
		paced := false
		if qa.pacer != nil {
			at, paced = qa.pacer.readyAtNanos(nowNs)
		}
		if !paced {
			other = append(other, qa.queue)
			continue
		}
		from := max(at-int64(fetchAhead), qa.emptyAt.Load()+int64(emptyBackoff))
		if from > nowNs {
			if wake == 0 || from < wake {
				wake = from
			}
			continue
		}
		due = append(due, dueQueue{qa.queue, at})
	}
	if wake != 0 {
		p.wake = time.Unix(0, wake)
	}
	sort.Slice(due, func(i, j int) bool { return due[i].at < due[j].at })
	p.queues = make([]string, 0, len(due)+len(other))
	for _, d := range due {
		p.queues = append(p.queues, d.q)
	}
	p.due = len(due) > 0
	if n := len(other); n > 0 {
		k := int(a.rr.Add(1) % uint64(n))
		p.queues = append(append(p.queues, other[k:]...), other[:k]...)
	}
	return p
}

// quiet reports whether every open queue has run no task for
// activityQuiet.
func (a *activity) quiet() bool {
	open := a.open.Load()
	if open == nil {
		return true
	}
	now := time.Now().UnixNano()
	for _, q := range *open {
		qa := a.byQ[q]
		if qa.running.Load() > 0 || time.Duration(now-qa.last.Load()) < activityQuiet {
			return false
		}
	}
	return true
}

// The go-redis hook on asynq's own client.

func (a *activity) DialHook(next redis.DialHook) redis.DialHook { return next }

func (a *activity) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (a *activity) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if kind, q := classify(cmd); kind == pollDequeue && a.byQ[q] != nil {
			return a.dequeue(ctx, cmd, q, next)
		}
		if a.answer(cmd) {
			// go-redis sets the command's error to what the hook
			// returns.
			return cmd.Err()
		}
		return next(ctx, cmd)
	}
}

// asynqPoll is one of asynq's polling scripts, by its first key's suffix
// and its number of keys (asynq v0.26, internal/rdb; pinned by
// TestActivityHookSeesAsynqScripts).
type asynqPoll int

const (
	notPoll     asynqPoll = iota
	pollDequeue           // dequeueCmd: pending, paused, active, lease
	pollForward           // forwardCmd: scheduled|retry, pending
	pollLease             // listLeaseExpiredCmd: lease
	pollReclaim           // reclaimStateAggregationSetsCmd: aggregation_sets
	pollJanitor           // deleteExpiredCompletedTasksCmd: completed
)

// classify names cmd's polling script and its queue.
func classify(cmd redis.Cmder) (asynqPoll, string) {
	args := cmd.Args()
	if len(args) < 4 {
		return notPoll, ""
	}
	name, _ := args[0].(string)
	if !strings.EqualFold(name, "evalsha") && !strings.EqualFold(name, "eval") {
		return notPoll, ""
	}
	nkeys, ok := args[2].(int)
	key, ok2 := args[3].(string)
	if !ok || !ok2 {
		return notPoll, ""
	}
	q, suffix, ok := store.AsynqQueueKeySuffix(key)
	if !ok {
		return notPoll, ""
	}
	if kind, ok := asynqPolls[pollKey{suffix, nkeys}]; ok {
		return kind, q
	}
	return notPoll, ""
}

// pollKey is what tells asynq's polling scripts apart: the suffix of the
// first key and the number of keys.
type pollKey struct {
	suffix string
	nkeys  int
}

var asynqPolls = map[pollKey]asynqPoll{
	{"pending", 4}:          pollDequeue,
	{"scheduled", 2}:        pollForward,
	{"retry", 2}:            pollForward,
	{"lease", 1}:            pollLease,
	{"aggregation_sets", 1}: pollReclaim,
	{"completed", 1}:        pollJanitor,
}

// dequeue is asynq's dequeue of queue q, one of a round over every queue
// in a random order. The round's dequeues go, in turn, to the queues of
// the round's plan, whichever queue asynq asked for; once the plan is
// exhausted the rest are answered "no task" without Redis. So asynq finds
// a task after a round trip or two instead of after answering the closed
// queues first, whose cost grows with the sellers, and a freed worker goes
// to the seller whose slot comes first (pacing.go). The script's keys and
// task prefix are rewritten to the planned queue's (the task message
// carries its queue, which asynq uses from then on), after checking they
// are the layout redirect expects; otherwise the dequeue goes to q if it is
// open, as asynq asked.
func (a *activity) dequeue(ctx context.Context, cmd redis.Cmder, q string, next redis.ProcessHook) error {
	if a.pos.Add(1) == 1 {
		planned := a.hold()
		a.round.Store(&planned)
		a.turn.Store(0)
	}
	target := ""
	if planned := a.round.Load(); planned != nil {
		if i := a.turn.Add(1) - 1; i < int64(len(*planned)) {
			target = (*planned)[i]
		}
	}
	var err error
	switch {
	case target != "" && (target == q || a.redirect(cmd, q, target)):
		err = next(ctx, cmd)
		a.dequeued(target, err)
	case target != "" && a.byQ[q].open.Load():
		err = next(ctx, cmd)
		a.dequeued(q, err)
	default:
		cmd.SetErr(redis.Nil)
		err = redis.Nil
	}
	if err != redis.Nil || a.pos.Load() >= int64(len(a.queues)) {
		a.pos.Store(0) // the round is over
	}
	return err
}

// dequeued notes what a dequeue of queue found: a task in hand for its
// seller, or an empty queue to leave out of the rounds for a while.
func (a *activity) dequeued(queue string, err error) {
	switch {
	case err == nil:
		qa := a.byQ[queue]
		qa.fetchedAt.Store(time.Now().UnixNano())
		if qa.pacer != nil {
			qa.pacer.noteFetched()
		}
	case err == redis.Nil:
		a.byQ[queue].emptyAt.Store(time.Now().UnixNano())
	}
}

// redirect points a dequeue of queue q at queue target.
func (a *activity) redirect(cmd redis.Cmder, q, target string) bool {
	if !a.byQ[target].open.Load() {
		return false
	}
	args := cmd.Args()
	if len(args) != 9 {
		return false
	}
	from, to := store.AsynqDequeueKeys(q), store.AsynqDequeueKeys(target)
	for i, k := range from {
		if args[3+i] != k {
			return false
		}
	}
	if args[8] != store.AsynqTaskKeyPrefix(q) {
		return false
	}
	for i, k := range to {
		args[3+i] = k
	}
	args[8] = store.AsynqTaskKeyPrefix(target)
	return true
}

// answer answers cmd itself when it is asynq polling a closed queue.
func (a *activity) answer(cmd redis.Cmder) bool {
	kind, q := classify(cmd)
	if kind == notPoll {
		return false
	}
	qa := a.byQ[q]
	if qa == nil {
		return false
	}
	if qa.open.Load() {
		return kind == pollForward && a.holdForward(cmd, qa)
	}
	c, ok := cmd.(*redis.Cmd)
	if !ok {
		return false
	}
	switch kind {
	case pollDequeue:
		c.SetErr(redis.Nil)
	case pollLease:
		c.SetVal([]interface{}{})
	case pollJanitor:
		now := time.Now().UnixNano()
		last := qa.janitor.Load()
		if time.Duration(now-last) >= a.janitorEvery && qa.janitor.CompareAndSwap(last, now) {
			return false
		}
		c.SetVal(int64(0))
	default:
		c.SetVal(int64(0))
	}
	return true
}

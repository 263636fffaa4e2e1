package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// Caller is what the handler needs of the WDT client.
type Caller interface {
	CancelPreStockin(ctx context.Context, preStockinNo string) error
	Clock() *wdt.Clock
}

// HandlerOptions tune the policy. Zero values take the defaults.
type HandlerOptions struct {
	// MaxRetry is how many failed attempts (server, network, unknown
	// outcome) a number gets before it is dead-lettered as exhausted. A
	// task's own, smaller MaxRetry wins.
	MaxRetry int
	Backoff  Backoff
	// Cooldown is how long every worker holds off after a rate-limited
	// answer. WDT advises 5-10 minutes; 60 s is the default because the
	// limit is per minute.
	Cooldown time.Duration
	// ConfigFaultDelay is how long a task waits after a configuration
	// fault: long, since an operator has to act.
	ConfigFaultDelay time.Duration
	// ClockSkewDelay is the brief back-off after a clock-skew answer that a
	// resync did not cure.
	ClockSkewDelay time.Duration
	// BreakerHoldDelay is how long a task waits while the circuit breaker
	// is open. Long: the breaker's probe runs on its own schedule, and
	// closing the breaker releases held tasks at once.
	BreakerHoldDelay time.Duration
	// ConfirmRetryWindow is how long, after the first write failed, a
	// status 0 confirmation that Redis did not take is written again
	// before the attempt is left unconfirmed: long enough to ride out a
	// stall of a few seconds (a failover, a slow fsync). A write is started
	// only if, as long as the longest write so far, it ends within 27 s of
	// the attempt's start, inside asynq's 30 s lease (retryConfirm): a
	// write during a stall takes go-redis's read timeout on each try.
	ConfirmRetryWindow time.Duration
}

// Defaults of HandlerOptions.
const (
	DefaultMaxRetry           = tasks.DefaultMaxRetry // the one retry budget, shared with producers
	DefaultCooldown           = 60 * time.Second
	DefaultConfigFaultDelay   = 5 * time.Minute
	DefaultClockSkewDelay     = 5 * time.Second
	DefaultBreakerHoldDelay   = 10 * time.Minute
	DefaultConfirmRetryWindow = 10 * time.Second
)

// Handler processes wdt:prestockin:cancel tasks. It gathers what an attempt
// learned (the call's answer, the outcome memory, the breaker), asks Decide
// what that means, and carries the decision out; it holds no policy of its
// own.
type Handler struct {
	api     Caller
	dlq     *DLQ
	memory  *store.OutcomeMemory
	insp    *asynq.Inspector // reads a task's result (the confirmation of a success)
	limiter *Limiter
	breaker *Breaker
	metrics *Metrics
	log     *zap.Logger
	opts    HandlerOptions
	queue   string
	// seller is the seller whose queue this handler works; a payload that
	// names another seller is invalid.
	seller string
	// share bounds how many of this seller's tasks run at once in this
	// process; nil: no bound.
	share *shareGate
	// onAttempt is Config.OnAttempt; nil when nobody listens.
	onAttempt func(Attempt)
	// runHeld releases held tasks when this worker's call closed the
	// breaker; nil in tests that drive the handler alone.
	runHeld func()

	// durable waits for replicas after the writes a failover must not
	// lose (store.Durable); off unless --redis-wait-replicas.
	durable *store.Durable

	// events counts outcome events written, by outcome (events.go); nil
	// in tests that drive the handler alone.
	events *prometheus.CounterVec

	// loss is the lane's Redis loss detection (lossguard.go); nil in
	// tests that drive the handler alone.
	loss *laneLoss

	// lookup is the seller's Qimen order lookup (lookup.go); nil: none,
	// and the outcome memory alone decides as before.
	lookup Looker

	faultsMu     sync.Mutex
	loggedFaults map[string]bool

	// marks group-commits the sent marks of the lane's calls
	// (callmarks.go), made on first use; groupLinger and groupMax are its
	// linger (0: none, leader-style) and batch size (0: the default).
	marksOnce   sync.Once
	marks       *groupCommit[string, struct{}]
	resultsOnce sync.Once
	results     *groupCommit[store.Confirmation, resultWrite]
	groupLinger time.Duration
	groupMax    int

	// running counts handlers still executing. asynq stops waiting for a
	// handler when its shutdown timeout ends; the worker waits on this
	// before closing Redis so a cut call can still record its outcome.
	running sync.WaitGroup
}

// ProcessTask implements asynq.Handler. Every return is one of: nil (done),
// a snooze, hold or failure (asynq retries), or a dead-letter after the
// record was written (asynq archives).
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	h.running.Add(1)
	defer h.running.Done()
	start := time.Now()
	id, _ := asynq.GetTaskID(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	taskMax, ok := asynq.GetMaxRetry(ctx)
	if !ok {
		taskMax = h.opts.MaxRetry
	}
	at := attempt{id: id, retried: retried, limit: min(taskMax, h.opts.MaxRetry), start: start}

	if !h.share.enterOrWait(ctx, shareMaxWait) {
		return h.overShare(&at)
	}
	defer h.share.leave()

	if t.Type() != tasks.TypeCancel {
		return h.invalid(ctx, at, t, fmt.Errorf("%w task type %q: this worker handles only %s", tasks.ErrInvalid, t.Type(), tasks.TypeCancel))
	}
	p, err := tasks.DecodePayload(t.Payload())
	if err != nil {
		return h.invalid(ctx, at, t, err)
	}
	if got := p.SellerName(); got != h.seller {
		return h.invalid(ctx, at, t, fmt.Errorf("%w payload: it names seller %q but the task is in queue %q, which is seller %q's; "+
			"enqueue it for seller %q (its queue is %q)", tasks.ErrInvalid, got, h.queue, h.seller, got, tasks.QueueFor(h.baseQueue(), got)))
	}
	at.no, at.payload = p.PreStockinNo, p

	sit, err := h.call(ctx, &at)
	if ctx.Err() != nil && !sit.Called {
		// Shutting down before the call went out: asynq hands the task
		// back untouched.
		return ctx.Err()
	}
	sit.Retried, sit.Limit = at.retried, at.limit
	if NeedsMemory(sit) {
		confirmed, unknown, merr := h.memory.Recall(ctx, at.no)
		if merr == nil && !confirmed {
			confirmed, merr = h.resultConfirms(at.id)
		}
		if merr == nil {
			sit.MemoryIncomplete, merr = h.loss.incomplete(ctx, at.payload.RequestedAt)
		}
		if merr != nil {
			err = fmt.Errorf("cannot read outcome memory before deciding: %w", merr)
			sit = Situation{Category: wdt.Redis, Called: sit.Called, Retried: at.retried, Limit: at.limit}
		} else {
			sit.Confirmed, sit.Unknown = confirmed, unknown || sit.Unknown
		}
	}
	sit, err = h.lookUp(ctx, &at, sit, err)
	return h.carryOut(ctx, &at, Decide(sit, h.delays()), err)
}

// attempt is what one run of the handler knows about its task.
type attempt struct {
	id, no  string
	payload tasks.Payload
	retried int // failed attempts before this one
	limit   int // failed attempts allowed in all
	start   time.Time
	calls   int
	// ambiguous is the dead-letter record's flag, once it is written.
	ambiguous bool
	// unrecorded says why the outcome decided is not recorded (the task
	// runs again); "" when it is, or may be (unrecorded.go).
	unrecorded string
	// lookedUp is what the order lookup found, when it was asked and
	// answered: it goes on the dead-letter record and the task result.
	lookedUp *store.LookedUp
	// cancelEventID is the ID of this attempt's cancelled event, the same
	// on every write of the confirmation (retryConfirm): a write that
	// landed unanswered is then recognised by the next one, which counts
	// the event (wdtcancel_events_written_total) instead of losing it.
	cancelEventID string
	// quiet logs the attempt at debug level: a task put back for being over
	// its seller's share, which a busy slow seller does many times a second
	// (wdtcancel_rate_limit_waits_total{reason="share"} counts them).
	quiet bool
}

func (h *Handler) delays() Delays {
	return Delays{
		Cooldown:    h.opts.Cooldown + jitter(h.opts.Cooldown/10),
		ClockSkew:   jitter(h.opts.ClockSkewDelay),
		ConfigHold:  jitter(h.opts.ConfigFaultDelay),
		BreakerHold: jitter(h.opts.BreakerHoldDelay),
		Redis:       jitter(redisTroubleDelay),
	}
}

// redisTroubleDelay is how soon a task comes back after Redis failed inside
// the worker (limiter, breaker or outcome memory): not the order's fault, so
// no retry is used.
const redisTroubleDelay = 5 * time.Second

// call waits for a slot, passes the breaker, marks the call as sent and calls
// WDT. It returns the situation the attempt ended in and the error that
// explains it. A slot already late is given up before anything is written,
// and one that became late while the mark was written is given up with its
// mark; each takes a new slot, up to maxLateSlots. A clock-skew answer is
// retried once at once: the client has already learned the server's clock
// from the answer's Date header, so the re-signed request should pass.
func (h *Handler) call(ctx context.Context, at *attempt) (Situation, error) {
	late := 0
	for try := 0; ; try++ {
		slot, sit, err := h.takeSlot(ctx, at)
		if slot == nil {
			return sit, err
		}
		if !slot.Late() {
			if err := h.markSent(ctx, at, slot); err != nil {
				return Situation{Category: wdt.Redis}, err
			}
			if !slot.Late() {
				sit, err := h.send(ctx, at, slot)
				if sit.Category == wdt.ClockSkew && try == 0 {
					h.metrics.ClockResyncs.Inc()
					h.log.Warn("clock skew: resynced, re-signing", zap.String("pre_stockin_no", at.no),
						zap.Duration("clock_offset", h.api.Clock().Offset()))
					continue
				}
				return sit, err
			}
			// Too late for the rate's schedule: nothing is sent, so the
			// sent mark goes.
			slot.Release(ctx)
			if merr := h.memory.Answered(ctx, at.no); merr != nil {
				return Situation{Category: wdt.Redis}, merr
			}
		} else {
			slot.Release(ctx)
		}
		// A new slot is taken, or the task comes back soon, without using
		// a retry.
		if late++; late >= maxLateSlots {
			return h.tooLate()
		}
		try--
	}
}

// takeSlot waits for a slot of the limiter and passes the breaker. A nil
// slot comes with the situation the attempt ends in.
func (h *Handler) takeSlot(ctx context.Context, at *attempt) (*Slot, Situation, error) {
	slot, err := h.limiter.Acquire(ctx)
	if err != nil {
		var we *WaitError
		if errors.As(err, &we) {
			h.metrics.RateLimitWaits.WithLabelValues(string(we.Reason)).Inc()
			// A task sent back to wait for its slot is routine at
			// quota: wdtcancel_rate_limit_waits_total counts it, the
			// log has it at debug level only.
			at.quiet = true
			return nil, Situation{Category: wdt.RateLimited, Wait: jitter(we.After) + 50*time.Millisecond}, err
		}
		return nil, Situation{Category: wdt.Redis}, err
	}
	state, probe, err := h.breaker.Gate(ctx)
	switch {
	case err != nil:
		slot.Release(ctx)
		return nil, Situation{Category: wdt.Redis}, err
	case state != nil:
		slot.Release(ctx)
		// Held without a call: for as long as the fault that opened the
		// breaker calls for.
		cat := wdt.Network
		if state.Reason == BreakerConfig {
			cat = wdt.Config
		}
		return nil, Situation{Category: cat, BreakerOpen: true}, errors.New(state.Describe())
	case probe:
		h.log.Info("circuit breaker open: this call is the probe", zap.String("pre_stockin_no", at.no))
	}
	return slot, Situation{}, nil
}

// markSent marks the call as sent before sending it, so that if this
// process dies mid-call the next attempt knows the outcome is unknown, and
// bumps the epoch marker after the mark (lossguard.go), both in one script
// shared with the concurrent calls of the lane (groupcommit.go), then
// waits for the replicas. An error: nothing is sent, the slot is released,
// the mark goes, and the task comes back soon without using a retry.
func (h *Handler) markSent(ctx context.Context, at *attempt, slot *Slot) error {
	if err := h.beginCall(ctx, at.no); err != nil {
		slot.Release(ctx)
		return err
	}
	return nil
}

// send calls WDT and records what the answer means.
func (h *Handler) send(ctx context.Context, at *attempt, slot *Slot) (Situation, error) {
	callStart := time.Now()
	err := h.api.CancelPreStockin(ctx, at.no)
	slot.Release(ctx)
	at.calls++
	cat := wdt.CategoryOf(err)
	h.metrics.ObserveCall(cat, time.Since(callStart))
	h.settleCall(ctx, at, cat)
	sit := Situation{Category: cat, Called: true, Unknown: cat == wdt.UnknownOutcome}
	sit.BreakerOpen = h.updateBreaker(ctx, cat, err)
	return sit, err
}

// overShare reschedules a task whose seller already runs its fair share of
// this process's workers, without a call and without using a retry: a slow
// or throttled seller never occupies every worker. The short, jittered
// delay lets the seller's own tasks come back as soon as a place is free.
func (h *Handler) overShare(at *attempt) error {
	we := &WaitError{Reason: ReasonShare, After: shareWaitMin + rand.N(shareWaitSpread)}
	h.metrics.RateLimitWaits.WithLabelValues(string(we.Reason)).Inc()
	at.no = at.id // the task ID is the number; the payload is not read
	at.quiet = true
	h.finish(at, ActSnooze, wdt.RateLimited, we)
	return snooze(wdt.RateLimited, we.After, we)
}

// A task over its seller's share comes back after 100-500 ms.
const (
	shareWaitMin    = 100 * time.Millisecond
	shareWaitSpread = 400 * time.Millisecond
)

// baseQueue is the base queue this handler's seller queue derives from.
func (h *Handler) baseQueue() string {
	if h.seller == tasks.DefaultSeller {
		return h.queue
	}
	return strings.TrimSuffix(h.queue, ":"+h.seller)
}

// tooLate reschedules a task whose slots kept passing before its call
// could leave, without using a retry.
func (h *Handler) tooLate() (Situation, error) {
	we := &WaitError{Reason: ReasonLate, After: 100 * time.Millisecond}
	h.metrics.RateLimitWaits.WithLabelValues(string(we.Reason)).Inc()
	return Situation{Category: wdt.RateLimited, Wait: jitter(we.After) + 50*time.Millisecond}, we
}

// maxLateSlots is how many late slots one attempt gives up before the task
// is rescheduled.
const maxLateSlots = 3

// settle records what the call's answer means for the outcome memory.
func (h *Handler) settle(ctx context.Context, at *attempt, cat wdt.Category) error {
	switch cat {
	case wdt.Cancelled:
		return h.confirm(ctx, at)
	case wdt.UnknownOutcome:
		return h.memory.Unknown(ctx, at.no, time.Now())
	}
	// Every other answer is definite that nothing was cancelled; a network
	// error means the request was never written.
	return h.memory.Answered(ctx, at.no)
}

// confirm records a status 0 answer. The record is the task's own result
// (one HSET into asynq's task hash, which asynqmon shows): a rerun of this
// task, the one case that needs it (a shutdown handed the task back just as
// its call succeeded), reads it there, and it lives exactly as long as asynq
// keeps the task, at no cost beyond the result itself. The same script drops
// the call's sent and unknown marks.
//
// asynq refuses a result write once the task's context has ended, which is
// what happens in that very race; then, and when there is no result writer
// (a handler driven by a test), the confirmation goes to the outcome
// memory's own confirmed mark instead, synchronously.
func (h *Handler) confirm(ctx context.Context, at *attempt) error {
	if at.id != "" && ctx.Err() == nil {
		if ok, err := h.confirmInTask(ctx, at); ok {
			return err
		}
	}
	return h.cancelledMark(ctx, at)
}

// cancelledResult is the task result of a confirmed cancellation
// (taskResult): what asynqmon shows of a completed task, and what a rerun
// reads back as the confirmation. It lives exactly as long as asynq keeps
// the task.
func cancelledResult(at *attempt) []byte { return taskResult(at.calls, at.retried+1) }

// resultCancelled is the bare-word result an earlier version wrote; a rerun
// still accepts it.
const resultCancelled = string(wdt.Cancelled)

// resultConfirms reports whether task id's result records a confirmed
// cancellation (see confirm). A task asynq no longer holds confirms nothing.
func (h *Handler) resultConfirms(id string) (bool, error) {
	if h.insp == nil || id == "" {
		return false, nil
	}
	info, err := h.insp.GetTaskInfo(h.queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read result of task %s: %w", id, err)
	}
	if len(info.Result) == 0 {
		return false, nil
	}
	if string(info.Result) == resultCancelled {
		return true, nil
	}
	var r struct {
		Category wdt.Category `json:"category"`
	}
	return json.Unmarshal(info.Result, &r) == nil && r.Category == wdt.Cancelled, nil
}

// updateBreaker tells the shared breaker what the call showed of the
// endpoint and reports whether the breaker is open afterwards. Breaker
// trouble is logged, never fatal to the attempt: the breaker only protects
// retry budgets.
func (h *Handler) updateBreaker(ctx context.Context, cat wdt.Category, callErr error) bool {
	switch cat {
	case wdt.Network, wdt.UnknownOutcome:
		if ctx.Err() != nil {
			// Our own shutdown cut the call: says nothing of the endpoint.
			return false
		}
		open, err := h.breaker.Failure(ctx, errString(callErr))
		if err != nil {
			h.log.Warn("cannot update the circuit breaker", zap.Error(err))
		}
		return open
	case wdt.Config:
		fault, fix := wdt.Fix(callErr)
		h.configFault(fault, fix)
		if err := h.breaker.OpenForConfig(ctx, fault, fix); err != nil {
			h.log.Warn("cannot open the circuit breaker", zap.Error(err))
		}
		return true
	}
	// A definite answer: the endpoint works.
	closed, err := h.breaker.Answered(ctx)
	if err != nil {
		h.log.Warn("cannot update the circuit breaker", zap.Error(err))
	}
	if closed {
		h.breakerClosed()
	}
	return false
}

// breakerClosed clears the fault state this process showed and releases the
// held tasks at once instead of after their hold delay.
func (h *Handler) breakerClosed() {
	h.faultsMu.Lock()
	h.loggedFaults = nil
	h.faultsMu.Unlock()
	h.log.Info("circuit breaker closed: WDT answered; held tasks run now")
	if h.runHeld != nil {
		go h.runHeld()
	}
}

// carryOut does what the decision says: the only place that turns a decision
// into logs, metrics, Redis writes and the error asynq acts on.
func (h *Handler) carryOut(ctx context.Context, at *attempt, d Decision, err error) error {
	h.checkRecorded(ctx, at, d.Action) // unrecorded.go
	var extra []zap.Field
	if d.Note != "" {
		extra = append(extra, zap.String("note", d.Note))
	}
	switch d.Action {
	case ActDone:
		if d.Verified {
			h.confirmVerified(ctx, at, d)
		}
		h.finish(at, d.Action, d.Category, err, extra...)
		return nil
	case ActRetry:
		h.finish(at, d.Action, d.Category, err, extra...)
		return fail(d.Category, err)
	case ActSnooze:
		if d.StartCooldown {
			h.startCooldown(ctx, err)
		}
		h.finish(at, d.Action, d.Category, err, extra...)
		return snooze(d.Category, d.Delay, err)
	case ActHold:
		h.finish(at, d.Action, d.Category, err, extra...)
		return snooze(d.Category, d.Delay, heldError(err))
	}
	return h.buryDecided(ctx, at, d, err)
}

// startCooldown pauses every worker of the seller after WDT's rate-limit
// answer.
func (h *Handler) startCooldown(ctx context.Context, err error) {
	started, cerr := h.limiter.StartCooldown(ctx, h.opts.Cooldown)
	if started {
		h.metrics.Cooldowns.Inc()
		h.log.Warn("WDT rate limit: every worker cools down", zap.Duration("cooldown", h.opts.Cooldown), zap.String("message", wdtMessage(err)))
	}
	if cerr != nil {
		h.log.Error("could not start the shared cooldown", zap.Error(cerr))
	}
}

// buryDecided dead-letters a task as d says: the record with the
// exhausted summary, the ambiguous flag and its reason, and what the order
// lookup saw.
func (h *Handler) buryDecided(ctx context.Context, at *attempt, d Decision, err error) error {
	rec := h.record(at, d.Category, err)
	if d.Category == wdt.Exhausted {
		rec.Error = fmt.Sprintf("exhausted after %d failed attempts; last: %s", at.retried+1, errString(err))
	}
	if d.Ambiguous {
		rec.Ambiguous, rec.AmbiguousReason = true, AmbiguousExplanation
		if d.Note == lossNote || d.Note == lookupFailedNote {
			rec.AmbiguousReason = d.Note
		}
	}
	if rec.LookedUp = at.lookedUp; d.Verified {
		rec.Error += " (" + d.Note + ")"
	}
	return h.bury(ctx, at, rec, err)
}

func (h *Handler) invalid(ctx context.Context, at attempt, t *asynq.Task, err error) error {
	at.no = at.id
	d := Decide(Situation{Category: wdt.Invalid, Retried: at.retried, Limit: at.limit}, h.delays())
	rec := h.record(&at, d.Category, err)
	payload := string(t.Payload())
	if len(payload) > 4096 {
		payload = payload[:4096]
	}
	rec.Payload = strings.ToValidUTF8(payload, "?")
	if rec.PreStockinNo == "" {
		rec.PreStockinNo = "(no task id)"
	}
	return h.bury(ctx, &at, rec, err)
}

func (h *Handler) record(at *attempt, cat wdt.Category, err error) Record {
	r := Record{
		PreStockinNo:   at.no,
		Seller:         h.seller,
		Category:       cat,
		Error:          errString(err),
		Attempts:       at.retried + 1,
		Source:         at.payload.Source,
		DeadLetteredAt: time.Now().UTC(),
	}
	if !at.payload.RequestedAt.IsZero() {
		t := at.payload.RequestedAt
		r.FirstEnqueuedAt = &t
	}
	var we *wdt.Error
	if errors.As(err, &we) {
		if we.Status != wdt.NoStatus {
			s := we.Status
			r.WDTStatus = &s
		}
		r.Message, r.Code = strings.TrimSpace(we.Message), we.Code
	}
	return r
}

// bury writes the dead-letter record, then lets asynq archive the task. If
// the record cannot be written the task is kept and retried soon instead:
// archiving without a record could lose it once asynq trims its archive.
func (h *Handler) bury(ctx context.Context, at *attempt, rec Record, err error) error {
	perr := h.putFinal(context.WithoutCancel(ctx), at, rec)
	if perr == nil {
		// A record a failover loses after asynq archived the task is
		// lost once asynq trims its archive: keep the task instead.
		if perr = h.durable.Sync(ctx, h.dlq.RecordWitness(rec.PreStockinNo)); perr != nil {
			perr = fmt.Errorf("dead-letter record written but not durable: %w", perr)
		}
	}
	if perr != nil {
		h.log.Error("cannot write dead-letter record; keeping the task", zap.String("pre_stockin_no", rec.PreStockinNo), zap.Error(perr))
		h.finish(at, ActSnooze, wdt.Redis, perr)
		return snooze(wdt.Redis, jitter(redisTroubleDelay), perr)
	}
	h.metrics.DeadLettered.WithLabelValues(string(rec.Category)).Inc()
	if rec.Ambiguous {
		h.metrics.Ambiguous.WithLabelValues(string(rec.Category)).Inc()
	}
	at.ambiguous = rec.Ambiguous
	h.finish(at, ActDead, rec.Category, err)
	return deadLetter(lastError(rec, err))
}

// lastError is what asynqmon shows as the archived task's last error:
// category, WDT status and message first.
func lastError(rec Record, err error) error {
	var b strings.Builder
	b.WriteString(string(rec.Category))
	if rec.WDTStatus != nil {
		fmt.Fprintf(&b, ": WDT status %d", *rec.WDTStatus)
	}
	if rec.Message != "" {
		fmt.Fprintf(&b, ": %s", rec.Message)
	} else if err != nil {
		fmt.Fprintf(&b, ": %v", err)
	}
	if rec.Ambiguous && rec.AmbiguousReason == lossNote {
		b.WriteString(" (ambiguous: Redis lost writes since this order may have been called, the order may have been cancelled by an earlier call)")
	} else if rec.Ambiguous {
		b.WriteString(" (ambiguous: an earlier response was lost, the order may have been cancelled by that attempt)")
	}
	return errors.New(b.String())
}

// finish writes the one log line of an attempt and reports it to
// Config.OnAttempt: every action of every attempt passes through here.
func (h *Handler) finish(at *attempt, action Action, cat wdt.Category, err error, extra ...zap.Field) {
	if at.unrecorded != "" {
		h.finishUnrecorded(at, action, cat, err, extra...)
		return
	}
	h.metrics.Outcomes.WithLabelValues(string(action), string(cat)).Inc()
	lvl := zap.InfoLevel
	switch {
	case action == ActRetry || action == ActDead:
		lvl = zap.WarnLevel
	case at.quiet:
		lvl = zap.DebugLevel
	}
	ce := h.log.Check(lvl, "task "+string(action))
	if ce == nil && h.onAttempt == nil {
		return
	}
	status := wdt.NoStatus
	var we *wdt.Error
	if errors.As(err, &we) {
		status = we.Status
	}
	took := time.Since(at.start)
	// The log line first, then the report: whoever waits on OnAttempt
	// (tests, an operator's hook) finds the line already written.
	if ce != nil {
		fields := append([]zap.Field{
			zap.String("pre_stockin_no", at.no), zap.String("task_id", at.id), zap.Int("attempt", at.retried+1),
			zap.String("category", string(cat)), zap.String("wdt_status", wdt.StatusText(status)),
			zap.Duration("duration", took), zap.Int("calls", at.calls),
		}, extra...)
		if action == ActDead {
			fields = append(fields, zap.Bool("ambiguous", at.ambiguous))
		}
		if err != nil {
			fields = append(fields, zap.String("error", errString(err)))
		}
		ce.Write(fields...)
	}
	if h.onAttempt != nil {
		answered := status
		if err == nil && cat == wdt.Cancelled {
			answered = 0 // the call succeeded: WDT said 0
		}
		h.onAttempt(Attempt{
			TaskID: at.id, PreStockinNo: at.no, Seller: h.seller, Number: at.retried + 1,
			Action: action, Category: cat, Ambiguous: at.ambiguous, Calls: at.calls,
			WDTStatus: answered, Err: err, Duration: took,
		})
	}
}

// configFault logs one error line per distinct fault with the likely fix;
// readiness and the metric follow the breaker the fault opened.
func (h *Handler) configFault(key, fix string) {
	h.faultsMu.Lock()
	if h.loggedFaults == nil {
		h.loggedFaults = make(map[string]bool)
	}
	seen := h.loggedFaults[key]
	h.loggedFaults[key] = true
	h.faultsMu.Unlock()
	if !seen {
		h.log.Error("WDT configuration fault: tasks wait until it is fixed", zap.String("fault", key), zap.String("fix", fix))
	}
}

func wdtMessage(err error) string {
	var we *wdt.Error
	if errors.As(err, &we) {
		return we.Message
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

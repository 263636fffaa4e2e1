package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/tasks/outcome"
)

// AmbiguousExplanation is the AmbiguousReason the worker puts on a
// dead-letter record whose rejection came after an attempt with an unknown
// outcome (docs/wdt-api.md, "Why a lost or garbled answer makes a retry look
// like a rejection").
const AmbiguousExplanation = "an earlier attempt was sent but no definite answer came back (a timeout, a reset, a gateway page, a 5xx or a garbled body); " +
	"if that attempt cancelled the order, this rejection only says it is no longer editable. " +
	"WDT's direct route cannot look the state up: check the order in WDT before re-driving it"

// Record is the durable dead-letter entry of one number. asynq's archive is
// capped and trimmed; this is not. It is stored as its JSON, which is also
// what `wdtcancel dlq ls --json` and `dlq show --json` print: the field
// names are a contract.
type Record struct {
	PreStockinNo    string           `json:"pre_stockin_no"`
	Queue           string           `json:"queue"`
	Seller          string           `json:"seller,omitempty"`
	Category        outcome.Category `json:"category"`
	WDTStatus       *int             `json:"wdt_status,omitempty"`
	Message         string           `json:"message,omitempty"`
	Code            string           `json:"code,omitempty"`
	Error           string           `json:"error"`
	Attempts        int              `json:"attempts"`
	Ambiguous       bool             `json:"ambiguous"`
	AmbiguousReason string           `json:"ambiguous_reason,omitempty"`
	Source          string           `json:"source,omitempty"`
	FirstEnqueuedAt *time.Time       `json:"first_enqueued_at,omitempty"`
	DeadLetteredAt  time.Time        `json:"dead_lettered_at"`
	// Payload is the task's payload when it could not be decoded, kept so
	// nothing the producer sent is lost.
	Payload string `json:"payload,omitempty"`
	// LookedUp is the order's state in WDT as the seller's Qimen lookup
	// found it when the worker settled the number (issue 22); nil when
	// the seller has no lookup or the lookup was not asked or failed.
	LookedUp *LookedUp `json:"looked_up,omitempty"`
}

// LookedUp is what the order lookup found, kept on the dead-letter record
// and on a completed task's result so an operator sees WDT's word, not
// wdtcancel's inference.
type LookedUp struct {
	// Found is false when WDT holds no order of the number modified in
	// the lookup's window (category not_found).
	Found bool `json:"found"`
	// Status is WDT's order state (10 cancelled, 20 editing, 30 awaiting
	// review, 37, 40, 80 completed, -2), State its name ("80 completed").
	Status *int   `json:"status,omitempty"`
	State  string `json:"state,omitempty"`
	// Modified is the order's modified_date as WDT wrote it (China time).
	Modified string `json:"modified,omitempty"`
	// At is when the lookup was made (UTC, on WDT's clock as the worker
	// knows it).
	At time.Time `json:"at"`
}

// String is one line for `status` and `dlq show`.
func (l *LookedUp) String() string {
	if l == nil {
		return ""
	}
	at := l.At.UTC().Format(time.RFC3339)
	if !l.Found {
		return "not found in WDT (looked up " + at + ")"
	}
	s := "state " + l.State
	if l.Modified != "" {
		s += ", modified " + l.Modified + " (China time)"
	}
	return s + " (looked up " + at + ")"
}

// DLQ is the dead-letter store of one queue: a Redis hash keyed by number
// (DeadLetterKey), plus the asynq archive it mirrors. The worker writes it;
// producers read it to refuse re-enqueueing a dead number; `wdtcancel dlq`
// reads it and re-drives or forgets numbers.
type DLQ struct {
	rdb    redis.UniversalClient
	insp   *asynq.Inspector
	client *asynq.Client // never closed: it shares rdb
	memory *OutcomeMemory
	queue  string
	key    string
	// seller owns queue: "" when the store was opened by queue alone
	// (NewDLQ) and the queue is not one of tasks.DefaultQueue's.
	seller string
}

// NewDLQ opens the store of queue. It makes no network call. The queue's
// seller is known only for tasks.DefaultQueue and its seller queues; a
// caller with another base queue uses NewSellerDLQ.
func NewDLQ(rdb redis.UniversalClient, queue string) *DLQ {
	seller, _ := tasks.SellerOfQueue(tasks.DefaultQueue, queue)
	return &DLQ{rdb: rdb, insp: asynq.NewInspectorFromRedisClient(rdb), client: asynq.NewClientFromRedisClient(rdb), memory: NewOutcomeMemory(rdb, queue), queue: queue, key: DeadLetterKey(queue), seller: seller}
}

// NewSellerDLQ opens the store of seller's queue under base
// (tasks.QueueFor). It makes no network call.
func NewSellerDLQ(rdb redis.UniversalClient, base, seller string) (*DLQ, error) {
	if err := tasks.ValidateBaseQueue(base); err != nil {
		return nil, err
	}
	if err := tasks.ValidateSeller(seller); err != nil {
		return nil, err
	}
	d := NewDLQ(rdb, tasks.QueueFor(base, seller))
	d.seller = seller
	return d, nil
}

// Queue is the queue whose dead letters this store holds.
func (d *DLQ) Queue() string { return d.queue }

// Seller is the seller whose dead letters this store holds, "" when it was
// opened by a queue name it cannot map to a seller.
func (d *DLQ) Seller() string { return d.seller }

// SellerOf is the seller a record read from this store belongs to: the one
// it names, else the store's (a record written before sellers existed is in
// the base queue, so it is the default seller's).
func (d *DLQ) SellerOf(r Record) string {
	switch {
	case r.Seller != "":
		return r.Seller
	case d.seller != "":
		return d.seller
	}
	return tasks.DefaultSeller
}

// ErrNotDead means the number has no dead-letter record.
var ErrNotDead = errors.New("no dead-letter record")

// ErrCorrupt means a number's stored record is not a Record's JSON (written
// by hand, or by something else than wdtcancel). Raw still reads it.
var ErrCorrupt = errors.New("corrupt")

// CheckRaw reports, wrapping ErrCorrupt, whether a stored value does not
// decode as a Record.
func CheckRaw(no string, raw []byte) error {
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("dead-letter record of %s is %w: %v", no, ErrCorrupt, err)
	}
	return nil
}

// Put writes (or replaces) a record.
func (d *DLQ) Put(ctx context.Context, r Record) error {
	r.Queue = d.queue
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode dead-letter record: %w", err)
	}
	if err := d.rdb.HSet(ctx, d.key, r.PreStockinNo, b).Err(); err != nil {
		return fmt.Errorf("write dead-letter record of %s: %w", r.PreStockinNo, err)
	}
	return nil
}

// Get reads one record.
func (d *DLQ) Get(ctx context.Context, no string) (Record, error) {
	r, _, err := d.get(ctx, no)
	return r, err
}

// get reads a record and its raw stored value.
func (d *DLQ) get(ctx context.Context, no string) (Record, string, error) {
	raw, err := d.rdb.HGet(ctx, d.key, no).Result()
	if errors.Is(err, redis.Nil) {
		return Record{}, "", fmt.Errorf("%s: %w", no, ErrNotDead)
	}
	if err != nil {
		return Record{}, "", fmt.Errorf("read dead-letter record of %s: %w", no, err)
	}
	var r Record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Record{}, raw, fmt.Errorf("dead-letter record of %s is %w: %v", no, ErrCorrupt, err)
	}
	return r, raw, nil
}

// Raw is the number's record exactly as stored, for a caller that shows it
// byte for byte (enqueue.Status): it is not decoded, so a record this
// version cannot read still shows. The error wraps ErrNotDead when there is
// no record.
func (d *DLQ) Raw(ctx context.Context, no string) (json.RawMessage, error) {
	raw, err := d.rdb.HGet(ctx, d.key, no).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%s: %w", no, ErrNotDead)
	}
	if err != nil {
		return nil, fmt.Errorf("read dead-letter record of %s: %w", no, err)
	}
	return raw, nil
}

// Dead reports, for each number in nos and in the same order, whether it
// has a dead-letter record, in one round trip (HMGET).
func (d *DLQ) Dead(ctx context.Context, nos []string) ([]bool, error) {
	if len(nos) == 0 {
		return nil, nil
	}
	vals, err := d.rdb.HMGet(ctx, d.key, nos...).Result()
	if err != nil {
		return nil, fmt.Errorf("check dead letters: %w", err)
	}
	dead := make([]bool, len(vals))
	for i, v := range vals {
		dead[i] = v != nil
	}
	return dead, nil
}

// Count is the number of records.
func (d *DLQ) Count(ctx context.Context) (int64, error) {
	n, err := d.rdb.HLen(ctx, d.key).Result()
	if err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return n, nil
}

// List returns every record, oldest dead-letter first. It scans in pages so
// a large DLQ does not block Redis.
func (d *DLQ) List(ctx context.Context) ([]Record, error) {
	var out []Record
	var cursor uint64
	for {
		kv, next, err := d.rdb.HScan(ctx, d.key, cursor, "*", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("list dead letters: %w", err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			var r Record
			if err := json.Unmarshal([]byte(kv[i+1]), &r); err != nil {
				r = Record{PreStockinNo: kv[i], Error: "corrupt record: " + err.Error()}
			}
			out = append(out, r)
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	// HSCAN may return a field twice; keep one.
	seen := make(map[string]bool, len(out))
	uniq := out[:0]
	for _, r := range out {
		if !seen[r.PreStockinNo] {
			seen[r.PreStockinNo] = true
			uniq = append(uniq, r)
		}
	}
	sort.Slice(uniq, func(i, j int) bool {
		if !uniq[i].DeadLetteredAt.Equal(uniq[j].DeadLetteredAt) {
			return uniq[i].DeadLetteredAt.Before(uniq[j].DeadLetteredAt)
		}
		return uniq[i].PreStockinNo < uniq[j].PreStockinNo
	})
	return uniq, nil
}

// scanPage is how many fields one HSCAN asks for.
const scanPage = 1000

// Scan calls fn with each record's number and stored value, page by page
// (HSCAN), as the pages come: in Redis's scan order, not sorted, and
// without holding more than a page. A field HSCAN returns twice is passed
// once; fn returning ErrStop ends the scan without error. Records written
// during the scan may or may not be seen.
func (d *DLQ) Scan(ctx context.Context, fn func(no, raw string) error) error {
	seed := maphash.MakeSeed()
	seen := make(map[uint64]struct{})
	var cursor uint64
	for {
		kv, next, err := d.rdb.HScan(ctx, d.key, cursor, "*", scanPage).Result()
		if err != nil {
			return fmt.Errorf("list dead letters: %w", err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			h := maphash.String(seed, kv[i])
			if _, dup := seen[h]; dup {
				continue
			}
			seen[h] = struct{}{}
			if err := fn(kv[i], kv[i+1]); err != nil {
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// ErrStop ends Scan early.
var ErrStop = errors.New("stop scanning")

// DecodeRaw reads a stored value; a corrupt one becomes a record that says
// so, as List shows it.
func DecodeRaw(no, raw string) Record {
	var r Record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Record{PreStockinNo: no, Error: "corrupt record: " + err.Error()}
	}
	return r
}

// BulkParallelism is how many numbers ForEach works on at once: requeue
// and purge take several round trips each, which overlap.
const BulkParallelism = 32

// ForEach scans the store (Scan) and runs act on every number found, par
// at a time, reporting each outcome to done (from one goroutine at a
// time). Each number is acted on once, even if it gets a new record during
// the run. It returns the scan's error or ctx's.
func (d *DLQ) ForEach(ctx context.Context, par int, act func(ctx context.Context, no, raw string) error, done func(no string, err error)) error {
	if par <= 0 {
		par = BulkParallelism
	}
	type item struct{ no, raw string }
	var (
		work = make(chan item, scanPage)
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				err := act(ctx, it.no, it.raw)
				mu.Lock()
				done(it.no, err)
				mu.Unlock()
			}
		}()
	}
	err := d.Scan(ctx, func(no, raw string) error {
		select {
		case work <- item{no, raw}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	wg.Wait()
	return err
}

// RequeueRaw is Requeue of a record already read as raw (by Scan): it
// deletes the record only if it still holds raw.
func (d *DLQ) RequeueRaw(ctx context.Context, no, raw string, opts ...asynq.Option) error {
	var r Record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return fmt.Errorf("dead-letter record of %s is %w: %v", no, ErrCorrupt, err)
	}
	return d.requeue(ctx, no, r, raw, opts)
}

// Numbers lists the numbers with a record.
func (d *DLQ) Numbers(ctx context.Context) ([]string, error) {
	nos, err := d.rdb.HKeys(ctx, d.key).Result()
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	sort.Strings(nos)
	return nos, nil
}

// ErrLive means a number has a live (pending, active, retry) task, so a
// requeue would create a second one.
var ErrLive = errors.New("a live task exists for this number")

// Requeue re-drives one dead number: a fresh task (retry budget reset) with
// the original source and seller, in this store's queue (the seller's
// queue), whether or not asynq still holds the archived task.
// The new task is enqueued before the record is deleted, so a crash in
// between leaves a duplicate record, never a lost number; and only the
// record that was read is deleted, never a newer one the re-driven task
// may already have written.
func (d *DLQ) Requeue(ctx context.Context, no string, opts ...asynq.Option) error {
	r, raw, err := d.get(ctx, no)
	if err != nil {
		return err
	}
	return d.requeue(ctx, no, r, raw, opts)
}

func (d *DLQ) requeue(ctx context.Context, no string, r Record, raw string, opts []asynq.Option) error {
	if err := d.removeArchived(no); err != nil {
		return err
	}
	task, err := d.freshTask(no, r, opts)
	if err != nil {
		return err
	}
	if err := d.enqueue(ctx, no, task); err != nil {
		return err
	}
	// The record goes, and the requeued event is written, in one script.
	if _, err := d.dropWithEvent(ctx, no, raw, OutcomeRequeued); err != nil {
		return fmt.Errorf("requeue %s: task enqueued but record not removed: %w", no, err)
	}
	return nil
}

// freshTask is the task that re-drives record r: its number, source,
// first enqueue time and seller, in this store's queue.
func (d *DLQ) freshTask(no string, r Record, opts []asynq.Option) (*asynq.Task, error) {
	seller := d.SellerOf(r)
	if d.seller != "" && seller != d.seller {
		// Records are kept per queue, so this one was written by hand or
		// moved: enqueueing it here would give seller's task to another
		// seller's workers.
		return nil, fmt.Errorf("requeue %s: its dead-letter record names seller %q but is stored in the dead letters of seller %q (queue %s): check it with `wdtcancel dlq show %s --seller %s`", no, seller, d.seller, d.queue, no, d.seller)
	}
	requested := time.Now()
	if r.FirstEnqueuedAt != nil {
		requested = *r.FirstEnqueuedAt
	}
	task, err := tasks.NewCancelTaskFor(seller, no, r.Source, requested, append([]asynq.Option{asynq.Queue(d.queue)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("requeue %s: %w", no, err)
	}
	return task, nil
}

func (d *DLQ) enqueue(ctx context.Context, no string, task *asynq.Task) error {
	if _, err := d.client.EnqueueContext(ctx, task); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("requeue %s: %w", no, ErrLive)
		}
		return fmt.Errorf("requeue %s: %w", no, err)
	}
	// The workers poll only queues in the activity index; a failed mark
	// is found by their sweep.
	_ = MarkActive(context.WithoutCancel(ctx), d.rdb, d.queue)
	return nil
}

// evalEach runs script once for every number whose errs entry is nil, in
// one pipeline, and returns each number's command (nil where skipped). A
// Redis that lost its script cache (a restart, a failover to a replica that
// never loaded it) answers NOSCRIPT: the script is loaded and the pipeline
// run once more.
func (d *DLQ) evalEach(ctx context.Context, script *redis.Script, nos []string, errs []error, args func(no string) ([]string, []any)) []*redis.Cmd {
	run := func() ([]*redis.Cmd, bool) {
		pipe := d.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(nos))
		for i, no := range nos {
			if errs[i] == nil {
				keys, argv := args(no)
				cmds[i] = script.EvalSha(ctx, pipe, keys, argv...)
			}
		}
		pipe.Exec(ctx) // each command carries its own error
		for _, c := range cmds {
			if c != nil && c.Err() != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
				return cmds, true
			}
		}
		return cmds, false
	}
	cmds, noScript := run()
	if noScript && script.Load(ctx, d.rdb).Err() == nil {
		cmds, _ = run()
	}
	return cmds
}

// requeueBatch is how many records RequeueAll re-drives per pipeline.
const requeueBatch = 500

// RequeueAll re-drives every record the scan finds, as Requeue does one,
// reporting each number to done (from one goroutine at a time). It works a
// batch at a time: the batch's archived tasks are removed in one pipeline,
// its fresh tasks enqueued BulkParallelism at a time (asynq enqueues one
// task per call), and its records deleted in one pipeline, each only if it
// still holds what was read. For every number the order of Requeue holds
// (archived task gone, then the new task, then the record), so a crash
// leaves a duplicate record at worst, never a lost number. 100,000 records
// cost about one round trip each instead of three.
func (d *DLQ) RequeueAll(ctx context.Context, done func(no string, err error)) error {
	for _, s := range []*redis.Script{removeArchivedCmd, dropFinalScript} {
		if err := s.Load(ctx, d.rdb).Err(); err != nil {
			return fmt.Errorf("list dead letters: %w", err)
		}
	}
	type item struct{ no, raw string }
	batch := make([]item, 0, requeueBatch)
	flush := func() error {
		nos := make([]string, len(batch))
		raws := make([]string, len(batch))
		for i, it := range batch {
			nos[i], raws[i] = it.no, it.raw
		}
		batch = batch[:0]
		return d.requeueBatch(ctx, nos, raws, done)
	}
	err := d.Scan(ctx, func(no, raw string) error {
		batch = append(batch, item{no, raw})
		if len(batch) == requeueBatch {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// requeueBatch re-drives one batch of dead numbers (nos, with their raw
// records raws) in three pipelined steps, each skipping the numbers an
// earlier one failed: remove the archived tasks, enqueue fresh ones, drop
// the records that did not change meanwhile. done gets each number's
// error, nil when it was re-driven.
func (d *DLQ) requeueBatch(ctx context.Context, nos, raws []string, done func(string, error)) error {
	errs := make([]error, len(nos))
	recs := make([]Record, len(nos))
	for i := range nos {
		if err := json.Unmarshal([]byte(raws[i]), &recs[i]); err != nil {
			errs[i] = fmt.Errorf("dead-letter record of %s is %w: %v", nos[i], ErrCorrupt, err)
		}
	}
	d.removeArchivedBatch(ctx, nos, errs)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	d.enqueueBatch(ctx, nos, recs, errs)
	d.dropRequeuedBatch(ctx, nos, raws, errs)
	for i, no := range nos {
		done(no, errs[i])
	}
	return ctx.Err()
}

// removeArchivedBatch is removeArchived for a batch, in one pipeline: a
// number whose task is live gets ErrLive in errs.
func (d *DLQ) removeArchivedBatch(ctx context.Context, nos []string, errs []error) {
	removed := d.evalEach(ctx, removeArchivedCmd, nos, errs, func(no string) ([]string, []any) {
		return []string{asynqTaskKey(d.queue, no), asynqArchivedKey(d.queue), asynqCompletedKey(d.queue)}, []any{no}
	})
	for i, cmd := range removed {
		if cmd == nil {
			continue
		}
		state, err := cmd.Text()
		switch {
		case err != nil:
			errs[i] = fmt.Errorf("remove the archived task of %s: %w", nos[i], err)
		case state != "" && state != "archived" && state != "completed":
			errs[i] = fmt.Errorf("%s is %s: %w", nos[i], state, ErrLive)
		}
	}
}

// enqueueBatch enqueues a fresh task for every number without an error
// yet, BulkParallelism at once: asynq enqueues one task per call, so the
// calls overlap.
func (d *DLQ) enqueueBatch(ctx context.Context, nos []string, recs []Record, errs []error) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, BulkParallelism)
	for i := range nos {
		if errs[i] != nil {
			continue
		}
		task, err := d.freshTask(nos[i], recs[i], nil)
		if err != nil {
			errs[i] = err
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = d.enqueue(ctx, nos[i], task)
		}()
	}
	wg.Wait()
}

// dropRequeuedBatch drops the record of every number enqueued, each only
// if it is still the one read (raws): a record rewritten meanwhile stays.
func (d *DLQ) dropRequeuedBatch(ctx context.Context, nos, raws []string, errs []error) {
	raw := make(map[string]string, len(nos))
	for i, no := range nos {
		raw[no] = raws[i]
	}
	deleted := d.evalEach(ctx, dropFinalScript, nos, errs, func(no string) ([]string, []any) {
		return d.dropArgs(no, raw[no], OutcomeRequeued)
	})
	for i, cmd := range deleted {
		if cmd != nil && cmd.Err() != nil {
			errs[i] = fmt.Errorf("requeue %s: task enqueued but record not removed: %w", nos[i], cmd.Err())
		}
	}
}

// Purge forgets a dead number: its record, its archived asynq task and any
// memory of an unknown outcome.
func (d *DLQ) Purge(ctx context.Context, no string) error {
	// The record goes, and the purged event is written, in one script.
	removed, err := d.dropWithEvent(ctx, no, "", OutcomePurged)
	if err != nil {
		return fmt.Errorf("purge %s: %w", no, err)
	}
	if !removed {
		return fmt.Errorf("%s: %w", no, ErrNotDead)
	}
	if err := d.removeArchived(no); err != nil {
		return err
	}
	return d.memory.Forget(ctx, no)
}

// removeArchived deletes the number's task from asynq's archive (or its
// completed set); a task in any other state is live and must not be
// touched. One script does what Inspector.GetTaskInfo and DeleteTask did in
// four round trips: `dlq requeue --all` pays it once per number.
func (d *DLQ) removeArchived(no string) error {
	ctx := context.Background()
	keys := []string{asynqTaskKey(d.queue, no), asynqArchivedKey(d.queue), asynqCompletedKey(d.queue)}
	state, err := removeArchivedCmd.Run(ctx, d.rdb, keys, no).Text()
	switch {
	case err != nil:
		return fmt.Errorf("remove the archived task of %s: %w", no, err)
	case state == "", state == "archived", state == "completed":
		return nil
	default:
		return fmt.Errorf("%s is %s: %w", no, state, ErrLive)
	}
}

// removeArchivedCmd deletes an asynq task hash (KEYS[1]) and its entry in
// the archived (KEYS[2]) or completed (KEYS[3]) set, only when its state is
// one of those two, as asynq's own deleteTaskCmd does for them (including
// its unique lock). It returns the state it found ("" for no task) and
// deletes nothing for any other state.
var removeArchivedCmd = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then
  return ""
end
local state = redis.call("HGET", KEYS[1], "state")
local set
if state == "archived" then
  set = KEYS[2]
elseif state == "completed" then
  set = KEYS[3]
else
  return state
end
redis.call("ZREM", set, ARGV[1])
local unique_key = redis.call("HGET", KEYS[1], "unique_key")
if unique_key and unique_key ~= "" and redis.call("GET", unique_key) == ARGV[1] then
  redis.call("DEL", unique_key)
end
redis.call("DEL", KEYS[1])
return state
`)

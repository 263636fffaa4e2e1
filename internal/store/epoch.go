package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Redis that forgets in silence is the one fault no other check sees: a
// Redis without persistence restarts empty, one with snapshots only (RDB)
// restarts from its last snapshot, and either answers PING, accepts writes
// and reports noeviction afterwards. What it forgot is acknowledged
// enqueues and the outcome memory's sent marks, and a rerun without its
// sent mark files WDT's "not editable" answer as a clean rejection.
//
// The epoch marker makes that loss visible. It is a hash under the queue's
// hash tag (so on a Cluster it lives on the master of the queue's slot,
// with the tasks and marks it vouches for) holding a counter that only ever
// grows ("gen") and an id chosen when the marker is created ("id"). Every
// worker bumps the counter often and remembers the highest value it got;
// Redis runs commands in order, so a bump that returns a value at or below
// one this process already got means the counter went back: Redis lost
// writes. A marker with another id (or created by this very bump) means the
// marker itself was gone: Redis came back empty. A changed run_id with the
// counter intact is a clean restart or a failover that kept the data.
//
// A detected loss is written back as a loss record (LossKey), so every
// worker and producer, including ones started later, learns of it until an
// operator acknowledges it (AckLoss), which moves it to LossAckedKey: the
// horizon before which an order's outcome memory may still be incomplete.

// Kinds of loss.
const (
	// LossEmpty: the marker was gone; Redis came back without its data
	// (no persistence, or a replica promoted empty).
	LossEmpty = "empty"
	// LossOlderSnapshot: the marker's counter went back; Redis restarted
	// from a snapshot older than writes it had acknowledged.
	LossOlderSnapshot = "older_snapshot"
	// LossUnreadable: a loss record is there but does not decode; it is
	// taken as a loss of unknown kind until acknowledged.
	LossUnreadable = "unreadable"
)

// Epoch is one reading of a queue's marker, taken by BumpEpoch.
type Epoch struct {
	// Gen is the counter after this bump.
	Gen int64
	// ID is the marker's id; Created reports that this bump created it.
	ID      string
	Created bool
	// RunID is the server's run_id ("" where a script cannot read INFO,
	// as on the embedded miniredis).
	RunID string
	// Loss is the unacknowledged loss record, nil when none; Acked the
	// last acknowledged one, nil when none.
	Loss, Acked *Loss
}

// Loss is the record of writes Redis lost, as `wdtcancel redis-loss show`
// prints it.
type Loss struct {
	Queue string `json:"queue"`
	// Kind is LossEmpty or LossOlderSnapshot (of the last detection).
	Kind string `json:"kind"`
	// FirstDetectedAt is the first detection since the last
	// acknowledgement; DetectedAt the last one: every order requested
	// before it may have lost its outcome memory.
	FirstDetectedAt time.Time `json:"first_detected_at"`
	DetectedAt      time.Time `json:"detected_at"`
	Detections      int       `json:"detections"`
	// LastSeenEpoch is the highest counter the detecting process had got,
	// FoundEpoch what Redis held afterwards.
	LastSeenEpoch int64 `json:"last_seen_epoch"`
	FoundEpoch    int64 `json:"found_epoch"`
	// OldRunID and NewRunID are the server's run_id before and after.
	OldRunID string `json:"old_run_id,omitempty"`
	NewRunID string `json:"new_run_id,omitempty"`
	// DetectedBy names the detecting process (host and pid).
	DetectedBy string `json:"detected_by,omitempty"`
	// AckedAt is set on the acknowledged record.
	AckedAt *time.Time `json:"acked_at,omitempty"`
}

// Describe is one sentence for readiness, the log and the CLI: what was
// lost and what to do.
func (l *Loss) Describe() string {
	what := "restarted from a snapshot older than writes it had acknowledged"
	switch l.Kind {
	case LossEmpty:
		what = "came back empty"
	case LossUnreadable:
		what = "left a loss record that cannot be read (" + LossKey(l.Queue) + ")"
	}
	return fmt.Sprintf("redis lost writes of queue %s: it %s (detected %s): tasks enqueued before then may be gone and "+
		"every rejection is filed ambiguous; re-enqueue the numbers from the ERP (safe: the number is the task ID, a "+
		"number still queued is refused as a duplicate), then `wdtcancel redis-loss ack --yes`; make Redis durable (appendonly yes)",
		l.Queue, what, l.DetectedAt.UTC().Format(time.RFC3339))
}

// NewEpochID is a random marker id.
func NewEpochID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// bumpScript bumps the marker and reads the loss records and the run_id in
// one round trip to the queue's master. KEYS: marker, loss, acked; ARGV:
// the id for a marker this bump creates.
var bumpScript = redis.NewScript(`
local created = redis.call('HSETNX', KEYS[1], 'id', ARGV[1])
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
local id = redis.call('HGET', KEYS[1], 'id')
local loss = redis.call('GET', KEYS[2])
local acked = redis.call('GET', KEYS[3])
local run = ''
local ok, info = pcall(redis.call, 'INFO', 'server')
if ok and type(info) == 'string' then run = string.match(info, 'run_id:(%x+)') or '' end
return {gen, id, created, loss or '', acked or '', run}
`)

// bumpFastScript is bumpScript without the reads: only the counter
// matters. A counter that comes back as 1 is a marker this bump created,
// and only then is its id written and returned; otherwise the id is not
// read (false). KEYS: marker; ARGV: the id for a marker this bump creates.
var bumpFastScript = redis.NewScript(`
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
if gen == 1 then
  redis.call('HSET', KEYS[1], 'id', ARGV[1])
  return {gen, ARGV[1], 1}
end
return {gen, false, 0}
`)

// BumpEpochFast bumps queue's marker like BumpEpoch but reads nothing else:
// RunID is "" and Loss and Acked nil, meaning not read, and ID "" unless
// Created. A marker recreated by another process (Redis came back empty and
// another worker bumped first) therefore looks like the same marker to a
// fast bump whose counter is higher than any seen: the full bump
// (BumpEpoch) compares the id and catches it.
func BumpEpochFast(ctx context.Context, rdb redis.Scripter, queue string) (Epoch, error) {
	v, err := bumpFastScript.Run(ctx, rdb, []string{EpochKey(queue)}, NewEpochID()).Slice()
	if err != nil {
		return Epoch{}, fmt.Errorf("bump the epoch marker of %s: %w", queue, err)
	}
	if len(v) != 3 {
		return Epoch{}, fmt.Errorf("bump the epoch marker of %s: %d values in the answer, want 3", queue, len(v))
	}
	var e Epoch
	gen, _ := v[0].(int64)
	created, _ := v[2].(int64)
	e.Gen, e.Created = gen, created == 1
	e.ID, _ = v[1].(string)
	return e, nil
}

// BumpEpoch bumps queue's marker (creating it with a fresh id when it is
// missing) and reads the loss records: one script, one round trip.
func BumpEpoch(ctx context.Context, rdb redis.Scripter, queue string) (Epoch, error) {
	v, err := bumpScript.Run(ctx, rdb, []string{EpochKey(queue), LossKey(queue), LossAckedKey(queue)}, NewEpochID()).Slice()
	if err != nil {
		return Epoch{}, fmt.Errorf("bump the epoch marker of %s: %w", queue, err)
	}
	if len(v) != 6 {
		return Epoch{}, fmt.Errorf("bump the epoch marker of %s: %d values in the answer, want 6", queue, len(v))
	}
	var e Epoch
	gen, _ := v[0].(int64)
	created, _ := v[2].(int64)
	e.Gen, e.Created = gen, created == 1
	e.ID, _ = v[1].(string)
	e.RunID, _ = v[5].(string)
	// A record that does not decode must not stop the workers: it counts
	// as a loss (the cautious reading) until acknowledged; an unreadable
	// acknowledged one sets no horizon.
	if e.Loss, err = decodeLoss(v[3]); err != nil {
		e.Loss = &Loss{Queue: queue, Kind: LossUnreadable}
	}
	e.Acked, _ = decodeLoss(v[4])
	return e, nil
}

func decodeLoss(v any) (*Loss, error) {
	s, _ := v.(string)
	if s == "" {
		return nil, nil
	}
	var l Loss
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("%w: %v (delete the key, or acknowledge it with `wdtcancel redis-loss ack --yes`)", ErrCorrupt, err)
	}
	return &l, nil
}

// RecordLoss writes a detection into queue's loss record, merged with an
// unacknowledged one already there (first detection kept, count raised).
func RecordLoss(ctx context.Context, rdb redis.UniversalClient, l Loss) (Loss, error) {
	key := LossKey(l.Queue)
	prev, err := readLoss(ctx, rdb, key)
	if err != nil {
		return l, err
	}
	l.Detections = 1
	if l.FirstDetectedAt.IsZero() {
		l.FirstDetectedAt = l.DetectedAt
	}
	if prev != nil {
		l.FirstDetectedAt = prev.FirstDetectedAt
		l.Detections = prev.Detections + 1
		if l.DetectedAt.Before(prev.DetectedAt) {
			l.DetectedAt = prev.DetectedAt
		}
	}
	b, _ := json.Marshal(l)
	if err := rdb.Set(ctx, key, b, 0).Err(); err != nil {
		return l, fmt.Errorf("write the loss record of %s: %w", l.Queue, err)
	}
	return l, nil
}

// ReadLoss is queue's unacknowledged loss record, nil when there is none.
func ReadLoss(ctx context.Context, rdb redis.UniversalClient, queue string) (*Loss, error) {
	return readLoss(ctx, rdb, LossKey(queue))
}

// ReadAckedLoss is queue's last acknowledged loss record, nil when none.
func ReadAckedLoss(ctx context.Context, rdb redis.UniversalClient, queue string) (*Loss, error) {
	return readLoss(ctx, rdb, LossAckedKey(queue))
}

func readLoss(ctx context.Context, rdb redis.UniversalClient, key string) (*Loss, error) {
	s, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	l, err := decodeLoss(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return l, nil
}

// ErrNoLoss: there is no unacknowledged loss record to acknowledge.
var ErrNoLoss = errors.New("no unacknowledged redis loss recorded")

// ackScript moves the loss record to the acknowledged key, but only the
// record the operator was shown: a detection in between stays. KEYS: loss,
// acked; ARGV: the record read, the acknowledged record.
var ackScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
`)

// AckLoss acknowledges queue's loss record at now and returns it. It
// returns ErrNoLoss when there is none.
func AckLoss(ctx context.Context, rdb redis.UniversalClient, queue string, now time.Time) (Loss, error) {
	key := LossKey(queue)
	for range 5 {
		raw, err := rdb.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return Loss{}, fmt.Errorf("queue %s: %w", queue, ErrNoLoss)
		}
		if err != nil {
			return Loss{}, fmt.Errorf("read %s: %w", key, err)
		}
		l, err := decodeLoss(raw)
		if err != nil {
			// A record that does not decode is acknowledged as it is.
			l = &Loss{Queue: queue}
		}
		acked := *l
		t := now.UTC()
		acked.AckedAt = &t
		b, _ := json.Marshal(acked)
		ok, err := ackScript.Run(ctx, rdb, []string{key, LossAckedKey(queue)}, raw, b).Int()
		if err != nil {
			return Loss{}, fmt.Errorf("acknowledge the loss record of %s: %w", queue, err)
		}
		if ok == 1 {
			return acked, nil
		}
		// A worker recorded another detection meanwhile: read it again.
	}
	return Loss{}, fmt.Errorf("acknowledge the loss record of %s: it kept changing (workers keep detecting a loss: is Redis restarting?); try again", queue)
}

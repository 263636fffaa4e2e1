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

// Outcome events (issue 23): one JSON event per number that reaches a final
// state, kept in a Redis Stream per seller queue (EventsKey), the outbox
// every consumer reads: the worker's webhook delivery, or any program with
// XREADGROUP. The event is written by the same Lua script that records the
// outcome (the dead-letter record; the success result in asynq's task
// hash; the operator's requeue or purge), so an event exists if and only if
// the outcome was recorded: a worker killed before the script ran left
// neither, one killed after it left both (Redis runs a script whole).
//
// A rerun of a task whose outcome was already recorded (a worker killed
// after the script, before asynq archived or completed the task) must not
// add a second event with a new ID. The marker is a field of asynq's own
// task hash (EventMarkField), set by the same script with HSETNX: it lives
// exactly as long as that task instance, so a rerun finds it, while a
// re-driven or re-enqueued number (a fresh task hash) gets its own event.
// Without a task hash (a failover lost it, or a handler driven alone by a
// test) there can be no rerun, and the event is written unconditionally.

// Event is one final outcome of one number, the JSON body of every stream
// entry and of every webhook POST. The field names are a contract
// (docs/architecture.md, "Outcome events"; enqueue/openapi.yaml's webhook).
type Event struct {
	// EventID is unique per event and stays the same on every delivery of
	// it: a receiver deduplicates by it.
	EventID      string `json:"event_id"`
	Type         string `json:"type"`
	PreStockinNo string `json:"pre_stockin_no"`
	Seller       string `json:"seller"`
	Queue        string `json:"queue"`
	// Outcome is what became of the number: cancelled, rejected,
	// ambiguous (a dead letter whose rejection or exhaustion may hide an
	// earlier cancel: check the order in WDT), invalid, exhausted,
	// requeued or purged (by an operator). Receivers must accept any other
	// string too (already_cancelled, not_found come with the lookup).
	Outcome string `json:"outcome"`
	// Category is the outcome table's category recorded for the number
	// (rejected or exhausted under an ambiguous outcome; the dead letter's
	// category under requeued and purged).
	Category  string     `json:"category"`
	Ambiguous bool       `json:"ambiguous"`
	WDTStatus *int       `json:"wdt_status,omitempty"`
	Message   string     `json:"message,omitempty"`
	Error     string     `json:"error,omitempty"`
	Attempts  int        `json:"attempts"`
	Source    string     `json:"source,omitempty"`
	FirstAt   *time.Time `json:"first_enqueued_at,omitempty"`
	FinalAt   time.Time  `json:"final_at"`
}

// EventType is Event.Type of every event this version writes.
const EventType = "cancellation.outcome"

// Outcomes of events that are not categories of the outcome table.
const (
	OutcomeAmbiguous = "ambiguous"
	OutcomeRequeued  = "requeued"
	OutcomePurged    = "purged"
)

// EventMarkField is the field of asynq's task hash that holds the ID of the
// event the task instance already produced (see the package comment above).
const EventMarkField = "wdtcancel_event"

// eventsAgeTrimEvery: the age trim runs on about one event in this many
// (emitLua).
const eventsAgeTrimEvery = "8"

// Defaults of the stream's caps; the workers publish theirs (PublishEventCaps).
const (
	DefaultEventsMaxLen = 1_000_000
	DefaultEventsMaxAge = 30 * 24 * time.Hour
)

// NewEventID returns a fresh event ID: "evt_" and 24 hex digits of
// crypto/rand.
func NewEventID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never on a supported OS
	}
	return "evt_" + hex.EncodeToString(b[:])
}

// EventFromRecord is the event of a dead-letter record: outcome is the
// record's category, or ambiguous when the record is flagged so.
func EventFromRecord(r Record, seller string) Event {
	ev := Event{
		EventID: NewEventID(), Type: EventType, PreStockinNo: r.PreStockinNo, Seller: seller, Queue: r.Queue,
		Outcome: string(r.Category), Category: string(r.Category), Ambiguous: r.Ambiguous,
		WDTStatus: r.WDTStatus, Message: r.Message, Error: r.Error, Attempts: r.Attempts,
		Source: r.Source, FirstAt: r.FirstEnqueuedAt, FinalAt: r.DeadLetteredAt,
	}
	if r.Ambiguous {
		ev.Outcome = OutcomeAmbiguous
	}
	return ev
}

// PublishEventCaps records the stream caps the workers of queue apply, so
// that every writer (the worker, and `wdtcancel dlq` writing requeued and
// purged events) trims the stream the same way. maxLen 0 and maxAge 0 keep
// the defaults. A worker's per-call result writes use its copy of them,
// read at most every eventCapsCacheFor (eventcaps.go): a change takes
// that long to reach every writer.
func PublishEventCaps(ctx context.Context, rdb redis.UniversalClient, queue string, maxLen int64, maxAge time.Duration) error {
	if maxLen <= 0 {
		maxLen = DefaultEventsMaxLen
	}
	if maxAge <= 0 {
		maxAge = DefaultEventsMaxAge
	}
	if err := rdb.HSet(ctx, SettingsKey(queue), "events_max_len", maxLen, "events_max_age_ms", maxAge.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("publish the event stream's caps of %s: %w", queue, err)
	}
	return nil
}

// emitLua appends an event to the stream KEYS[emit_stream], capped by the
// published caps (settings hash KEYS[emit_settings]) or the defaults: MAXLEN
// ~ and, in the same script, XTRIM MINID ~ for the age, both on Redis's
// clock (the new entry's ID is Redis's time in ms). A script that emits
// several events (a group commit of results) reads the caps and trims once.
// The age trim runs on
// about one event in eventsAgeTrimEvery (the entry IDs whose millisecond is
// a multiple of it): a trim that finds nothing is most of what an event
// cost (issue 24), and trimming by age is approximate (~) anyway; at a few
// events a day a trim may come days late, which MAXLEN bounds. The stream
// entry carries the event's ID, number and outcome as fields next to its
// JSON, so redis-cli shows them without decoding.
const emitLua = `
local emit_caps = {}
local emit_trimmed = false
-- emit_given takes the caps of settings from the caller (ARGV) instead of
-- the hash, unless they are empty.
local function emit_given(settings, maxlen, age)
  if maxlen ~= '' then
    emit_caps[settings] = {maxlen, age}
  end
end
local function emit(stream, settings, eid, no, outcome, body)
  local caps = emit_caps[settings]
  if not caps then
    caps = redis.call('HMGET', settings, 'events_max_len', 'events_max_age_ms')
    emit_caps[settings] = caps
  end
  local maxlen = tonumber(caps[1] or '` + "1000000" + `')
  local age = tonumber(caps[2] or '` + "2592000000" + `')
  local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'event_id', eid, 'pre_stockin_no', no, 'outcome', outcome, 'event', body)
  local ms = tonumber(string.match(id, '^(%d+)'))
  if age > 0 and ms and ms % ` + eventsAgeTrimEvery + ` == 0 and not emit_trimmed then
    emit_trimmed = true
    local min = ms - age
    if min > 0 then
      redis.call('XTRIM', stream, 'MINID', '~', min)
    end
  end
  return id
end
-- mark is 1 when this task instance has produced no event yet, and marks
-- it as having produced eid; 2 when it produced eid itself already (an
-- earlier write of the same event that landed unanswered: the caller
-- counts it, not writes it again); 0 when it produced another event. No
-- task hash: no rerun is possible.
local function mark(task, eid)
  if redis.call('EXISTS', task) == 0 then
    return 1
  end
  if redis.call('HSETNX', task, '` + EventMarkField + `', eid) == 1 then
    return 1
  end
  if redis.call('HGET', task, '` + EventMarkField + `') == eid then
    return 2
  end
  return 0
end
`

// putFinalScript writes a dead-letter record (KEYS[1] field ARGV[1] =
// ARGV[2]) and, once per task instance (KEYS[4]), its event (KEYS[2],
// settings KEYS[3]). Returns 1 when the event was written.
var putFinalScript = redis.NewScript(emitLua + `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local m = mark(KEYS[4], ARGV[3])
if m ~= 1 then
  return m == 2 and 1 or 0
end
emit(KEYS[2], KEYS[3], ARGV[3], ARGV[1], ARGV[4], ARGV[5])
return 1
`)

// confirmFinalScript is writeResultIfTask with the cancelled event and the
// end of the call's marks, for one task or a group commit of several (of
// one queue, so one hash slot): per task, the result goes into the task
// hash only while asynq holds the task (its state field is there), with
// the event marker (once per task instance: a rerun rewrites the result,
// adds no event), the call's sent and unknown marks are dropped, and the
// event appended. One HMGET reads both what EXISTS and the marker check
// read before, one HSET writes the result and the marker, and the marks go
// in the same script instead of a DEL after it: 6 commands where there
// were 11 (issue 24), fewer per task in a batch (one EVALSHA, one read of
// the caps). Dropping the marks here loses nothing on a failover: Redis
// replicates the script whole, so a replica without the result still has
// the sent mark, and a rerun errs on ambiguous.
//
// The caps come as arguments from the process's copy (eventcaps.go), so
// the script reads no settings hash: 5 commands per task alone.
//
// KEYS: events, settings, then per task: task hash, sent mark, unknown
// mark. ARGV: the caps (max length, max age in ms; both empty: read the
// settings hash), then per task: result, event ID, number, event. Returns
// per task
// {task held, event written}; "written" includes an earlier write of the
// same event ID (a retry after an unanswered write that landed), so the
// caller's count of events matches the stream.
var confirmFinalScript = redis.NewScript(emitLua + `
emit_given(KEYS[2], ARGV[1], ARGV[2])
local out = {}
local n = (#KEYS - 2) / 3
for i = 1, n do
  local task, sent, unknown = KEYS[3*i], KEYS[3*i+1], KEYS[3*i+2]
  local result, eid, no, body = ARGV[4*i-1], ARGV[4*i], ARGV[4*i+1], ARGV[4*i+2]
  local t = redis.call('HMGET', task, 'state', '` + EventMarkField + `')
  if not t[1] then
    out[2*i-1], out[2*i] = 0, 0
  else
    redis.call('DEL', sent, unknown)
    if t[2] then
      -- Written before: by this very event (an unanswered write that
      -- landed; counted, not written again) or by another attempt.
      redis.call('HSET', task, 'result', result)
      out[2*i-1], out[2*i] = 1, (t[2] == eid) and 1 or 0
    else
      redis.call('HSET', task, 'result', result, '` + EventMarkField + `', eid)
      emit(KEYS[1], KEYS[2], eid, no, 'cancelled', body)
      out[2*i-1], out[2*i] = 1, 1
    end
  end
end
return out
`)

// cancelledFinalScript is OutcomeMemory.Cancelled with the cancelled event:
// the confirmed mark (KEYS[1], ARGV[1], TTL ARGV[2] ms), the sent and unknown
// marks dropped (KEYS[2], KEYS[3]), and the event once per task instance
// (KEYS[6]). Returns 1 when the event was written.
var cancelledFinalScript = redis.NewScript(emitLua + `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3])
local m = mark(KEYS[6], ARGV[3])
if m ~= 1 then
  return m == 2 and 1 or 0
end
emit(KEYS[4], KEYS[5], ARGV[3], ARGV[4], 'cancelled', ARGV[5])
return 1
`)

// dropFinalScript removes a dead-letter record (KEYS[1] field ARGV[1]) only
// if it still holds ARGV[2] (or unconditionally when ARGV[2] is empty) and,
// when it removed it, writes the operator's event. Returns 1 when removed.
var dropFinalScript = redis.NewScript(emitLua + `
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
emit(KEYS[2], KEYS[3], ARGV[3], ARGV[1], ARGV[4], ARGV[5])
return 1
`)

// PutFinal writes a dead-letter record and its event in one script: the
// event exists if and only if the record was written. taskID is the asynq
// task whose outcome this is ("" when unknown); a rerun of a task that
// already produced its event writes the record again but no second event.
// It reports whether the event was written.
func (d *DLQ) PutFinal(ctx context.Context, r Record, taskID string, ev Event) (bool, error) {
	r.Queue, ev.Queue = d.queue, d.queue
	rec, err := json.Marshal(r)
	if err != nil {
		return false, fmt.Errorf("encode dead-letter record: %w", err)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("encode outcome event: %w", err)
	}
	keys := []string{d.key, EventsKey(d.queue), SettingsKey(d.queue), taskKeyOrNone(d.queue, taskID)}
	n, err := putFinalScript.Run(ctx, d.rdb, keys, r.PreStockinNo, rec, ev.EventID, ev.Outcome, body).Int()
	if err != nil {
		return false, fmt.Errorf("write dead-letter record and event of %s: %w", r.PreStockinNo, err)
	}
	return n == 1, nil
}

// taskKeyOrNone is asynq's task hash of id, or a key under the queue's hash
// tag that never exists when there is no task ID (so the script sees "no
// task").
func taskKeyOrNone(queue, id string) string {
	if id == "" {
		return queuePrefix(queue) + "no-task"
	}
	return asynqTaskKey(queue, id)
}

// ConfirmInTaskFinal is ConfirmInTask with the cancelled event ev written
// by the same script, once per task instance, and the sent and unknown
// marks of ev.PreStockinNo dropped. It reports whether asynq still held
// the task (else nothing was written: the caller uses CancelledFinal) and
// whether the event was written.
func (m *OutcomeMemory) ConfirmInTaskFinal(ctx context.Context, id string, result []byte, ev Event) (held, emitted bool, err error) {
	res, err := m.ConfirmInTasksFinal(ctx, []Confirmation{{TaskID: id, Result: result, Event: ev}})
	if err != nil {
		return false, false, err
	}
	return res[0].Held, res[0].Emitted, nil
}

// Confirmation is one success to record (ConfirmInTasksFinal): the task,
// its result and its cancelled event (whose PreStockinNo names the marks
// to drop).
type Confirmation struct {
	TaskID string
	Result []byte
	Event  Event
}

// Confirmed is what ConfirmInTasksFinal did for one Confirmation: whether
// asynq still held the task (else nothing was written for it), and whether
// its event was written.
type Confirmed struct {
	Held, Emitted bool
}

// ConfirmInTasksFinal is ConfirmInTaskFinal for several tasks of the queue
// in one script (the group commit of results, worker/groupcommit.go).
func (m *OutcomeMemory) ConfirmInTasksFinal(ctx context.Context, cs []Confirmation) ([]Confirmed, error) {
	keys := make([]string, 0, 2+3*len(cs))
	keys = append(keys, EventsKey(m.queue), SettingsKey(m.queue))
	maxLen, ageMs, _ := m.capsArgs(ctx)
	argv := make([]any, 0, 2+4*len(cs))
	argv = append(argv, maxLen, ageMs)
	for _, c := range cs {
		c.Event.Queue = m.queue
		body, err := json.Marshal(c.Event)
		if err != nil {
			return nil, fmt.Errorf("encode outcome event of %s: %w", c.TaskID, err)
		}
		no := c.Event.PreStockinNo
		keys = append(keys, asynqTaskKey(m.queue, c.TaskID), m.sentKey(no), m.unknownKey(no))
		argv = append(argv, c.Result, c.Event.EventID, no, body)
	}
	res, err := confirmFinalScript.Run(ctx, m.rdb, keys, argv...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("write the result and event of %d task(s): %w", len(cs), err)
	}
	if len(res) != 2*len(cs) {
		return nil, fmt.Errorf("write the result and event of %d task(s): unexpected script answer %v", len(cs), res)
	}
	out := make([]Confirmed, len(cs))
	for i := range cs {
		out[i] = Confirmed{Held: res[2*i] == 1, Emitted: res[2*i+1] == 1}
	}
	return out, nil
}

// CancelledFinal is Cancelled with the cancelled event ev written by the
// same script, once per task instance (taskID, "" when unknown). It reports
// whether the event was written.
func (m *OutcomeMemory) CancelledFinal(ctx context.Context, no, taskID string, ev Event) (bool, error) {
	ctx = context.WithoutCancel(ctx)
	ev.Queue = m.queue
	body, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("encode outcome event: %w", err)
	}
	keys := []string{m.confirmedKey(no), m.sentKey(no), m.unknownKey(no), EventsKey(m.queue), SettingsKey(m.queue), taskKeyOrNone(m.queue, taskID)}
	n, err := cancelledFinalScript.Run(ctx, m.rdb, keys, time.Now().UTC().Format(time.RFC3339Nano), outcomeMemoryTTL.Milliseconds(), ev.EventID, no, body).Int()
	if err != nil {
		return false, fmt.Errorf("record confirmed cancellation of %s: %w", no, err)
	}
	return n == 1, nil
}

// dropWithEvent removes the record of no (only if it still holds raw, when
// raw is not empty) and writes the operator's event (requeued or purged)
// in the same script. It reports whether the record was removed.
func (d *DLQ) dropWithEvent(ctx context.Context, no, raw, outcome string) (bool, error) {
	if raw == "" {
		if _, got, err := d.get(ctx, no); err == nil || errors.Is(err, ErrCorrupt) {
			raw = got
		}
	}
	keys, argv := d.dropArgs(no, raw, outcome)
	if raw == "" {
		argv[1] = "" // no record read: remove whatever is there
	}
	n, err := dropFinalScript.Run(ctx, d.rdb, keys, argv...).Int()
	if err != nil {
		return false, fmt.Errorf("remove the dead-letter record of %s: %w", no, err)
	}
	return n == 1, nil
}

// dropArgs are dropFinalScript's keys and arguments for the record raw of
// no: the event says what the record said, with the operator's outcome.
func (d *DLQ) dropArgs(no, raw, outcome string) ([]string, []any) {
	var r Record
	_ = json.Unmarshal([]byte(raw), &r) // a corrupt record still gets its event
	r.PreStockinNo, r.Queue = no, d.queue
	ev := EventFromRecord(r, d.SellerOf(r))
	ev.Outcome, ev.FinalAt = outcome, time.Now().UTC()
	body, _ := json.Marshal(ev) // an Event always encodes
	return []string{d.key, EventsKey(d.queue), SettingsKey(d.queue)}, []any{no, raw, ev.EventID, outcome, body}
}

// StreamEvent is one entry of the events stream: its stream ID (the
// position a consumer acknowledges) and the event.
type StreamEvent struct {
	StreamID string
	Event    Event
	// Raw is the event's JSON exactly as stored: the body a webhook POSTs.
	Raw []byte
}

// DecodeStreamEvent reads one stream entry as written by the scripts above.
func DecodeStreamEvent(m redis.XMessage) (StreamEvent, error) {
	raw, _ := m.Values["event"].(string)
	se := StreamEvent{StreamID: m.ID, Raw: []byte(raw)}
	if err := json.Unmarshal(se.Raw, &se.Event); err != nil {
		return se, fmt.Errorf("event %s of the stream is not an outcome event's JSON: %w", m.ID, err)
	}
	return se, nil
}

// Events reads a queue's events stream: newest or oldest first, and the
// state of a consumer group (for `wdtcancel events` and the delivery's
// gauges).
type Events struct {
	rdb   redis.UniversalClient
	queue string
	key   string
}

// NewEvents opens the events stream of queue. It makes no network call.
func NewEvents(rdb redis.UniversalClient, queue string) *Events {
	return &Events{rdb: rdb, queue: queue, key: EventsKey(queue)}
}

// Key is the stream's key, for redis-cli.
func (e *Events) Key() string { return e.key }

// Range returns up to count events from start (a stream ID, "-" for the
// oldest) onward, oldest first.
func (e *Events) Range(ctx context.Context, start string, count int64) ([]StreamEvent, error) {
	msgs, err := e.rdb.XRangeN(ctx, e.key, start, "+", count).Result()
	if err != nil {
		return nil, fmt.Errorf("read events of %s: %w", e.queue, err)
	}
	return decodeAll(msgs), nil
}

// Last returns the newest count events, oldest first.
func (e *Events) Last(ctx context.Context, count int64) ([]StreamEvent, error) {
	msgs, err := e.rdb.XRevRangeN(ctx, e.key, "+", "-", count).Result()
	if err != nil {
		return nil, fmt.Errorf("read events of %s: %w", e.queue, err)
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return decodeAll(msgs), nil
}

// Find returns the stored events with event ID id, or of number no (either
// may be empty), scanning the stream oldest first.
func (e *Events) Find(ctx context.Context, id, no string) ([]StreamEvent, error) {
	var out []StreamEvent
	start := "-"
	for {
		page, err := e.rdb.XRangeN(ctx, e.key, start, "+", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("read events of %s: %w", e.queue, err)
		}
		for _, se := range decodeAll(page) {
			if (id != "" && se.Event.EventID == id) || (no != "" && se.Event.PreStockinNo == no) {
				out = append(out, se)
			}
		}
		if len(page) < 1000 {
			return out, nil
		}
		start = "(" + page[len(page)-1].ID
	}
}

// Append writes ev to the stream again as a new entry with the same event
// ID: `wdtcancel events redeliver` (a receiver that lost what it
// acknowledged). Receivers deduplicate by event ID, so it is safe.
func (e *Events) Append(ctx context.Context, se StreamEvent) (string, error) {
	id, err := appendScript.Run(ctx, e.rdb, []string{e.key, SettingsKey(e.queue)}, se.Event.EventID, se.Event.PreStockinNo, se.Event.Outcome, se.Raw).Text()
	if err != nil {
		return "", fmt.Errorf("append event %s again: %w", se.Event.EventID, err)
	}
	return id, nil
}

var appendScript = redis.NewScript(emitLua + `
return emit(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
`)

// Len is the number of events the stream holds.
func (e *Events) Len(ctx context.Context) (int64, error) {
	n, err := e.rdb.XLen(ctx, e.key).Result()
	if err != nil {
		return 0, fmt.Errorf("count events of %s: %w", e.queue, err)
	}
	return n, nil
}

func decodeAll(msgs []redis.XMessage) []StreamEvent {
	out := make([]StreamEvent, 0, len(msgs))
	for _, m := range msgs {
		se, err := DecodeStreamEvent(m)
		if err != nil {
			se.Event.EventID, se.Event.Error = "", err.Error()
		}
		out = append(out, se)
	}
	return out
}

// EnsureGroup creates the consumer group group on the stream, starting at
// its oldest entry, creating the stream if need be. An existing group is
// left as it is.
func (e *Events) EnsureGroup(ctx context.Context, group string) error {
	err := e.rdb.XGroupCreateMkStream(ctx, e.key, group, "0").Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("create consumer group %s on %s: %w", group, e.key, err)
	}
	return nil
}

// Backlog is what a consumer group has not acknowledged yet: entries
// pending with a consumer, entries not read yet, and the age of the oldest
// of them (0 when none).
type Backlog struct {
	Pending, Unread int64
	Oldest          time.Duration
}

// GroupBacklog measures group's backlog. The oldest unacknowledged entry is
// the first pending one, else the first one after the group's last
// delivered ID; its age is read from its stream ID (milliseconds on Redis's
// clock when it was written).
func (e *Events) GroupBacklog(ctx context.Context, group string, now time.Time) (Backlog, error) {
	var b Backlog
	groups, err := e.rdb.XInfoGroups(ctx, e.key).Result()
	// A stream nothing was appended to yet has no groups: Redis answers
	// "ERR no such key", whose "ERR " HasErrorPrefix strips before it
	// compares.
	if err != nil && !errors.Is(err, redis.Nil) && !redis.HasErrorPrefix(err, "no such key") {
		return b, fmt.Errorf("read consumer groups of %s: %w", e.key, err)
	}
	last := ""
	for _, g := range groups {
		if g.Name == group {
			b.Pending, last = g.Pending, g.LastDeliveredID
		}
	}
	oldest := ""
	if b.Pending > 0 {
		p, err := e.rdb.XPending(ctx, e.key, group).Result()
		if err != nil {
			return b, fmt.Errorf("read pending events of %s: %w", e.key, err)
		}
		oldest = p.Lower
	}
	if last == "" {
		last = "0"
	}
	unread, err := e.rdb.XRangeN(ctx, e.key, "("+last, "+", 1).Result()
	if err != nil {
		return b, fmt.Errorf("read unread events of %s: %w", e.key, err)
	}
	if len(unread) > 0 {
		b.Unread = 1 // at least; the exact count costs a scan
		if oldest == "" {
			oldest = unread[0].ID
		}
	}
	if ms, ok := streamIDMillis(oldest); ok {
		b.Oldest = max(0, now.Sub(time.UnixMilli(ms)))
	}
	return b, nil
}

// streamIDMillis is the millisecond part of a stream ID.
func streamIDMillis(id string) (int64, bool) {
	var ms, seq int64
	if _, err := fmt.Sscanf(id, "%d-%d", &ms, &seq); err != nil {
		return 0, false
	}
	return ms, true
}

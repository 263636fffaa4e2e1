package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The activity index lets a worker that serves many sellers poll only the
// queues that have something to do (docs/sellers.md, "Idle sellers cost
// nothing"). It is one sorted set, ActiveQueuesKey: member = a seller's
// queue, score = when the queue next needs a worker, in Unix milliseconds
// (0: now, it has pending or active tasks; later: its earliest scheduled or
// retry task is due then). A queue not in it has no task at all.
//
// The rules that keep a task from being stranded:
//
//   - Every producer adds the queue with score 0 AFTER its enqueue
//     succeeded (MarkActive).
//   - A worker removes a queue only through RetireQueue: ZREM first, then
//     one atomic read of the queue, then adds it back (ZADD LT, which keeps
//     a producer's 0) if it holds a task. A producer's enqueue is either
//     before that read (the read sees it) or after it, and then its ZADD is
//     after the ZREM, so the queue is in the index.
//   - A slow sweep (SweepQueues) adds back every queue holding a task,
//     whatever put it there (a producer that died between the enqueue and
//     the ZADD, an older producer, asynqmon's "run", plain asynq).

// ActiveQueuesKey is the activity index. It is one key for every base
// queue: members are full queue names, so workers of different --queue
// share it without seeing each other's sellers.
const ActiveQueuesKey = "wdtcancel:active-queues"

// activeSweepKeyPrefix is the sweep's lock, per set of queues
// (ActiveSweepKey).
const activeSweepKeyPrefix = "wdtcancel:active-queues:sweep:"

// ActiveSweepKey is the lock that lets one worker at a time sweep a set of
// queues: workers with the same sellers file share it, workers with
// another one sweep their own set.
func ActiveSweepKey(queues []string) string {
	s := append([]string(nil), queues...)
	sort.Strings(s)
	h := fnv.New64a()
	for _, q := range s {
		h.Write([]byte(q))
		h.Write([]byte{0})
	}
	return activeSweepKeyPrefix + strconv.FormatUint(h.Sum64(), 16)
}

// asynq's keys of a queue that say whether it holds a task (internal/base
// of asynq v0.26; TestActivityKeysAgainstAsynq pins them). Redis deletes an
// empty list or sorted set, so a key that exists holds a task.
func asynqActiveKey(queue string) string    { return "asynq:{" + queue + "}:active" }
func asynqScheduledKey(queue string) string { return "asynq:{" + queue + "}:scheduled" }
func asynqRetryKey(queue string) string     { return "asynq:{" + queue + "}:retry" }

// AsynqDequeueKeys are the keys asynq's dequeue script of queue takes, in
// its order (pending, paused, active, lease), and AsynqTaskKeyPrefix its
// task key prefix argument: a worker that redirects a dequeue of an idle
// queue to one with work rewrites them (worker/activity.go); it checks them
// against the command first, so a changed layout only stops the redirect.
func AsynqDequeueKeys(queue string) [4]string {
	return [4]string{AsynqPendingKey(queue), "asynq:{" + queue + "}:paused", asynqActiveKey(queue), "asynq:{" + queue + "}:lease"}
}

// AsynqTaskKeyPrefix is the prefix of asynq's task hashes of queue.
func AsynqTaskKeyPrefix(queue string) string { return "asynq:{" + queue + "}:t:" }

// AsynqQueueKeySuffix splits one of asynq's keys of a queue,
// "asynq:{queue}:suffix", into queue and suffix; ok is false for any other
// key (asynq's global keys, wdtcancel's own).
func AsynqQueueKeySuffix(key string) (queue, suffix string, ok bool) {
	rest, found := strings.CutPrefix(key, "asynq:{")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "}:")
	if i < 0 {
		return "", "", false
	}
	return rest[:i], rest[i+2:], true
}

// MarkActive adds queues to the activity index with score 0 (work now).
// Call it after the enqueue (or the move to pending) succeeded, never
// before: a worker's RetireQueue between a ZADD and the enqueue it
// announces could remove the queue again.
func MarkActive(ctx context.Context, rdb redis.UniversalClient, queues ...string) error {
	if len(queues) == 0 {
		return nil
	}
	zs := make([]redis.Z, len(queues))
	for i, q := range queues {
		zs[i] = redis.Z{Member: q}
	}
	if err := rdb.ZAdd(ctx, ActiveQueuesKey, zs...).Err(); err != nil {
		return fmt.Errorf("mark queue(s) %s active in %s: %w (the workers' sweep finds the task within a minute)", strings.Join(queues, ", "), ActiveQueuesKey, err)
	}
	return nil
}

// ActiveQueues reads the index: each queue with when it next needs a
// worker.
func ActiveQueues(ctx context.Context, rdb redis.UniversalClient) (map[string]time.Time, error) {
	zs, err := rdb.ZRangeWithScores(ctx, ActiveQueuesKey, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read the activity index %s: %w", ActiveQueuesKey, err)
	}
	out := make(map[string]time.Time, len(zs))
	for _, z := range zs {
		if q, ok := z.Member.(string); ok {
			out[q] = time.UnixMilli(int64(z.Score))
		}
	}
	return out, nil
}

// queueWorkCmd reads atomically when a queue next needs a worker: "0" if
// it has a pending or active task, else the earliest score (Unix seconds)
// of its scheduled and retry tasks, else "-1" (nothing at all).
//
// KEYS[1..4]: asynq's pending, active, scheduled and retry keys of the
// queue (one hash tag: one slot on a Cluster).
var queueWorkCmd = redis.NewScript(`
if redis.call("EXISTS", KEYS[1], KEYS[2]) > 0 then return "0" end
local best = nil
for i = 3, 4 do
  local r = redis.call("ZRANGE", KEYS[i], 0, 0, "WITHSCORES")
  if r[2] then
    local s = tonumber(r[2])
    if best == nil or s < best then best = s end
  end
end
if best == nil then return "-1" end
return tostring(best)`)

// queueWorkKeys are queueWorkCmd's keys for queue.
func queueWorkKeys(queue string) []string {
	return []string{AsynqPendingKey(queue), asynqActiveKey(queue), asynqScheduledKey(queue), asynqRetryKey(queue)}
}

// RetireQueue removes an idle queue from the index, linearizably with
// producers: ZREM, then an atomic read of the queue, then the queue is
// added back (ZADD LT, which keeps an earlier score a producer set
// meanwhile) with when it next needs a worker if it holds any task. It
// reports whether the queue stayed in the index. Nothing is stranded on an
// error: a failed read adds the queue back with score 0, and a failed
// re-add is found by the sweep.
func RetireQueue(ctx context.Context, rdb redis.UniversalClient, queue string) (kept bool, err error) {
	return retireQueue(ctx, rdb, queue, nil)
}

// retireQueue is RetireQueue with a hook run between the ZREM and the read
// (tests drive the producer's interleaving through it).
func retireQueue(ctx context.Context, rdb redis.UniversalClient, queue string, between func()) (bool, error) {
	if err := rdb.ZRem(ctx, ActiveQueuesKey, queue).Err(); err != nil {
		return true, fmt.Errorf("retire queue %s from the activity index: %w", queue, err)
	}
	if between != nil {
		between()
	}
	res, err := queueWorkCmd.Run(ctx, rdb, queueWorkKeys(queue)).Text()
	score := 0.0
	switch {
	case err != nil:
		// Unknown: keep it, as if it had work.
	case res == "-1":
		return false, nil
	default:
		s, perr := strconv.ParseFloat(res, 64)
		if perr == nil && s > 0 {
			score = s * 1000
		}
	}
	if aerr := rdb.ZAddLT(ctx, ActiveQueuesKey, redis.Z{Score: score, Member: queue}).Err(); aerr != nil {
		return true, fmt.Errorf("put queue %s back in the activity index: %w (the sweep adds it back)", queue, errors.Join(err, aerr))
	}
	if err != nil {
		return true, fmt.Errorf("read whether queue %s holds tasks: %w (kept in the activity index)", queue, err)
	}
	return true, nil
}

// SweepQueues adds every queue of queues that holds a task (pending,
// active, scheduled or retry) and is not in the index back with score 0:
// one EXISTS per queue, pipelined, and one ZADD LT for the ones found.
// It returns the queues it added back: tasks some producer put there
// without MarkActive.
func SweepQueues(ctx context.Context, rdb redis.UniversalClient, queues []string, indexed map[string]time.Time) ([]string, error) {
	var check []string
	for _, q := range queues {
		if _, ok := indexed[q]; !ok {
			check = append(check, q)
		}
	}
	if len(check) == 0 {
		return nil, nil
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(check))
	for i, q := range check {
		cmds[i] = pipe.Exists(ctx, queueWorkKeys(q)...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("sweep the activity index: %w", err)
	}
	var found []string
	var zs []redis.Z
	for i, c := range cmds {
		if c.Val() > 0 {
			found = append(found, check[i])
			zs = append(zs, redis.Z{Member: check[i]})
		}
	}
	if len(zs) > 0 {
		if err := rdb.ZAddLT(ctx, ActiveQueuesKey, zs...).Err(); err != nil {
			return nil, fmt.Errorf("sweep: put queues %s back in the activity index: %w", strings.Join(found, ", "), err)
		}
	}
	return found, nil
}

// TrySweepLock takes the sweep lock of queues for ttl; false: another
// worker swept them within ttl.
func TrySweepLock(ctx context.Context, rdb redis.UniversalClient, queues []string, ttl time.Duration, owner string) (bool, error) {
	ok, err := rdb.SetNX(ctx, ActiveSweepKey(queues), owner, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("take the activity sweep lock: %w", err)
	}
	return ok, nil
}

// ActivityMarker is MarkActive for a producer that enqueues many tasks at
// once (enqueue.Client's streams): concurrent callers share one ZADD that
// starts after every one of them asked, so it still follows each caller's
// enqueue, at one command per round instead of one per task. One caller
// of each round sends it (the round's lead), so no goroutine outlives a
// call.
type ActivityMarker struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	running bool       // a round is being sent
	next    *markRound // the round new callers join
}

type markRound struct {
	queues map[string]bool
	lead   chan struct{} // one token: the member that takes it sends the round
	done   chan struct{}
	err    error
}

// NewActivityMarker is a marker on rdb.
func NewActivityMarker(rdb redis.UniversalClient) *ActivityMarker {
	return &ActivityMarker{rdb: rdb}
}

// Mark adds queue to the index after the caller's enqueue, sharing the
// ZADD with concurrent callers; it returns once a ZADD sent after this
// call began has been answered.
func (m *ActivityMarker) Mark(ctx context.Context, queue string) error {
	m.mu.Lock()
	if m.next == nil {
		m.next = &markRound{queues: map[string]bool{}, lead: make(chan struct{}, 1), done: make(chan struct{})}
	}
	r := m.next
	r.queues[queue] = true
	if !m.running {
		m.running = true
		r.lead <- struct{}{}
	}
	m.mu.Unlock()
	for {
		select {
		case <-r.done:
			return r.err
		case <-r.lead:
			m.send(context.WithoutCancel(ctx))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// send sends the open round (the one whose lead token was taken: it is
// still m.next, as only send replaces it) and hands the lead to the round
// that opened meanwhile, if any.
func (m *ActivityMarker) send(ctx context.Context) {
	m.mu.Lock()
	r := m.next
	m.next = nil
	m.mu.Unlock()
	qs := make([]string, 0, len(r.queues))
	for q := range r.queues {
		qs = append(qs, q)
	}
	sort.Strings(qs)
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	r.err = MarkActive(tctx, m.rdb, qs...)
	cancel()
	m.mu.Lock()
	if m.next != nil {
		m.next.lead <- struct{}{}
	} else {
		m.running = false
	}
	m.mu.Unlock()
	close(r.done)
}

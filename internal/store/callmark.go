package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The write before each WDT call (issue 24): the sent mark and the bump of
// the queue's epoch marker that must follow it, in one script. Apart they
// were two round trips and five commands (SET ... GET, then a script of
// HSETNX, HINCRBY, HGET); together they are one round trip and four
// (EVALSHA, SET ... GET, HINCRBY, HGET); without the HGET of the marker's
// id (a HINCRBY that returns 1 created the marker, and only then is its id
// written) they are three. The order the loss guard needs
// (the counter bumped after the mark, worker/lossguard.go) holds inside the
// script, and Redis applies a script whole: a snapshot holds the mark and
// the bump, or neither. Every key is under the queue's hash tag, so on a
// Cluster the script runs on the queue's slot master.

// beginCallLua marks calls as sent and bumps the epoch marker once for
// them all. KEYS: the epoch marker, then each call's sent mark and unknown
// mark; ARGV: the mark's value (the time), its TTL in ms, a fresh marker
// id for a marker this bump creates. It returns {gen, id, created, then
// per call the sent mark it replaced or false}; id is false unless this
// bump created the marker: the marker's id is not read (a counter that
// comes back as 1 is a marker this bump created, and only then is the id
// written), so the loss guard's fast judge compares the counter and
// "created" only (worker/lossguard.go, lossKind). A replaced mark (an
// earlier attempt died mid-call) is promoted to an unknown outcome in the
// same script.
var beginCallScript = redis.NewScript(`
local prev = {}
local n = (#KEYS - 1) / 2
for i = 1, n do
  local sent, unknown = KEYS[2*i], KEYS[2*i+1]
  local old = redis.call('SET', sent, ARGV[1], 'PX', ARGV[2], 'GET')
  if old then
    redis.call('SET', unknown, old, 'NX', 'PX', ARGV[2])
  end
  prev[i] = old
end
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
local id = false
local created = 0
if gen == 1 then
  id = ARGV[3]
  redis.call('HSET', KEYS[1], 'id', id)
  created = 1
end
local out = {gen, id, created}
for i = 1, n do
  out[3 + i] = prev[i]
end
return out
`)

// BeginCalls marks the calls of nos as about to be sent and bumps the
// epoch marker of the memory's queue after the marks, in one script (one
// round trip, whatever the number of calls: the group commit of
// worker/groupcommit.go sends the marks of concurrent calls together). It
// reports, per number, whether an earlier attempt died mid-call (its sent
// mark was still there: promoted to an unknown outcome), and the marker
// as BumpEpochFast reads it (ID "" unless Created).
func (m *OutcomeMemory) BeginCalls(ctx context.Context, nos []string, at time.Time) ([]bool, Epoch, error) {
	keys := make([]string, 0, 1+2*len(nos))
	keys = append(keys, EpochKey(m.queue))
	for _, no := range nos {
		keys = append(keys, m.sentKey(no), m.unknownKey(no))
	}
	v, err := beginCallScript.Run(ctx, m.rdb, keys, at.UTC().Format(time.RFC3339Nano), outcomeMemoryTTL.Milliseconds(), NewEpochID()).Slice()
	if err != nil {
		return nil, Epoch{}, fmt.Errorf("mark %d call(s) as sent and bump the epoch marker of %s: %w", len(nos), m.queue, err)
	}
	if len(v) != 3+len(nos) {
		return nil, Epoch{}, fmt.Errorf("mark %d call(s) as sent and bump the epoch marker of %s: %d values in the answer, want %d", len(nos), m.queue, len(v), 3+len(nos))
	}
	var e Epoch
	gen, _ := v[0].(int64)
	created, _ := v[2].(int64)
	e.Gen, e.Created = gen, created == 1
	e.ID, _ = v[1].(string)
	died := make([]bool, len(nos))
	for i := range nos {
		died[i] = v[3+i] != nil
	}
	return died, e, nil
}

// BeginCall is BeginCalls of one number.
func (m *OutcomeMemory) BeginCall(ctx context.Context, no string, at time.Time) (bool, Epoch, error) {
	died, e, err := m.BeginCalls(ctx, []string{no}, at)
	if err != nil {
		return false, e, err
	}
	return died[0], e, nil
}

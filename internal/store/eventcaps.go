package store

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// The events stream's caps are shared settings (PublishEventCaps): every
// writer of a queue's stream trims it as the workers published. The result
// script of a call (confirmFinalScript) used to read them from the
// settings hash itself, an HMGET per call at low rates where a group
// commit holds one task (issue 24). A process now reads them at most every
// eventCapsCacheFor and passes them to the script as arguments: a change
// another worker publishes is applied by this process's writes within that
// long, and until then the stream is trimmed by the caps read before, which
// bound it all the same (trimming is approximate anyway). Scripts that
// run rarely (dead letters, an operator's requeue or purge, a cancel
// confirmed after asynq let go of the task) still read the hash.

// eventCapsCacheFor is how long a process writes events with the caps it
// read last.
const eventCapsCacheFor = 5 * time.Second

// eventCaps is one process's copy of a queue's published caps.
type eventCaps struct {
	mu            sync.Mutex
	at            time.Time // when read; zero: never
	maxLen, ageMs string    // as the script's ARGV
}

// capsArgs returns the caps to pass to a script: read from the settings
// hash when the copy is older than eventCapsCacheFor, the missing fields
// filled with the defaults as the script would. ok is false when they
// could not be read (the script then reads the hash itself).
func (m *OutcomeMemory) capsArgs(ctx context.Context) (maxLen, ageMs string, ok bool) {
	c := &m.caps
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < eventCapsCacheFor {
		return c.maxLen, c.ageMs, true
	}
	v, err := m.rdb.HMGet(ctx, SettingsKey(m.queue), "events_max_len", "events_max_age_ms").Result()
	if err != nil || len(v) != 2 {
		return "", "", false
	}
	c.maxLen = capOr(v[0], DefaultEventsMaxLen)
	c.ageMs = capOr(v[1], DefaultEventsMaxAge.Milliseconds())
	c.at = time.Now()
	return c.maxLen, c.ageMs, true
}

// capOr is a published cap as a script argument, or def when the field is
// missing or not a number (the script would have failed on it).
func capOr(v any, def int64) string {
	s, _ := v.(string)
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		return strconv.FormatInt(def, 10)
	}
	return s
}

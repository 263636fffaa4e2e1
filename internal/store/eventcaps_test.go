package store

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestConfirmHonoursPublishedCaps: the result script trims the stream by
// the caps the workers published although it no longer reads the settings
// hash: the process passes its copy, and re-reads it once the copy is
// older than eventCapsCacheFor.
func TestConfirmHonoursPublishedCaps(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	q := "caps"
	m := NewOutcomeMemory(rdb, q)
	confirm := func(n int, from int) {
		t.Helper()
		for i := range n {
			no := "N" + strconv.Itoa(from+i)
			rdb.HSet(ctx, asynqTaskKey(q, no), "msg", "x", "state", "active")
			if held, _, err := m.ConfirmInTaskFinal(ctx, no, []byte("r"), Event{EventID: NewEventID(), PreStockinNo: no}); err != nil || !held {
				t.Fatalf("confirm %s: held %v, %v", no, held, err)
			}
		}
	}
	// Nothing published: the defaults.
	confirm(1, 0)
	if l, a, ok := m.capsArgs(ctx); !ok || l != strconv.Itoa(DefaultEventsMaxLen) || a != strconv.FormatInt(DefaultEventsMaxAge.Milliseconds(), 10) {
		t.Fatalf("caps without a published setting: %q %q %v, want the defaults", l, a, ok)
	}
	if err := PublishEventCaps(ctx, rdb, q, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	// The copy has expired: the next write reads the published caps.
	m.caps.mu.Lock()
	m.caps.at = m.caps.at.Add(-eventCapsCacheFor)
	m.caps.mu.Unlock()
	const n = 250
	confirm(n, 1)
	if l, _, _ := m.capsArgs(ctx); l != "1" {
		t.Fatalf("max length passed %q after the copy expired, want the published 1", l)
	}
	// MAXLEN ~ trims whole nodes of the stream (100 entries each on
	// redis-server): far fewer than all are left.
	if got := rdb.XLen(ctx, EventsKey(q)).Val(); got >= n {
		t.Fatalf("the stream holds %d events with a published max length of 1: the caps were not applied", got)
	}
}

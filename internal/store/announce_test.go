package store

import (
	"context"
	"testing"
	"time"
)

// A queue is announced once a worker says it serves it, for AnnounceTTL,
// and only that queue.
func TestAnnounce(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	if ok, err := Announced(ctx, rdb, "wdt-cancel:acme"); err != nil || ok {
		t.Fatalf("before any announcement: %v %v", ok, err)
	}
	if err := Announce(ctx, rdb, "wdt-cancel:acme", "wdt-cancel"); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]bool{"wdt-cancel:acme": true, "wdt-cancel": true, "wdt-cancel:acne": false} {
		if ok, err := Announced(ctx, rdb, q); err != nil || ok != want {
			t.Errorf("%s: announced %v (%v), want %v", q, ok, err, want)
		}
	}
	ttl, err := rdb.TTL(ctx, ServedKey("wdt-cancel:acme")).Result()
	if err != nil || ttl <= AnnounceTTL-time.Minute || ttl > AnnounceTTL {
		t.Fatalf("TTL %v (%v), want about %v", ttl, err, AnnounceTTL)
	}
}

// A base queue is known for good once a worker announced any seller of it,
// and while a worker announces the base queue itself (an older worker
// writes only that); another base queue, or a prefix of one, is not.
func TestBaseKnown(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	if err := Announce(ctx, rdb, "wdt-a:acme"); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, ServedKey("wdt-old"), "x", AnnounceTTL).Err(); err != nil { // an older worker's announcement
		t.Fatal(err)
	}
	for _, tc := range []struct {
		base string
		want bool
	}{{"wdt-a", true}, {"wdt-old", true}, {"wdt-cancle", false}, {"wdt", false}} {
		if ok, err := BaseKnown(ctx, rdb, tc.base); err != nil || ok != tc.want {
			t.Errorf("%s: known %v (%v), want %v", tc.base, ok, err, tc.want)
		}
	}
	if ttl, err := rdb.TTL(ctx, KnownBaseKey("wdt-a")).Result(); err != nil || ttl != -1 {
		t.Errorf("known key TTL %v (%v), want none", ttl, err)
	}
}

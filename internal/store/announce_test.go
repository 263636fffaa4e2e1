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

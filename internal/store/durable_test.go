package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

func TestNewDurableRefusesBadSettings(t *testing.T) {
	tests := []struct {
		name     string
		replicas int
		timeout  time.Duration
		ok       bool
	}{
		{"off", 0, 0, true},
		{"one", 1, 100 * time.Millisecond, true},
		{"auto", store.AutoReplicas, 100 * time.Millisecond, true},
		{"auto without timeout", store.AutoReplicas, 0, false},
		{"negative replicas", -2, time.Second, false},
		{"no timeout", 1, 0, false},
		{"timeout too long", 1, 3 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.NewDurable(nil, "q", tt.replicas, tt.timeout)
			if (err == nil) != tt.ok {
				t.Fatalf("NewDurable(%d, %s) = %v, want ok %v", tt.replicas, tt.timeout, err, tt.ok)
			}
		})
	}
}

// TestDurableOffIsFree: off, Sync touches nothing (a nil client would
// panic if it did).
func TestDurableOffIsFree(t *testing.T) {
	d, err := store.NewDurable(nil, "q", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Enabled() {
		t.Fatal("replicas 0 is enabled")
	}
	if err := d.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	var none *store.Durable
	if none.Enabled() || none.Sync(context.Background()) != nil {
		t.Fatal("a nil Durable must be off")
	}
}

// TestDurableWithoutReplicaSaysSo: a Redis without a replica cannot
// acknowledge; Sync says so after the timeout, with ErrNotReplicated.
func TestDurableWithoutReplicaSaysSo(t *testing.T) {
	r := testkit.NewRedis(t)
	if !r.Real {
		t.Skip("miniredis has no WAIT")
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	d, err := store.NewDurable(rdb, "q", 1, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Sync(context.Background())
	if !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("Sync without a replica = %v, want ErrNotReplicated", err)
	}
}

// TestDurableSentinelWaitsForTheReplica: on the Sentinel setup the replica
// acknowledges, and after it dies Sync refuses.
func TestDurableSentinelWaitsForTheReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Sentinel setup")
	}
	s := testkit.NewSentinel(t, testkit.TopologyOptions{})
	addrs := make([]string, len(s.Sentinels))
	for i, sen := range s.Sentinels {
		addrs[i] = sen.Addr
	}
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "wdtcancel", SentinelAddrs: addrs})
	defer rdb.Close()
	d, err := store.NewDurable(rdb, "q", 1, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(context.Background()); err != nil {
		t.Fatalf("Sync with a replica online: %v", err)
	}
	if err := s.Nodes[1].Kill(); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(context.Background()); !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("Sync with the replica dead = %v, want ErrNotReplicated", err)
	}
}

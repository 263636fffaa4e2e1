package store

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/redisinfo"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestReplicasObserve pins when auto believes a new replica count: at
// once for a first report, more replicas or a new master (another
// master_replid); a lower count on the same master only after lowerAfter.
func TestReplicasObserve(t *testing.T) {
	const a = "m:1"
	node := func(replid string, n int) redisinfo.Node {
		return redisinfo.Node{Addr: a, Role: "master", ReplID: replid, Replicas: n}
	}
	promoted := func(replid, from string, n int) redisinfo.Node {
		return redisinfo.Node{Addr: a, Role: "master", ReplID: replid, ReplID2: from, Replicas: n}
	}
	type step struct {
		after time.Duration // clock advance before the report
		node  redisinfo.Node
		want  int
	}
	tests := []struct {
		name   string
		stored string // ReplicasKey's value when the client starts
		steps  []step
	}{
		{"first report", "", []step{{0, node("r1", 2), 2}}},
		{"started while a replica leaves: the stored count holds for 10 s", "r1 2", []step{{0, node("r1", 1), 2}, {9 * time.Second, node("r1", 1), 2}, {time.Second, node("r1", 1), 1}}},
		{"started on a master whose replicas all left", "r1 2", []step{{0, node("r1", 0), 2}}},
		{"stored for another master (before a failover) is ignored", "r0 2", []step{{0, node("r1", 1), 1}}},
		{"stored lower than reported", "r1 1", []step{{0, node("r1", 2), 2}}},
		{"stored garbage is ignored", "nonsense", []step{{0, node("r1", 1), 1}}},
		{"more replicas at once", "", []step{{0, node("r1", 1), 1}, {0, node("r1", 2), 2}}},
		{"a replica leaves: believed after 10 s", "", []step{{0, node("r1", 2), 2}, {0, node("r1", 1), 2}, {9 * time.Second, node("r1", 1), 2}, {time.Second, node("r1", 1), 1}}},
		{"a replica comes back before that", "", []step{{0, node("r1", 2), 2}, {0, node("r1", 1), 2}, {5 * time.Second, node("r1", 2), 2}, {6 * time.Second, node("r1", 1), 2}}},
		{"new master (failover) believed at once", "", []step{{0, node("r1", 2), 2}, {0, node("r2", 0), 0}}},
		{"to zero on the same master, after 10 s", "", []step{{0, node("r1", 1), 1}, {0, node("r1", 0), 1}, {10 * time.Second, node("r1", 0), 0}}},
		{"no replication section is ignored", "", []step{{0, node("r1", 2), 2}, {0, redisinfo.Node{Addr: a}, 2}}},
		// Issue 20: the promoted replica of a master that had two waits
		// for the other one (it re-attaches within seconds), and for
		// fewer only after 10 s; it never acknowledges writes no replica
		// has while one is on its way.
		{"promoted from a master with 2 (stored): waits for the other replica", "r1 2", []step{{0, promoted("r2", "r1", 0), 1}, {9 * time.Second, promoted("r2", "r1", 0), 1}, {time.Second, promoted("r2", "r1", 0), 0}}},
		{"promoted from a master with 2 (seen): waits for the other replica", "", []step{{0, node("r1", 2), 2}, {0, promoted("r2", "r1", 0), 1}, {time.Second, promoted("r2", "r1", 1), 1}}},
		{"promoted from a master with 1: nothing left to wait for", "r1 1", []step{{0, promoted("r2", "r1", 0), 0}}},
		{"promoted from another master: believed", "r0 2", []step{{0, promoted("r2", "r1", 0), 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1e9, 0)
			r := NewReplicas(DefaultLowerAfter)
			r.now = func() time.Time { return now }
			for i, s := range tt.steps {
				now = now.Add(s.after)
				if i == 0 {
					r.seed(s.node, tt.stored)
				} else {
					r.Observe(s.node)
				}
				if got, known := r.Count(a); got != s.want || !known {
					t.Fatalf("step %d (%+v): count %d known %v, want %d", i, s.node, got, known, s.want)
				}
			}
		})
	}
}

func TestReplicasUnmetBound(t *testing.T) {
	now := time.Unix(1e9, 0)
	r := NewReplicas(0)
	r.now = func() time.Time { return now }
	r.failed("m:1", "0 of 1 replicas within 200ms")
	if u := r.Unmet(30 * time.Second); u != nil {
		t.Fatalf("unmet at once: %v", u)
	}
	now = now.Add(20 * time.Second)
	r.failed("m:1", "0 of 1 replicas within 200ms") // still failing: since stays
	now = now.Add(10 * time.Second)
	u := r.Unmet(30 * time.Second)
	if len(u) != 1 || !strings.Contains(u[0], "m:1") || !strings.Contains(u[0], "30s") || !strings.Contains(u[0], "0 of 1 replicas") || !strings.Contains(u[0], "--redis-wait-replicas") {
		t.Fatalf("after 30 s: %v", u)
	}
	r.met("m:1")
	if u := r.Unmet(30 * time.Second); u != nil {
		t.Fatalf("after a met wait: %v", u)
	}
}

// replicaOf starts a replica of master and waits until master reports it
// online.
func replicaOf(t *testing.T, master *testkit.Redis, want int) *testkit.Redis {
	t.Helper()
	host, port, _ := net.SplitHostPort(master.Addr)
	r := testkit.NewRedisWith(t, testkit.RedisOptions{ForbidFallback: true, Args: []string{"--replicaof", host, port}})
	waitReplicas(t, master.Addr, want)
	return r
}

func waitReplicas(t *testing.T, addr string, want int) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	testkit.Until(t, "master to report replicas online", func() bool {
		info, err := rdb.Info(context.Background(), "replication").Result()
		return err == nil && redisinfo.ParseInfo(info, addr).Replicas == want
	})
}

// TestAutoFollowsReplicas: auto waits for every replica online; a replica
// that goes away (REPLICAOF NO ONE) makes writes not replicated until the
// lower count has lasted lowerAfter, then it waits for the rest; one that
// comes back is waited for at once.
func TestAutoFollowsReplicas(t *testing.T) {
	t.Parallel()
	if !testkit.RealRequired() {
		if _, err := exec.LookPath("redis-server"); err != nil {
			t.Skip("needs redis-server")
		}
	}
	// No 5 s wait before each full sync: replicas attach three times here.
	master := testkit.NewRedisWith(t, testkit.RedisOptions{ForbidFallback: true, NoAOF: true, Args: []string{"--repl-diskless-sync-delay", "0"}})
	replicaOf(t, master, 1)
	second := replicaOf(t, master, 2)
	rdb := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer rdb.Close()
	ctx := context.Background()
	tracker := NewReplicas(300 * time.Millisecond)
	d, err := NewTrackedDurable(rdb, tracker, "q", AutoReplicas, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// A replica reported online may still be loading the master's
	// snapshot and not yet answer the WAIT.
	testkit.Until(t, "both replicas to acknowledge", func() bool { return d.Sync(ctx) == nil })
	if d.Replicas() != 2 {
		t.Fatalf("two replicas online: waits for %d", d.Replicas())
	}

	srdb := redis.NewClient(&redis.Options{Addr: second.Addr})
	defer srdb.Close()
	if err := srdb.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, master.Addr, 1)
	if err := d.Sync(ctx); !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("right after a replica left: %v, want not replicated (it may be the one promoted)", err)
	}
	testkit.Until(t, "auto to wait for the remaining replica", func() bool { return d.Sync(ctx) == nil })
	if d.Replicas() != 1 {
		t.Fatalf("waits for %d", d.Replicas())
	}
	if u := tracker.Unmet(time.Nanosecond); u != nil {
		t.Fatalf("unmet after a met wait: %v", u)
	}

	host, port, _ := net.SplitHostPort(master.Addr)
	if err := srdb.Do(ctx, "REPLICAOF", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, master.Addr, 2)
	testkit.Until(t, "the replica that came back to acknowledge", func() bool { return d.Sync(ctx) == nil })
	if d.Replicas() != 2 {
		t.Fatalf("replica back: waits for %d", d.Replicas())
	}
}

// TestAutoWithoutReplicas: auto on a master without replicas waits for
// nothing (the durability check then needs AOF), and a fixed count there
// is unmet and tracked for readiness.
func TestAutoWithoutReplicas(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedisWith(t, testkit.RedisOptions{ForbidFallback: !canFallBack()})
	if !r.Real {
		t.Skip("WAIT needs a real redis-server")
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	tracker := NewReplicas(0)
	auto, _ := NewTrackedDurable(rdb, tracker, "q", AutoReplicas, 50*time.Millisecond)
	if err := auto.Sync(context.Background()); err != nil || auto.Replicas() != 0 {
		t.Fatalf("auto without replicas: %v, %d", err, auto.Replicas())
	}
	one, _ := NewTrackedDurable(rdb, tracker, "q", 1, 50*time.Millisecond)
	if err := one.Sync(context.Background()); !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("wait for 1 without replicas: %v", err)
	}
	if u := tracker.Unmet(time.Nanosecond); len(u) != 1 || !strings.Contains(u[0], "0 of 1 replicas") {
		t.Fatalf("unmet: %v", u)
	}
}

func canFallBack() bool { return !testkit.RealRequired() }

// TestAutoOnMiniredis: a Redis that will not answer INFO replication (the
// embedded miniredis) has no replica to wait for: writes are not reported
// unknown (its durability is the durability check's business).
func TestAutoOnMiniredis(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedisWith(t, testkit.RedisOptions{Embedded: true})
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	d, _ := NewDurable(rdb, "q", AutoReplicas, 50*time.Millisecond)
	if err := d.Sync(context.Background()); err != nil || d.Replicas() != 0 {
		t.Fatalf("auto on miniredis: %v, waits for %d", err, d.Replicas())
	}
}

// TestSyncWitness: a write the caller relies on must be on the master the
// wait reached. Issue 20: during a Sentinel failover the enqueue went to
// the old master and the wait to the new one, which acknowledged; the
// number was reported enqueued and lost.
func TestSyncWitness(t *testing.T) {
	t.Parallel()
	if !testkit.RealRequired() {
		if _, err := exec.LookPath("redis-server"); err != nil {
			t.Skip("needs redis-server")
		}
	}
	master := testkit.NewRedisWith(t, testkit.RedisOptions{ForbidFallback: true, NoAOF: true, Args: []string{"--repl-diskless-sync-delay", "0"}})
	replicaOf(t, master, 1)
	other := testkit.NewRedisWith(t, testkit.RedisOptions{ForbidFallback: true, NoAOF: true}) // the other master
	rdb := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer rdb.Close()
	ordb := redis.NewClient(&redis.Options{Addr: other.Addr})
	defer ordb.Close()
	ctx := context.Background()
	d, err := NewTrackedDurable(rdb, NewReplicas(0), "q", AutoReplicas, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Until(t, "the replica to acknowledge", func() bool { return d.Sync(ctx) == nil })

	tests := []struct {
		name  string
		write func() error
		w     Witness
		ok    bool
	}{
		{"key on the master waited on", func() error { return rdb.Set(ctx, "{q}:here", "1", time.Minute).Err() }, KeyWitness("{q}:here"), true},
		{"hash field on the master waited on", func() error { return rdb.HSet(ctx, "{q}:h", "no1", "x").Err() }, FieldWitness("{q}:h", "no1"), true},
		{"key written to another master", func() error { return ordb.Set(ctx, "{q}:there", "1", time.Minute).Err() }, KeyWitness("{q}:there"), false},
		{"field written to another master", func() error { return ordb.HSet(ctx, "{q}:h", "no2", "x").Err() }, FieldWitness("{q}:h", "no2"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.write(); err != nil {
				t.Fatal(err)
			}
			err := d.Sync(ctx, tt.w)
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Sync = %v, want nil", err)
			case !tt.ok && !errors.Is(err, ErrNotReplicated):
				t.Fatalf("Sync = %v, want ErrNotReplicated", err)
			case !tt.ok && !strings.Contains(err.Error(), "not on the master the wait reached"):
				t.Fatalf("Sync = %v: should say the write is not on the master waited on", err)
			}
		})
	}
}

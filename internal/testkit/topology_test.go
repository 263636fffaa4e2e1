package testkit

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func needRealRedis(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if RealRequired() {
			t.Fatal(err)
		}
		t.Skip("needs redis-server")
	}
}

// TestSentinelFailsOver starts the Sentinel setup, writes through the
// sentinel-aware client, kills the master and checks that the replica
// takes over with the write and the client follows it.
func TestSentinelFailsOver(t *testing.T) {
	needRealRedis(t)
	s, err := StartSentinel(TopologyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL(), "redis-sentinel://") || strings.Count(s.URL(), ",") != 2 {
		t.Fatalf("URL %s does not list three sentinels", s.URL())
	}
	ctx := context.Background()
	addrs := make([]string, len(s.Sentinels))
	for i, sen := range s.Sentinels {
		addrs[i] = sen.Addr
	}
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: SentinelMaster, SentinelAddrs: addrs})
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1: %d replicas, %v", n, err)
	}
	old, err := s.KillMaster()
	if err != nil {
		t.Fatal(err)
	}
	now, err := s.WaitFailover(old, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if now == old {
		t.Fatalf("master still %s", old)
	}
	var v string
	readCtx, cancelRead := context.WithTimeout(ctx, 30*time.Second)
	defer cancelRead()
	err = poll(readCtx, func() (err error) { v, err = rdb.Get(readCtx, "k").Result(); return err })
	if v != "v" {
		t.Fatalf("after failover GET k = %q, %v; want the replicated write", v, err)
	}
	if err := s.Restart(old, 60*time.Second); err != nil {
		t.Fatalf("the old master did not rejoin as a replica: %v", err)
	}
}

// TestClusterFailsOver starts the Cluster, checks a cross-slot command is
// refused (the property the hash-tag test relies on), kills a master and
// checks its replica takes over with the replicated write.
func TestClusterFailsOver(t *testing.T) {
	needRealRedis(t)
	c, err := StartCluster(3, TopologyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	// A short state reload, as config.ClusterConnOpt uses: with go-redis's
	// default (60 s) the client keeps asking the dead master.
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ClusterStateReloadInterval: time.Second})
	defer rdb.Close()
	if err := rdb.MSet(ctx, "{a}x", 1, "{b}y", 2).Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MSET across slots: %v, want CROSSSLOT", err)
	}
	if Slot("{wdt-cancel}:x") != Slot("wdt-cancel") || Slot("foo") != 12182 {
		t.Fatalf("Slot: %d %d %d", Slot("{wdt-cancel}:x"), Slot("wdt-cancel"), Slot("foo"))
	}
	key := "{t}k"
	if err := rdb.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	m, _ := rdb.MasterForKey(ctx, key)
	if n, err := m.Do(ctx, "WAIT", 1, 5000).Int(); err != nil {
		t.Fatal(err)
	} else if n != 1 {
		t.Fatalf("WAIT 1 answered %d", n)
	}
	killed := time.Now()
	old, err := c.KillMasterFor(key)
	if err != nil {
		t.Fatal(err)
	}
	now, err := c.WaitFailover(key, old, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if now == old {
		t.Fatal("no failover")
	}
	var v string
	readCtx, cancelRead := context.WithTimeout(ctx, 30*time.Second)
	defer cancelRead()
	err = poll(readCtx, func() (err error) { v, err = rdb.Get(readCtx, key).Result(); return err })
	if v != "v" {
		t.Fatalf("after failover GET = %q, %v", v, err)
	}
	t.Logf("cluster: the key readable again %s after its master was killed (node timeout 1 s)", time.Since(killed).Round(10*time.Millisecond))
	if err := c.Restart(old, 60*time.Second); err != nil {
		t.Fatalf("the killed master did not rejoin: %v", err)
	}
}

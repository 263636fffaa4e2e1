//go:build faults

package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// 20a. A snapshot-only Redis (redis-server's and Debian's stock
// configuration: no AOF, RDB snapshots) is refused at start by the worker
// and by enqueue, exit 2, with the fix; nothing is enqueued. Issue 20: run
// on it and killed -9, it filed 453 of 1800 cancelled orders as clean
// rejections.
func TestSnapshotOnlyRedisRefused(t *testing.T) {
	e := newEnv(t, testkit.RedisOptions{NoAOF: true, Save: "3600 1 300 100 60 10000"})
	o := makeOrders("SO", 10, 0)
	e.startSandbox(o)
	for _, args := range [][]string{
		{"worker", "--listen", "", "--log-level", "warn"},
		{"enqueue", o.nos[0]},
	} {
		r := e.cli("", args...)
		if r.Code != 2 {
			t.Fatalf("%s on a snapshot-only Redis: exit %d, want 2: %s", args[0], r.Code, r.Output())
		}
		for _, want := range []string{"aof_enabled:0", "CONFIG SET appendonly yes", "CONFIG REWRITE", "--allow-volatile-redis"} {
			if !strings.Contains(r.Output(), want) {
				t.Errorf("%s: output lacks %q: %s", args[0], want, r.Output())
			}
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr})
	defer rdb.Close()
	// The worker's write probe (5 s TTL) is the only key allowed.
	for _, k := range rdb.Keys(context.Background(), "*").Val() {
		if k != store.ProbeKey(tasks.DefaultQueue) {
			t.Errorf("a refused command left key %s", k)
		}
	}
}

// 20b. A Redis Cluster of three masters without replicas, AOF on: the
// defaults work (auto waits for the replicas that exist: none). Issue 20:
// every default enqueue reported unknown (0 of 1 replicas).
func TestClusterWithoutReplicas(t *testing.T) {
	c := testkit.NewCluster(t, testkit.TopologyOptions{AppendFsync: "everysec", NoClusterReplicas: true})
	e := &env{t: t, dir: t.TempDir(), redisVars: []string{"REDIS_CLUSTER=" + strings.Join(c.Addrs(), ",")}}
	t.Cleanup(e.scanSecrets)
	o := makeOrders("CN", size(100, 1000), 5)
	e.startSandbox(o)
	e.startWorker("--concurrency", "4")
	start := time.Now()
	r := e.cli(strings.Join(o.nos, "\n"), "enqueue", "--file", "-", "--json")
	if r.Code != 0 {
		t.Fatalf("enqueue with the defaults on a Cluster without replicas: exit %d: %.800s", r.Code, r.Output())
	}
	acked := e.parseAcked(o.nos, r)
	if len(acked) != len(o.nos) || countResult(t, r, "unknown") != 0 {
		t.Fatalf("acknowledged %d of %d, %d unknown", len(acked), len(o.nos), countResult(t, r, "unknown"))
	}
	called := 0
	if !testkit.PollWithin(3*time.Minute, func() bool {
		sb := e.sandboxOrders()
		called = 0
		for _, no := range o.nos {
			if sb[no].CancelCalls > 0 {
				called++
			}
		}
		return called == len(o.nos)
	}) {
		t.Fatalf("%d of %d orders called within 3 min", called, len(o.nos))
	}
	t.Logf("Cluster of 3 masters without replicas, AOF everysec, defaults: %d of %d enqueues acknowledged, 0 unknown; every order called within %s", len(acked), len(o.nos), time.Since(start).Round(100*time.Millisecond))
}

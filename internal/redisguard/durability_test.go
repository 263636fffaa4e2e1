package redisguard

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/redisinfo"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

func TestCheck(t *testing.T) {
	// A node of a Cluster when addr names one ("a:1" is the single Redis).
	aof := func(addr, fsync string, replicas int) Node {
		return Node{Addr: addr, Cluster: addr != "a:1", Reported: true, AOF: true, Fsync: fsync, FsyncRead: true, Role: "master", Replicas: replicas}
	}
	rdb := func(addr string, replicas int) Node {
		return Node{Addr: addr, Cluster: addr != "a:1", Reported: true, Role: "master", Replicas: replicas}
	}
	auto, off, one := Wait{Auto: true}, Wait{}, Wait{Count: 1}
	tests := []struct {
		name  string
		nodes []Node
		wait  Wait
		want  string // "" durable, "volatile", "uncheckable"
		say   []string
	}{
		{"aof everysec", []Node{aof("a:1", "everysec", 0)}, auto, "", nil},
		{"aof always, wait off", []Node{aof("a:1", "always", 0)}, off, "", nil},
		{"aof appendfsync no", []Node{aof("a:1", "no", 0)}, auto, "volatile", []string{"AOF with appendfsync no", "no replica", "CONFIG SET appendonly yes", "CONFIG REWRITE"}},
		{"snapshots only", []Node{rdb("a:1", 0)}, auto, "volatile", []string{"aof_enabled:0", "no replica", "CONFIG SET appendonly yes", "--allow-volatile-redis"}},
		{"snapshots, every replica waited (auto)", []Node{rdb("a:1", 2)}, auto, "", nil},
		{"snapshots, 1 of 2 replicas waited", []Node{rdb("a:1", 2)}, one, "volatile", []string{"2 replicas online but --redis-wait-replicas 1", "--redis-wait-replicas at auto"}},
		{"snapshots, replicas, wait off", []Node{rdb("a:1", 1)}, off, "volatile", []string{"--redis-wait-replicas 0"}},
		{"snapshots, the one replica waited", []Node{rdb("a:1", 1)}, one, "", nil},
		{"not reported", []Node{{Addr: "a:1", Err: errors.New("ERR unknown section")}}, auto, "uncheckable", []string{"does not say", "ERR unknown section", "--allow-volatile-redis", "grant INFO"}},
		{"cluster: every master aof", []Node{aof("d:1", "everysec", 0), aof("b:1", "everysec", 0), aof("c:1", "always", 0)}, auto, "", nil},
		{"cluster: one master without aof or replica", []Node{aof("d:1", "everysec", 0), rdb("b:1", 0), aof("c:1", "everysec", 0)}, auto, "volatile", []string{"redis node b:1", "CONFIG SET appendonly yes"}},
		{"cluster: masters with replicas, auto", []Node{rdb("d:1", 1), rdb("b:1", 1), rdb("c:1", 1)}, auto, "", nil},
		// Issue 20 F2: a Sentinel failover's new master, its replicas
		// still re-attaching, is transient, not "turn AOF on".
		{"snapshots, replicas still synchronising", []Node{{Addr: "a:1", Reported: true, Role: "master", Attached: 1}}, auto, "pending", []string{"no replica online yet", "1 replica(s) still synchronising", "a failover in progress?", "try again"}},
		{"snapshots, just promoted, no replica yet", []Node{{Addr: "a:1", Reported: true, Role: "master", ReplID2: "r1"}}, auto, "pending", []string{"promoted from a replica", "try again"}},
		{"snapshots, just promoted, wait off", []Node{{Addr: "a:1", Reported: true, Role: "master", ReplID2: "r1"}}, off, "volatile", []string{"no replica"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.nodes, tt.wait)
			var ve *VolatileError
			var ue *UncheckableError
			got := ""
			switch {
			case errors.As(err, &ve):
				got = "volatile"
			case errors.As(err, &ue):
				got = "uncheckable"
			case errors.Is(err, ErrReplicasPending):
				if errors.Is(err, ErrVolatile) {
					t.Fatalf("a pending replica is reported volatile: %v", err)
				}
				got = "pending"
			case err != nil:
				t.Fatalf("untyped error %v", err)
			}
			if got != tt.want {
				t.Fatalf("Check = %v, want %q", err, tt.want)
			}
			if err != nil && got != "pending" && !errors.Is(err, ErrVolatile) {
				t.Fatalf("%v does not match ErrVolatile", err)
			}
			if len(tt.nodes) == 1 && err != nil && strings.Contains(err.Error(), "redis node") {
				t.Fatalf("a single Redis named as a node: %v", err)
			}
			for _, s := range tt.say {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message lacks %q: %v", s, err)
				}
			}
		})
	}
}

// TestCheckDurableRealServer reads real servers: the stock snapshot-only
// configuration is refused with the fix, AOF is accepted, and the fix
// itself (CONFIG SET appendonly yes) makes it durable.
func TestCheckDurableRealServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		opts    testkit.RedisOptions
		durable bool
		fsync   string
	}{
		{"stock snapshots", testkit.RedisOptions{NoAOF: true, Save: "3600 1 300 100 60 10000"}, false, ""},
		{"aof everysec (the test kit's default)", testkit.RedisOptions{}, true, "everysec"},
		{"aof always", testkit.RedisOptions{AppendFsync: "always"}, true, "always"},
		{"aof appendfsync no", testkit.RedisOptions{AppendFsync: "no"}, false, "no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := realRedis(t, tt.opts)
			nodes, err := CheckDurable(ctx, client(t, r.Addr), Wait{Auto: true})
			if (err == nil) != tt.durable || len(nodes) != 1 || !nodes[0].Reported || nodes[0].Fsync != tt.fsync {
				t.Fatalf("CheckDurable = %+v, %v", nodes, err)
			}
			if !tt.durable && !strings.Contains(err.Error(), "CONFIG SET appendonly yes") {
				t.Fatalf("refusal without the fix: %v", err)
			}
		})
	}
	t.Run("the fix works", func(t *testing.T) {
		t.Parallel()
		r := realRedis(t, testkit.RedisOptions{NoAOF: true})
		rdb := client(t, r.Addr)
		if _, err := CheckDurable(ctx, rdb, Wait{Auto: true}); !errors.Is(err, ErrVolatile) {
			t.Fatalf("before: %v", err)
		}
		if err := rdb.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
			t.Fatal(err)
		}
		waitAOFWritten(t, rdb)
		if _, err := CheckDurable(ctx, rdb, Wait{Auto: true}); err != nil {
			t.Fatalf("after CONFIG SET appendonly yes: %v", err)
		}
	})
}

// TestCheckDurableRestricted: a user denied CONFIG (a managed Redis) is
// assumed to run the default appendfsync, and says so; one denied INFO is
// uncheckable, and the message asks for the explicit flag.
func TestCheckDurableRestricted(t *testing.T) {
	t.Parallel()
	r := realRedis(t, testkit.RedisOptions{})
	ctx := context.Background()
	admin := client(t, r.Addr)
	for _, acl := range [][]any{
		{"ACL", "SETUSER", "noconfig", "on", ">pw", "~*", "&*", "+@all", "-config"},
		{"ACL", "SETUSER", "noinfo", "on", ">pw", "~*", "&*", "+@all", "-config", "-info"},
	} {
		if err := admin.Do(ctx, acl...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	as := func(user string) *redis.Client {
		rdb := redis.NewClient(&redis.Options{Addr: r.Addr, Username: user, Password: "pw"})
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}
	nodes, err := CheckDurable(ctx, as("noconfig"), Wait{Auto: true})
	if err != nil || nodes[0].FsyncRead || nodes[0].Fsync != redisinfo.DefaultFsync {
		t.Fatalf("CONFIG denied: %+v %v", nodes, err)
	}
	if got := FsyncUnread(nodes); len(got) != 1 {
		t.Fatalf("FsyncUnread = %v", got)
	}
	_, err = CheckDurable(ctx, as("noinfo"), Wait{Auto: true})
	var ue *UncheckableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--allow-volatile-redis") || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("INFO denied: %v", err)
	}
}

func TestCheckDurableMiniredis(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedisWith(t, testkit.RedisOptions{Embedded: true})
	rdb := client(t, r.Addr)
	_, err := CheckDurable(context.Background(), rdb, Wait{Auto: true})
	var ue *UncheckableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--allow-volatile-redis") {
		t.Fatalf("miniredis: %v", err)
	}
	if !IsEmbedded(rdb) {
		t.Fatal("the test kit's miniredis is not marked embedded")
	}
}

// TestCheckDurableClusterNamesTheNode: on a Cluster every master is read,
// and the refusal names the node.
func TestCheckDurableClusterNamesTheNode(t *testing.T) {
	t.Parallel()
	r := realRedis(t, testkit.RedisOptions{NoAOF: true, Args: []string{"--cluster-enabled", "yes", "--cluster-announce-ip", "127.0.0.1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node := client(t, r.Addr)
	if err := node.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err(); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(node.ClusterInfo(ctx).Val(), "cluster_state:ok") {
		select {
		case <-ctx.Done():
			t.Fatal("single-node cluster never came up")
		case <-time.After(20 * time.Millisecond):
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{r.Addr}})
	defer cc.Close()
	_, err := CheckDurable(ctx, cc, Wait{Auto: true})
	var ve *VolatileError
	if !errors.As(err, &ve) || ve.Node != r.Addr || !strings.Contains(err.Error(), "redis node "+r.Addr) {
		t.Fatalf("cluster: %v", err)
	}
	if err := node.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	waitAOFWritten(t, node)
	if _, err := CheckDurable(ctx, cc, Wait{Auto: true}); err != nil {
		t.Fatalf("cluster with AOF: %v", err)
	}
}

// waitAOFWritten waits until the AOF rewrite that CONFIG SET appendonly yes
// starts has finished: redis-server refuses to shut down while it writes
// the initial AOF, and the test kit's Stop would wait 10 s for it.
func waitAOFWritten(t *testing.T, rdb *redis.Client) {
	t.Helper()
	testkit.Until(t, "the initial AOF to be written", func() bool {
		info, err := rdb.Info(context.Background(), "persistence").Result()
		return err == nil && strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0")
	})
}

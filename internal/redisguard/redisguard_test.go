package redisguard

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct{ name, info, want string }{
		{"redis 7", "# Memory\r\nused_memory:1\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:allkeys-lru\r\nallocator_frag_ratio:1.0\r\n", "allkeys-lru"},
		{"bare newlines", "maxmemory_policy:noeviction\n", "noeviction"},
		{"absent", "# Clients\r\nconnected_clients:1\r\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parsePolicy(tt.info); got != tt.want {
				t.Fatalf("%q, want %q", got, tt.want)
			}
		})
	}
}

func TestMergePolicies(t *testing.T) {
	tests := []struct {
		name     string
		policies map[string]string
		want     string
		wantNode string // "" = no error
	}{
		{"all noeviction", map[string]string{"a:1": "noeviction", "b:1": "noeviction"}, "noeviction", ""},
		{"one evicting", map[string]string{"a:1": "noeviction", "b:1": "volatile-lru"}, "volatile-lru", "b:1"},
		{"first evicting by address", map[string]string{"c:1": "allkeys-lru", "b:1": "volatile-ttl"}, "volatile-ttl", "b:1"},
		{"one unreported", map[string]string{"a:1": "noeviction", "b:1": ""}, "", ""},
		{"evicting beats unreported", map[string]string{"a:1": "", "b:1": "allkeys-lfu"}, "allkeys-lfu", "b:1"},
		{"no masters", map[string]string{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mergePolicies(tt.policies)
			if got != tt.want {
				t.Fatalf("policy %q, want %q", got, tt.want)
			}
			var ee *EvictionError
			if tt.wantNode == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &ee) || ee.Node != tt.wantNode || !strings.Contains(err.Error(), "redis node "+tt.wantNode) {
				t.Fatalf("err %v, want an EvictionError naming %s", err, tt.wantNode)
			}
		})
	}
}

func realRedis(t *testing.T, opts testkit.RedisOptions) *testkit.Redis {
	t.Helper()
	r := testkit.NewRedisWith(t, opts)
	if !r.Real {
		t.Skip("needs a real redis-server (maxmemory-policy, OOM); testkit.NewRedis fell back to miniredis, which has neither")
	}
	return r
}

func client(t *testing.T, addr string) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestCheckNoEvictionRealServer(t *testing.T) {
	for _, policy := range []string{"noeviction", "allkeys-lru", "volatile-lru", "volatile-ttl"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			r := realRedis(t, testkit.RedisOptions{MaxmemoryPolicy: policy})
			got, err := CheckNoEviction(context.Background(), client(t, r.Addr))
			if got != policy {
				t.Fatalf("policy %q, want %q", got, policy)
			}
			if policy == NoEviction {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrEviction) {
				t.Fatalf("err %v, want ErrEviction", err)
			}
			for _, want := range []string{"maxmemory-policy " + policy, "CONFIG SET maxmemory-policy noeviction", "parameter group", "--allow-eviction"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q: %s", want, err)
				}
			}
		})
	}
}

func TestCheckNoEvictionNotReported(t *testing.T) {
	r := testkit.NewRedisWith(t, testkit.RedisOptions{Embedded: true})
	got, err := CheckNoEviction(context.Background(), client(t, r.Addr))
	if got != "" || err != nil {
		t.Fatalf("miniredis: policy %q err %v, want not checkable", got, err)
	}
}

func TestCheckNoEvictionUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	if _, err := CheckNoEviction(ctx, rdb); err == nil || errors.Is(err, ErrEviction) {
		t.Fatalf("unreachable: %v", err)
	}
	err := ProbeWrite(ctx, rdb, "probe")
	var wr *WriteRefusedError
	if err == nil || errors.As(err, &wr) {
		t.Fatalf("unreachable probe: %v", err)
	}
}

func TestCheckNoEvictionCluster(t *testing.T) {
	r := realRedis(t, testkit.RedisOptions{MaxmemoryPolicy: "allkeys-lru", Args: []string{"--cluster-enabled", "yes", "--cluster-announce-ip", "127.0.0.1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node := client(t, r.Addr)
	if err := node.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err(); err != nil {
		t.Fatal(err)
	}
	for {
		info, err := node.ClusterInfo(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "cluster_state:ok") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("single-node cluster never came up: %s", info)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{r.Addr}})
	defer cc.Close()
	got, err := CheckNoEviction(ctx, cc)
	var ee *EvictionError
	if got != "allkeys-lru" || !errors.As(err, &ee) || ee.Node != r.Addr || !strings.Contains(err.Error(), "redis node "+r.Addr) {
		t.Fatalf("cluster: policy %q err %v", got, err)
	}
	if err := node.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := CheckNoEviction(ctx, cc); got != NoEviction || err != nil {
		t.Fatalf("cluster after fix: %q %v", got, err)
	}
}

func TestProbeWriteOOM(t *testing.T) {
	// No AOF: its buffers are outside maxmemory and make the filler's
	// last refused write a poor measure of "full".
	r := realRedis(t, testkit.RedisOptions{MaxmemoryPolicy: "noeviction", Maxmemory: "2mb", NoAOF: true})
	ctx := context.Background()
	rdb := client(t, r.Addr)
	key := store.ProbeKey("wdt-cancel")
	if err := ProbeWrite(ctx, rdb, key); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > ProbeTTL {
		t.Fatalf("probe key TTL %v", ttl)
	}
	if err := r.FillUntilOOM(ctx); err != nil {
		t.Fatal(err)
	}
	err := ProbeWrite(ctx, rdb, key)
	var wr *WriteRefusedError
	if !errors.As(err, &wr) || !strings.HasPrefix(err.Error(), "redis refuses writes: OOM") || !redis.IsOOMError(err) {
		t.Fatalf("probe on a full Redis: %v", err)
	}
	if err := r.DrainFill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ProbeWrite(ctx, rdb, key); err != nil {
		t.Fatalf("probe after freeing memory: %v", err)
	}
}

func TestProbeWriteReadOnlyReplica(t *testing.T) {
	primary := realRedis(t, testkit.RedisOptions{})
	host, port, _ := strings.Cut(primary.Addr, ":")
	replica := realRedis(t, testkit.RedisOptions{Args: []string{"--replicaof", host, port}})
	err := ProbeWrite(context.Background(), client(t, replica.Addr), "probe")
	if err == nil || !strings.Contains(err.Error(), "redis refuses writes: READONLY") {
		t.Fatalf("probe on a replica: %v", err)
	}
}

package testkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/redisserver"
)

// This file starts the two highly available topologies wdtcancel supports,
// from the same redis-server binary (Debian's redis-server package runs a
// Sentinel with --sentinel and creates a Cluster with redis-cli, from the
// same package): a Sentinel setup and a Redis Cluster, on free loopback
// ports, with timeouts short enough for tests. Readiness is always decided
// by polling the servers' own state, never by sleeping a fixed time.

// TopologyOptions tune the data nodes of a topology.
type TopologyOptions struct {
	// AppendFsync is the AOF policy of every data node (DefaultAppendFsync
	// by default); NoAOF turns AOF off on every data node.
	AppendFsync string
	NoAOF       bool
	// NoClusterReplicas starts a Cluster of masters only (no replica).
	NoClusterReplicas bool
	// NodeTimeout is the Cluster's cluster-node-timeout, and the Sentinel's
	// down-after-milliseconds. Default 1 s.
	NodeTimeout time.Duration
	// Replicas is how many replicas the Sentinel setup's master has.
	// Default 1.
	Replicas int
	// Ready bounds how long starting may take. Default 60 s (the machine
	// running tests may be loaded).
	Ready time.Duration
}

func (o TopologyOptions) nodeTimeout() time.Duration {
	if o.NodeTimeout <= 0 {
		return time.Second
	}
	return o.NodeTimeout
}

func (o TopologyOptions) ready() time.Duration {
	if o.Ready <= 0 {
		return 60 * time.Second
	}
	return o.Ready
}

// SentinelMaster is the master name StartSentinel monitors.
const SentinelMaster = "wdtcancel"

// Sentinel is a running Sentinel setup: one master, one replica (or
// TopologyOptions.Replicas) and three sentinels (quorum 2).
type Sentinel struct {
	// Nodes are the data nodes; which one is master changes on failover.
	Nodes []*Redis
	// Sentinels are the sentinel processes.
	Sentinels []*Redis
	opts      TopologyOptions
}

// StartSentinel starts a master, a replica of it (or opts.Replicas) and
// three sentinels monitoring it, and returns once the replicas' links are
// up and every sentinel knows the master and the replicas.
func StartSentinel(opts TopologyOptions) (*Sentinel, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("a Sentinel setup needs redis-server on PATH (apt-get install -y redis-server): %w", err)
	}
	s := &Sentinel{opts: opts}
	master, err := startReal(path, RedisOptions{AppendFsync: opts.AppendFsync, NoAOF: opts.NoAOF, config: true})
	if err != nil {
		return nil, err
	}
	s.Nodes = append(s.Nodes, master)
	host, port, _ := net.SplitHostPort(master.Addr)
	for i := 0; i < max(opts.Replicas, 1); i++ {
		replica, err := startReal(path, RedisOptions{AppendFsync: opts.AppendFsync, NoAOF: opts.NoAOF, config: true, Args: []string{"--replicaof", host, port}})
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Nodes = append(s.Nodes, replica)
	}
	ms := strconv.Itoa(int(opts.nodeTimeout().Milliseconds()))
	for i := 0; i < 3; i++ {
		sen, err := startReal(path, RedisOptions{sentinel: []string{
			"sentinel monitor " + SentinelMaster + " " + host + " " + port + " 2",
			"sentinel down-after-milliseconds " + SentinelMaster + " " + ms,
			"sentinel failover-timeout " + SentinelMaster + " 10000",
			"sentinel parallel-syncs " + SentinelMaster + " 1",
		}})
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Sentinels = append(s.Sentinels, sen)
	}
	if err := s.waitReady(master.Addr, opts.ready()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// URL is the redis-sentinel:// URL of database 0, every sentinel listed.
func (s *Sentinel) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, sen := range s.Sentinels {
		addrs[i] = sen.Addr
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/0?master=" + SentinelMaster
}

// MasterAddr is the master's address as the first answering sentinel
// reports it.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var errs []error
	for _, sen := range s.Sentinels {
		if sen.stoppedNow() {
			continue
		}
		c := redis.NewSentinelClient(&redis.Options{Addr: sen.Addr})
		a, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
		c.Close()
		if err == nil && len(a) == 2 {
			return net.JoinHostPort(a[0], a[1]), nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("no sentinel reports the master: %w", errors.Join(errs...))
}

// node is the data node listening on addr.
func (s *Sentinel) node(addr string) *Redis {
	for _, n := range s.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// waitReady polls until every sentinel names master, knows one replica
// and the other sentinels, and the master sees its replica online.
func (s *Sentinel) waitReady(master string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return poll(ctx, func() error {
		for _, sen := range s.Sentinels {
			c := redis.NewSentinelClient(&redis.Options{Addr: sen.Addr})
			m, err := c.Master(ctx, SentinelMaster).Result()
			c.Close()
			if err != nil {
				return err
			}
			addr := net.JoinHostPort(m["ip"], m["port"])
			if addr != master || m["num-slaves"] != strconv.Itoa(len(s.Nodes)-1) || m["num-other-sentinels"] != "2" || strings.Contains(m["flags"], "down") {
				return fmt.Errorf("sentinel %s: master %s, %s replicas, %s other sentinels, flags %s", sen.Addr, addr, m["num-slaves"], m["num-other-sentinels"], m["flags"])
			}
		}
		return replicasOnline(ctx, master, len(s.Nodes)-1)
	})
}

// KillMaster kills the current master with SIGKILL (what it had not yet
// replicated is lost) and returns its address. The sentinels then fail
// over to the replica; WaitFailover waits for that.
func (s *Sentinel) KillMaster() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr, err := s.MasterAddr(ctx)
	if err != nil {
		return "", err
	}
	n := s.node(addr)
	if n == nil {
		return "", fmt.Errorf("the sentinels name %s, which is none of the data nodes", addr)
	}
	return addr, n.Kill()
}

// Failover asks a sentinel for a failover (SENTINEL FAILOVER): the master
// is demoted cleanly, the replica promoted. It returns the old master.
func (s *Sentinel) Failover() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr, err := s.MasterAddr(ctx)
	if err != nil {
		return "", err
	}
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0].Addr})
	defer c.Close()
	if err := c.Failover(ctx, SentinelMaster).Err(); err != nil {
		return "", fmt.Errorf("SENTINEL FAILOVER: %w", err)
	}
	return addr, nil
}

// WaitFailover waits until the sentinels name a master other than old and
// that node answers as a master, and returns it.
func (s *Sentinel) WaitFailover(old string, within time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var now string
	err := poll(ctx, func() error {
		addr, err := s.MasterAddr(ctx)
		if err != nil {
			return err
		}
		if addr == old {
			return fmt.Errorf("the sentinels still name %s", old)
		}
		if err := isMaster(ctx, addr); err != nil {
			return err
		}
		now = addr
		return nil
	})
	return now, err
}

// Restart starts a killed data node again; the sentinels turn it into a
// replica of the current master. It returns once the master sees every
// other data node online as its replica.
func (s *Sentinel) Restart(addr string, within time.Duration) error {
	n := s.node(addr)
	if n == nil {
		return fmt.Errorf("no data node %s", addr)
	}
	if err := n.Restart(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return poll(ctx, func() error {
		m, err := s.MasterAddr(ctx)
		if err != nil {
			return err
		}
		return replicasOnline(ctx, m, len(s.Nodes)-1)
	})
}

// Close stops every process and removes their data.
func (s *Sentinel) Close() {
	for _, r := range append(append([]*Redis(nil), s.Sentinels...), s.Nodes...) {
		r.Close()
	}
}

// Cluster is a running Redis Cluster: masters with a replica each.
type Cluster struct {
	Nodes []*Redis
	// perMaster is the replicas each master has (0 with NoClusterReplicas).
	perMaster int
}

// StartCluster starts 2×masters redis-server processes with
// --cluster-enabled (masters with NoClusterReplicas), joins them with
// `redis-cli --cluster create --cluster-replicas 1` (0), and returns once
// every node reports cluster_state:ok and every master has its replica
// online.
func StartCluster(masters int, opts TopologyOptions) (*Cluster, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("a Redis Cluster needs redis-server on PATH (apt-get install -y redis-server): %w", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("creating a Redis Cluster needs redis-cli (in the redis-tools package redis-server depends on): %w", err)
	}
	if masters < 3 {
		return nil, errors.New("a Redis Cluster needs at least 3 masters")
	}
	c := &Cluster{}
	timeout := strconv.Itoa(int(opts.nodeTimeout().Milliseconds()))
	perMaster := 1
	if opts.NoClusterReplicas {
		perMaster = 0
	}
	c.perMaster = perMaster
	for i := 0; i < (1+perMaster)*masters; i++ {
		var n *Redis
		// The cluster bus port defaults to port+10000, which another
		// test may hold: take a free one of its own, and try again if
		// a port was taken between finding and binding it.
		for try := 0; ; try++ {
			var bus int
			if bus, err = redisserver.FreePort(); err != nil {
				break
			}
			n, err = startReal(path, RedisOptions{AppendFsync: opts.AppendFsync, NoAOF: opts.NoAOF, Args: []string{
				"--cluster-enabled", "yes", "--cluster-node-timeout", timeout, "--cluster-port", strconv.Itoa(bus),
				// A replica takes over however long its link was down:
				// in tests, the master was just killed.
				"--cluster-replica-validity-factor", "0",
			}})
			if err == nil || try == 2 {
				break
			}
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(perMaster), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis-cli --cluster create: %w: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.ready())
	defer cancel()
	if err := c.waitHealthy(ctx, masters, perMaster); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Addrs are every node's host:port (what REDIS_CLUSTER takes).
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// waitHealthy polls until every running node reports cluster_state:ok and
// masters masters each have replicas replicas online.
func (c *Cluster) waitHealthy(ctx context.Context, masters, replicas int) error {
	return poll(ctx, func() error {
		var seen int
		for _, n := range c.Nodes {
			if n.stoppedNow() {
				continue
			}
			rdb := redis.NewClient(&redis.Options{Addr: n.Addr})
			info, err := rdb.ClusterInfo(ctx).Result()
			var role string
			if err == nil {
				role, err = rdb.Info(ctx, "replication").Result()
			}
			rdb.Close()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("node %s: cluster state not ok", n.Addr)
			}
			if strings.Contains(role, "role:master") {
				if err := replicasOnline(ctx, n.Addr, replicas); err != nil {
					return err
				}
				seen++
			}
		}
		if seen != masters {
			return fmt.Errorf("%d masters with %d replica(s) online, want %d", seen, replicas, masters)
		}
		return nil
	})
}

// MasterFor is the address of the master serving key's slot.
func (c *Cluster) MasterFor(ctx context.Context, key string) (string, error) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.running()})
	defer rdb.Close()
	m, err := rdb.MasterForKey(ctx, key)
	if err != nil {
		return "", fmt.Errorf("master for %s: %w", key, err)
	}
	return m.Options().Addr, nil
}

func (c *Cluster) running() []string {
	var out []string
	for _, n := range c.Nodes {
		if !n.stoppedNow() {
			out = append(out, n.Addr)
		}
	}
	return out
}

// KillMasterFor kills with SIGKILL the master serving key's slot and
// returns its address. Its replica takes over after the node timeout;
// WaitFailover waits for that.
func (c *Cluster) KillMasterFor(key string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr, err := c.MasterFor(ctx, key)
	if err != nil {
		return "", err
	}
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return addr, n.Kill()
		}
	}
	return "", fmt.Errorf("slot master %s is none of the nodes", addr)
}

// WaitFailover waits until a node other than old serves key's slot as
// master and every running node reports cluster_state:ok, and returns the
// new master.
func (c *Cluster) WaitFailover(key, old string, within time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var now string
	err := poll(ctx, func() error {
		for _, n := range c.Nodes {
			if n.stoppedNow() {
				continue
			}
			rdb := redis.NewClient(&redis.Options{Addr: n.Addr})
			info, err := rdb.ClusterInfo(ctx).Result()
			rdb.Close()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("node %s: cluster state not ok", n.Addr)
			}
		}
		m, err := c.MasterFor(ctx, key)
		if err != nil {
			return err
		}
		if m == old {
			return fmt.Errorf("slot of %s still served by %s", key, old)
		}
		now = m
		return isMaster(ctx, m)
	})
	return now, err
}

// Restart starts a killed node again; it rejoins (its nodes.conf is kept)
// as a replica of the master that replaced it. It returns once every
// master has a replica online again.
func (c *Cluster) Restart(addr string, within time.Duration) error {
	masters := len(c.Nodes) / (1 + c.perMaster)
	for _, n := range c.Nodes {
		if n.Addr == addr {
			if err := n.Restart(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), within)
			defer cancel()
			return c.waitHealthy(ctx, masters, c.perMaster)
		}
	}
	return fmt.Errorf("no node %s", addr)
}

// Close stops every node and removes their data.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		n.Close()
	}
}

// Slot is the Cluster hash slot of key (CRC16 of its hash tag, mod 16384).
func Slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return crc16(key) % 16384
}

// crc16 is CRC-16/XMODEM, the one Redis Cluster uses.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// replicasOnline checks that the master at addr is a master with at least
// want replicas whose link is up (state=online in INFO replication).
func replicasOnline(ctx context.Context, addr string, want int) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	info, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("INFO replication of %s: %w", addr, err)
	}
	if !strings.Contains(info, "role:master") {
		return fmt.Errorf("%s is not a master", addr)
	}
	if n := strings.Count(info, "state=online"); n < want {
		return fmt.Errorf("%s has %d replicas online, want %d", addr, n, want)
	}
	return nil
}

// isMaster checks that addr answers and reports role master.
func isMaster(ctx context.Context, addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	info, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("INFO replication of %s: %w", addr, err)
	}
	if !strings.Contains(info, "role:master") {
		return fmt.Errorf("%s is not a master yet", addr)
	}
	return nil
}

// poll calls check every 50 ms until it returns nil or ctx ends, and then
// returns check's last error.
func poll(ctx context.Context, check func() error) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready in time: %w", err)
		case <-t.C:
		}
	}
}

// writeConfig writes lines as a config file in dir and returns its path:
// a sentinel must have a config file it can rewrite, and a promoted
// replica's CONFIG REWRITE wants one too.
func writeConfig(dir, name string, lines []string) (string, error) {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return p, nil
}

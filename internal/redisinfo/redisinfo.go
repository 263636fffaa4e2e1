// Package redisinfo reads what a Redis data node says about keeping its
// writes: INFO persistence (aof_enabled), INFO replication (role, the
// replicas online, master_replid) and appendfsync (CONFIG GET, often
// disabled by managed services). It is a leaf: it decides nothing; the
// redisguard package judges, and store's replica wait counts.
package redisinfo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Node is what one Redis data node reports about keeping its writes.
type Node struct {
	// Addr is the node's address (as the client dialled it).
	Addr string
	// Cluster is true for a master of a Redis Cluster: messages name it.
	Cluster bool
	// Reported is false when the node did not answer INFO persistence
	// or replication; Err is its answer then.
	Reported bool
	Err      error
	// AOF is aof_enabled:1.
	AOF bool
	// Fsync is appendfsync ("always", "everysec", "no"); FsyncRead is
	// false when CONFIG GET was refused and Fsync is the assumed
	// default, everysec.
	Fsync     string
	FsyncRead bool
	// Role is "master" or "slave".
	Role string
	// Replicas is the number of replicas in state online
	// (INFO replication's slaveN lines), what WAIT can count on.
	Replicas int
	// ReplID is master_replid: it changes when a replica is promoted
	// or a master restarts without its data, so it names a master's
	// history, not its address.
	ReplID string
	// ReplID2 is master_replid2 when set (not all zeros): the master
	// this node replicated before it was promoted. A master whose ReplID2
	// is another master's ReplID is that master's successor.
	ReplID2 string
	// Attached counts every replica connected, online or still
	// synchronising (a failover's other replicas re-attaching to the
	// promoted one): Attached > Replicas means replicas are on their way.
	Attached int
}

// Promoted reports whether the node was promoted from a replica since it
// started (master_replid2 set).
func (n Node) Promoted() bool { return n.Role == "master" && n.ReplID2 != "" }

// AOFDurable reports whether the node's AOF keeps acknowledged writes
// across a crash: on, with appendfsync always or everysec (which loses at
// most the last second).
func (n Node) AOFDurable() bool {
	return n.AOF && (n.Fsync == "always" || n.Fsync == "everysec")
}

// DefaultFsync is what a Redis whose CONFIG GET is refused is assumed to
// run: redis-server's default, and every managed service's we know of.
const DefaultFsync = "everysec"

// ReadNodes reads INFO persistence and INFO replication (and appendfsync
// with CONFIG GET) of every data node that takes writes: the Redis itself,
// or every master of a Cluster. A node that will not answer INFO is
// returned with Reported false; an unreachable one is an error.
func ReadNodes(ctx context.Context, rdb redis.UniversalClient) ([]Node, error) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		n, err := ReadNode(ctx, rdb)
		if err != nil {
			return nil, err
		}
		return []Node{n}, nil
	}
	var (
		mu    sync.Mutex
		nodes []Node
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n, err := ReadNode(ctx, c)
		if err != nil {
			return fmt.Errorf("redis node %s: %w", c.Options().Addr, err)
		}
		n.Addr, n.Cluster = c.Options().Addr, true
		mu.Lock()
		nodes = append(nodes, n)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Addr < nodes[j].Addr })
	return nodes, nil
}

// ReadNode reads one node (see ReadNodes). c must talk to one node.
func ReadNode(ctx context.Context, c redis.Cmdable) (Node, error) {
	var n Node
	if c, ok := c.(*redis.Client); ok {
		n.Addr = c.Options().Addr
	}
	pers, err := c.Info(ctx, "persistence").Result()
	if err == nil {
		var repl string
		repl, err = c.Info(ctx, "replication").Result()
		pers += "\n" + repl
	}
	if err != nil {
		if isReply(err) {
			n.Err = err
			return n, nil
		}
		return n, err
	}
	n = ParseInfo(pers, n.Addr)
	if !n.Reported {
		n.Err = errors.New("INFO answered without aof_enabled or role")
		return n, nil
	}
	if n.AOF {
		n.Fsync, n.FsyncRead = DefaultFsync, false
		if v, err := c.ConfigGet(ctx, "appendfsync").Result(); err == nil && v["appendfsync"] != "" {
			n.Fsync, n.FsyncRead = v["appendfsync"], true
		} else if err != nil && !isReply(err) {
			return n, err
		}
	}
	return n, nil
}

// ParseInfo reads the fields Node needs from INFO persistence and
// replication text (either or both; Reported needs both).
func ParseInfo(info, addr string) Node {
	n := Node{Addr: addr}
	var sawAOF, sawRole bool
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch {
		case k == "aof_enabled":
			sawAOF, n.AOF = true, v == "1"
		case k == "role":
			sawRole, n.Role = true, v
		case k == "master_replid":
			n.ReplID = v
		case k == "master_replid2" && strings.Trim(v, "0") != "":
			n.ReplID2 = v
		case strings.HasPrefix(k, "slave"):
			n.replicaLine(k, v)
		}
	}
	n.Reported = sawAOF && sawRole
	return n
}

// replicaLine counts a slaveN line of INFO replication (other slave*
// fields are skipped): every one is attached, online ones are Replicas.
func (n *Node) replicaLine(k, v string) {
	if _, err := strconv.Atoi(k[len("slave"):]); err != nil {
		return
	}
	n.Attached++
	if replicaOnline(v) {
		n.Replicas++
	}
}

// replicaOnline reads a slaveN line's state ("ip=...,port=...,state=online,...").
func replicaOnline(v string) bool {
	for _, f := range strings.Split(v, ",") {
		if s, ok := strings.CutPrefix(f, "state="); ok {
			return s == "online"
		}
	}
	return false
}

// isReply tells an error the Redis server answered with from a transport
// failure.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.ErrClosed)
}

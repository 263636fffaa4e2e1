package redisguard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/redisinfo"
)

// Node is what one Redis data node reports about keeping its writes.
type Node = redisinfo.Node

// DefaultFsync is what a node whose CONFIG GET is refused is assumed to run.
const DefaultFsync = redisinfo.DefaultFsync

// ReadNodes reads every data node (redisinfo.ReadNodes).
func ReadNodes(ctx context.Context, rdb redis.UniversalClient) ([]Node, error) {
	return redisinfo.ReadNodes(ctx, rdb)
}

// This file checks that Redis keeps what wdtcancel writes across a crash.
// A sent mark or a confirmation that Redis forgets turns a cancel that took
// effect into a clean rejection on the rerun (issue 20: a snapshot-only
// Redis killed with -9 filed 453 of 1800 cancelled orders as rejections).
// A node's writes survive a crash when it appends them to its AOF with
// appendfsync always or everysec, or when every replica it has
// acknowledges them before wdtcancel relies on them (the replica wait).

// VolatileFix is what to do about a Redis that keeps its writes neither in
// an AOF nor on waited-for replicas.
const VolatileFix = "turn AOF on: CONFIG SET appendonly yes, then CONFIG REWRITE so it survives a restart (a managed Redis: its AOF / \"append-only\" persistence setting); " +
	"or give the master replicas and leave --redis-wait-replicas at auto; " +
	"or pass --allow-volatile-redis to run anyway, knowing a crash loses sent marks and confirmations"

// UncheckableFix is what to do when Redis will not say how it persists.
const UncheckableFix = "grant INFO (persistence and replication) to wdtcancel's Redis user, or, after checking that AOF is on (appendfsync everysec or always) or that every replica is waited for, pass --allow-volatile-redis"

// ErrVolatile matches (errors.Is) every *VolatileError and
// *UncheckableError: Redis is not known to keep wdtcancel's writes across a
// crash.
var ErrVolatile = errors.New("redis is not known to keep writes across a crash")

// VolatileError says that a Redis node (Node "" for a single Redis) keeps
// wdtcancel's writes only in memory, or in snapshots that a crash rolls
// back: no AOF (or AOF with appendfsync no), and replicas that are not
// all waited for.
type VolatileError struct {
	Node string
	// Why says what the node reported, e.g. "aof_enabled:0, RDB
	// snapshots only, 0 replicas".
	Why string
}

func (e *VolatileError) Error() string {
	return fmt.Sprintf("%s does not keep writes across a crash (%s): a crash loses the sent marks and confirmations written since, and reruns file cancelled orders as clean rejections; %s", where(e.Node), e.Why, VolatileFix)
}

// Is makes errors.Is(err, ErrVolatile) true.
func (e *VolatileError) Is(target error) bool { return target == ErrVolatile }

// UncheckableError says that a Redis node does not report its persistence
// or replication: INFO denied by ACL, renamed away, or not implemented (the
// embedded miniredis).
type UncheckableError struct {
	Node string
	Err  error // the server's answer
}

func (e *UncheckableError) Error() string {
	return fmt.Sprintf("%s does not say whether it keeps writes across a crash (INFO persistence / replication: %v); %s", where(e.Node), e.Err, UncheckableFix)
}

// Is makes errors.Is(err, ErrVolatile) true.
func (e *UncheckableError) Is(target error) bool { return target == ErrVolatile }

// Unwrap returns the server's answer.
func (e *UncheckableError) Unwrap() error { return e.Err }

// ErrReplicasPending matches (errors.Is) every *ReplicasPendingError: a
// master without AOF has no replica online yet, but replicas are
// re-attaching or it was just promoted. It is transient, not a
// configuration error: writes are refused as not replicated until the
// replicas are online (seconds), and are safe to retry.
var ErrReplicasPending = errors.New("redis master has no replica online yet")

// ReplicasPendingError is a master that keeps writes only on replicas
// (no durable AOF) and has none online yet, while replicas are
// synchronising with it or it was promoted from a replica: a Sentinel
// failover in progress. Issue 20's tester saw each failover refuse
// enqueues with exit 2 and "turn AOF on" for about 4 s: the promoted
// master's replicas were still re-attaching.
type ReplicasPendingError struct {
	Node     string // a Cluster's master; "" for a single Redis or Sentinel
	Attached int    // replicas connected but still synchronising
	Promoted bool   // promoted from a replica since it started
}

func (e *ReplicasPendingError) Error() string {
	how := "it was promoted from a replica"
	if e.Attached > 0 {
		how = fmt.Sprintf("%d replica(s) still synchronising", e.Attached)
	}
	master := "the redis master"
	if e.Node != "" {
		master = "redis master " + e.Node
	}
	return fmt.Sprintf("%s has no replica online yet (%s: a failover in progress?) and no durable AOF, so writes are not known to survive a crash until a replica is online: try again in a few seconds; if it lasts, check INFO replication (master_link_status) on the replicas", master, how)
}

// Is makes errors.Is(err, ErrReplicasPending) true.
func (e *ReplicasPendingError) Is(target error) bool { return target == ErrReplicasPending }

func where(node string) string {
	if node == "" {
		return "redis"
	}
	return "redis node " + node
}

// Wait is the replica wait a client runs after each critical write: Auto
// waits for every replica its master reports; otherwise Count replicas.
type Wait struct {
	Auto  bool
	Count int
}

// Check decides whether nodes keep wdtcancel's writes across a crash with
// the wait w: every node must have a durable AOF, or replicas that w waits
// for all of. It returns nil, or an *UncheckableError / *VolatileError for
// the first node that fails, the fix in its message; a Cluster's node is
// named, a single Redis is not.
func Check(nodes []Node, w Wait) error {
	for _, n := range nodes {
		name := ""
		if n.Cluster {
			name = n.Addr
		}
		if !n.Reported {
			return &UncheckableError{Node: name, Err: n.Err}
		}
		if n.AOFDurable() {
			continue
		}
		waited := n.Replicas > 0 && (w.Auto || w.Count >= n.Replicas)
		if waited {
			continue
		}
		if n.Replicas == 0 && (w.Auto || w.Count > 0) && (n.Attached > 0 || n.Promoted()) {
			return &ReplicasPendingError{Node: name, Attached: n.Attached, Promoted: n.Promoted()}
		}
		return &VolatileError{Node: name, Why: why(n, w)}
	}
	return nil
}

// why says what makes n volatile under w.
func why(n Node, w Wait) string {
	var b strings.Builder
	switch {
	case n.AOF:
		fmt.Fprintf(&b, "AOF with appendfsync %s", n.Fsync)
	default:
		b.WriteString("aof_enabled:0, at best RDB snapshots")
	}
	switch {
	case n.Replicas == 0:
		b.WriteString(", no replica")
	case w.Auto:
	default:
		fmt.Fprintf(&b, ", %d replicas online but --redis-wait-replicas %d", n.Replicas, w.Count)
	}
	return b.String()
}

// CheckDurable reads every data node (ReadNodes) and decides (Check). It
// also returns the nodes read, for logs and the replica count. An error
// that is neither *VolatileError nor *UncheckableError is Redis being
// unreachable.
func CheckDurable(ctx context.Context, rdb redis.UniversalClient, w Wait) ([]Node, error) {
	nodes, err := ReadNodes(ctx, rdb)
	if err != nil {
		return nil, err
	}
	return nodes, Check(nodes, w)
}

// FsyncUnread lists the nodes whose appendfsync CONFIG GET would not tell
// (a managed Redis disables CONFIG): Check assumed DefaultFsync for them,
// and callers say so in their log.
func FsyncUnread(nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		if n.Reported && n.AOF && !n.FsyncRead {
			out = append(out, cmpOr(n.Addr, "redis"))
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// IsEmbedded reports whether rdb talks to a Redis this process embedded
// (redisinfo.MarkEmbedded: the test kit's miniredis): in memory by design,
// allowed to be volatile as --allow-volatile-redis would.
func IsEmbedded(rdb redis.UniversalClient) bool { return redisinfo.IsEmbedded(rdb) }

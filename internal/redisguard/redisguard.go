// Package redisguard checks that a Redis is safe to keep wdtcancel's state
// in: that it does not evict keys (maxmemory-policy noeviction) and that it
// accepts writes. A Redis that evicts drops queued tasks and outcome marks
// without a word to anyone; one that refuses writes (out of memory, a
// read-only replica) fails every enqueue and every task update.
//
// It reads the policy with INFO, not CONFIG GET, because managed Redis
// services often disable CONFIG. It is a leaf: it knows nothing of tasks,
// queues or flags beyond the wording of the fix.
package redisguard

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// NoEviction is the only maxmemory-policy wdtcancel accepts without
// --allow-eviction.
const NoEviction = "noeviction"

// Fix is what to do about an evicting Redis.
const Fix = "set maxmemory-policy noeviction: CONFIG SET maxmemory-policy noeviction, or your provider's parameter group; or pass --allow-eviction to accept the risk"

// ErrEviction matches (errors.Is) every *EvictionError.
var ErrEviction = errors.New("redis may evict keys")

// EvictionError says that a Redis (one node of a cluster, when Node is set)
// runs a maxmemory-policy that evicts keys.
type EvictionError struct {
	Policy string
	Node   string // the cluster master's address; "" for a single Redis
}

func (e *EvictionError) Error() string {
	where := "redis"
	if e.Node != "" {
		where = "redis node " + e.Node
	}
	return fmt.Sprintf("%s has maxmemory-policy %s: under memory pressure it silently deletes queued tasks and wdtcancel's records; %s", where, e.Policy, Fix)
}

// Is makes errors.Is(err, ErrEviction) true.
func (e *EvictionError) Is(target error) bool { return target == ErrEviction }

// EvictionPolicy reads maxmemory_policy from INFO memory. On a Redis
// Cluster client it asks every master and returns the first evicting policy
// it finds (as an *EvictionError naming the node, so the caller knows which),
// else noeviction.
//
// A server that does not report the field returns "" and no error: the
// embedded miniredis, and managed services that disable INFO or deny it by
// ACL. Callers treat that as not checkable. Any other error (unreachable,
// timeout) is returned as is.
func EvictionPolicy(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return nodePolicy(ctx, rdb)
	}
	var (
		mu       sync.Mutex
		policies = map[string]string{} // node address -> policy
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		p, err := nodePolicy(ctx, c)
		if err != nil {
			return fmt.Errorf("redis node %s: %w", c.Options().Addr, err)
		}
		mu.Lock()
		policies[c.Options().Addr] = p
		mu.Unlock()
		return nil
	})
	if err != nil {
		return "", err
	}
	return mergePolicies(policies)
}

// mergePolicies folds the policies of a cluster's masters into one answer:
// an *EvictionError for the first evicting node (by address, so the answer
// is stable), else "" if any node did not report, else noeviction.
func mergePolicies(policies map[string]string) (string, error) {
	nodes := make([]string, 0, len(policies))
	for n := range policies {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	unreported := len(nodes) == 0
	for _, n := range nodes {
		switch p := policies[n]; p {
		case NoEviction:
		case "":
			unreported = true
		default:
			return p, &EvictionError{Policy: p, Node: n}
		}
	}
	if unreported {
		return "", nil
	}
	return NoEviction, nil
}

type infoer interface {
	Info(ctx context.Context, section ...string) *redis.StringCmd
}

func nodePolicy(ctx context.Context, c infoer) (string, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		if isReply(err) {
			// The server answered but will not say: INFO memory
			// unsupported (miniredis), renamed away or denied.
			return "", nil
		}
		return "", err
	}
	return parsePolicy(info), nil
}

// parsePolicy finds maxmemory_policy in an INFO answer; "" if absent.
func parsePolicy(info string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// CheckNoEviction returns the policy and nil when Redis does not evict, or
// when it cannot tell (policy ""): callers should say so at debug level.
// An evicting policy returns the policy and an *EvictionError whose message
// names the policy and the fix. Other errors are Redis being unreachable.
func CheckNoEviction(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	p, err := EvictionPolicy(ctx, rdb)
	if err != nil {
		return p, err
	}
	if p != "" && p != NoEviction {
		return p, &EvictionError{Policy: p}
	}
	return p, nil
}

// ProbeTTL is how long a probe key lives; a probe that cannot delete it
// leaves nothing behind for long.
const ProbeTTL = 5 * time.Second

// WriteRefusedError says Redis answered a write with an error: out of
// memory (OOM), a read-only replica (READONLY), failed persistence
// (MISCONF), an ACL denial.
type WriteRefusedError struct{ Err error }

func (e *WriteRefusedError) Error() string { return "redis refuses writes: " + e.Err.Error() }
func (e *WriteRefusedError) Unwrap() error { return e.Err }

// ProbeWrite writes key with a short TTL (SET key PX). It returns a
// *WriteRefusedError when Redis answers with an error (OOM, READONLY, ...)
// and any other error (unreachable, timeout) as is. On a cluster the key's
// hash tag decides which master is probed: use the tag of the data that
// matters.
func ProbeWrite(ctx context.Context, rdb redis.UniversalClient, key string) error {
	err := rdb.Set(ctx, key, time.Now().UTC().Format(time.RFC3339Nano), ProbeTTL).Err()
	if err == nil {
		return nil
	}
	if isReply(err) {
		return &WriteRefusedError{Err: err}
	}
	return err
}

// isReply tells an error the Redis server answered with from a transport
// failure.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.ErrClosed)
}

package store

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Witness names what a critical write left in Redis (a key, or a field of
// a hash), so that Durable.Sync can check that the master whose replicas it
// waits for holds that write.
//
// Sync's WAIT vouches only for the master it reaches. During a Sentinel
// failover the old master keeps taking writes for seconds after the
// promoted replica left it (SENTINEL FAILOVER: up to about 11 s measured,
// until Sentinel demotes it), and a client's connections reach both
// masters for a while: go-redis dials each new connection to the master
// the sentinel it asks names, pipelines use a pool of their own, and old
// connections are closed only when the +switch-master message arrives
// (from the failover's leader, up to 5 s later). Issue 20's tester lost
// acknowledged enqueues this way: the task went to the old master, the
// wait to the new one, which had no replica to wait for, and the answer
// was "enqueued". A witness read in the same pipeline as the wait, before
// the probe write, proves the write is on the master the wait counted
// replicas of; a missing witness is ErrNotReplicated (the caller retries).
type Witness struct {
	Key   string
	Field string // "" : the key itself
}

// KeyWitness is the write that created or set key.
func KeyWitness(key string) Witness { return Witness{Key: key} }

// FieldWitness is the write that set field of the hash at key.
func FieldWitness(key, field string) Witness { return Witness{Key: key, Field: field} }

// TaskWitness is the enqueue of task id on queue: asynq's task hash.
func TaskWitness(queue, id string) Witness { return KeyWitness(asynqTaskKey(queue, id)) }

// SentWitness is the sent mark of no (OutcomeMemory.Begin).
func (m *OutcomeMemory) SentWitness(no string) Witness { return KeyWitness(m.sentKey(no)) }

// ResultWitness is the confirmation written into task id
// (OutcomeMemory.ConfirmInTask).
func (m *OutcomeMemory) ResultWitness(id string) Witness {
	return FieldWitness(asynqTaskKey(m.queue, id), "result")
}

// RecordWitness is the dead-letter record of no (DLQ.Put).
func (d *DLQ) RecordWitness(no string) Witness { return FieldWitness(d.key, no) }

func (w Witness) String() string {
	if w.Field == "" {
		return w.Key
	}
	return w.Key + " " + w.Field
}

// queue reads w in pipe: a command whose integer answer is 1 when w is
// there.
func (w Witness) queue(ctx context.Context, pipe redis.Pipeliner) *redis.IntCmd {
	if w.Field == "" {
		return pipe.Exists(ctx, w.Key)
	}
	cmd := redis.NewIntCmd(ctx, "HEXISTS", w.Key, w.Field)
	_ = pipe.Process(ctx, cmd)
	return cmd
}

// isFailoverClient reports whether c is go-redis's Sentinel client, whose
// connections follow the master the sentinels name (Options().Addr is a
// placeholder, "FailoverClient").
func isFailoverClient(c *redis.Client) bool {
	return c.Options().Addr == "FailoverClient"
}

// laddr reads the address of the node a connection reached from CLIENT
// INFO (Redis 6.2 and later): "laddr=10.0.0.5:6379". "" when not given.
func laddr(info string) string {
	for _, f := range strings.Fields(info) {
		if v, ok := strings.CutPrefix(f, "laddr="); ok {
			return v
		}
	}
	return ""
}

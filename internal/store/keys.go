package store

import "strings"

// Every key wdtcancel keeps in Redis is built in this file, and nowhere
// else (asynq does the same in internal/base/base.go). Each starts with
// "wdtcancel:{queue}:": the prefix keeps them apart from asynq's "asynq:"
// keys, and the hash tag {queue} is the one asynq's keys of that queue
// carry, so a Redis Cluster keeps a queue and all of wdtcancel's state about
// it in one slot (Lua scripts and MULTI may then touch several of them).
//
// The strings are a storage format: records and marks already in Redis are
// found under them, so they must not change (keys_test.go pins them).

// queuePrefix is the start of every key of queue.
func queuePrefix(queue string) string { return "wdtcancel:{" + queue + "}:" }

// asynq's own keys of a queue, which the dead-letter store reads and
// removes in one script instead of several Inspector calls (see
// removeArchivedCmd). They are asynq's internal layout (internal/base of
// asynq v0.26); TestRemoveArchivedAgainstAsynq pins them against tasks that
// asynq itself created, so an upgrade that moves them fails the tests.
func asynqTaskKey(queue, id string) string  { return "asynq:{" + queue + "}:t:" + id }
func asynqArchivedKey(queue string) string  { return "asynq:{" + queue + "}:archived" }
func asynqCompletedKey(queue string) string { return "asynq:{" + queue + "}:completed" }

// AsynqPendingKey is asynq's list of a queue's pending tasks: a worker reads
// its length to know whether a seller has tasks waiting (the share gate).
func AsynqPendingKey(queue string) string { return "asynq:{" + queue + "}:pending" }

// AsynqQueuesKey is asynq's set of every queue name: its Inspector and
// asynqmon only know the queues in it. asynq's client adds a queue once per
// process, at its first enqueue, so a Redis that lost its data (a restart
// without persistence, a failover that lost the write) forgets queues that
// still get tasks; workers add their queues back (see worker's seller
// watch).
const AsynqQueuesKey = "asynq:queues"

// DeadLetterKey is the hash of dead-letter records of queue: field =
// pre_stockin_no, value = the Record as JSON. No TTL.
func DeadLetterKey(queue string) string { return queuePrefix(queue) + "dlq" }

// SentKey marks a call for number no as about to be sent (outcome memory).
func SentKey(queue, no string) string { return queuePrefix(queue) + "sent:" + no }

// UnknownKey marks that number no had an attempt with an unknown outcome
// (outcome memory).
func UnknownKey(queue, no string) string { return queuePrefix(queue) + "unknown:" + no }

// ConfirmedKey marks that WDT answered status 0 for number no (outcome
// memory).
func ConfirmedKey(queue, no string) string { return queuePrefix(queue) + "confirmed:" + no }

// RateTATKey is the limiter's theoretical arrival time (GCRA) of the next
// call, in microseconds on Redis's clock.
func RateTATKey(queue string) string { return queuePrefix(queue) + "rl:tat" }

// InflightKey is the limiter's sorted set of in-flight leases, scored by
// expiry.
func InflightKey(queue string) string { return queuePrefix(queue) + "rl:inflight" }

// CooldownKey exists while a rate-limit answer from WDT holds every worker
// off; its TTL is what is left of the cooldown.
func CooldownKey(queue string) string { return queuePrefix(queue) + "rl:cooldown" }

// BreakerOpenKey holds the circuit breaker's state (JSON) while it is open.
func BreakerOpenKey(queue string) string { return queuePrefix(queue) + "breaker:open" }

// BreakerFailsKey counts endpoint failures within the breaker's window.
func BreakerFailsKey(queue string) string { return queuePrefix(queue) + "breaker:fails" }

// BreakerAliveKey exists while some worker got a definite answer within the
// breaker's window.
func BreakerAliveKey(queue string) string { return queuePrefix(queue) + "breaker:alive" }

// BreakerProbeKey is the open breaker's probe slot: whoever sets it may
// call.
func BreakerProbeKey(queue string) string { return queuePrefix(queue) + "breaker:probe" }

// ProbeKey is the Redis guard's write probe, under the queue's hash tag so
// that on a cluster it probes the master holding the queue.
func ProbeKey(queue string) string { return queuePrefix(queue) + "probe" }

// EpochKey is the epoch marker of queue (epoch.go): a hash with a counter
// every worker bumps ("gen") and the id chosen when it was created ("id"),
// by which a worker notices that Redis lost writes. No TTL.
func EpochKey(queue string) string { return queuePrefix(queue) + "epoch" }

// LossKey holds the unacknowledged record (JSON) of writes Redis lost,
// written by the worker that noticed; LossAckedKey the last one an operator
// acknowledged. No TTL.
func LossKey(queue string) string      { return queuePrefix(queue) + "loss" }
func LossAckedKey(queue string) string { return queuePrefix(queue) + "loss:acked" }

// ReplicasKey holds "master_replid count": how many replicas the replica
// wait (auto) last waited for on the master of queue, so that a client that
// starts while a replica is leaving (a failover beginning) does not believe
// the lower count at once (store.Replicas). No TTL; rewritten when the
// count is raised, on a new master, or after a lower one has lasted
// DefaultLowerAfter.
func ReplicasKey(queue string) string { return queuePrefix(queue) + "replicas" }

// SettingsKey is the hash of settings the workers of queue publish for the
// producers' views: field max_retry = the worker's --max-retry, so `status`
// shows the budget the worker really applies. No TTL; the last worker to
// start wins (run every worker of a queue with the same settings).
func SettingsKey(queue string) string { return queuePrefix(queue) + "settings" }

// EventsKey is the stream of outcome events of queue (events.go): one
// entry per final outcome, capped by length and age. Consumers read it with
// consumer groups (XREADGROUP); the worker's webhook delivery is one.
func EventsKey(queue string) string { return queuePrefix(queue) + "events" }

// QueuePattern is a SCAN MATCH pattern for every key above of queue (to
// delete a throw-away queue's state, as the bench does). Glob characters in
// the queue name are escaped, so it matches that queue only.
func QueuePattern(queue string) string {
	return globEscaper.Replace(queuePrefix(queue)) + "*"
}

var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

// ServedKey exists while some worker serves queue: each worker sets it for
// its queues at every seller check, with a TTL of AnnounceTTL (announce.go).
// Producers refuse a seller whose queue has none (a typo), unless told
// otherwise.
func ServedKey(queue string) string { return queuePrefix(queue) + "served" }

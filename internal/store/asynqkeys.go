package store

// asynq's own keys that code outside this package needs to name: the bench
// deletes its throw-away queues and weighs completed tasks with them. They
// are asynq's internal layout (internal/base of asynq v0.26), like the
// unexported ones in keys.go that the dead-letter store's scripts use;
// TestAsynqKeysAgainstAsynq pins them against tasks asynq itself created,
// so an upgrade that moves them fails the tests instead of leaving keys
// behind.

// AsynqTaskKey is asynq's hash of the task with ID id in queue (payload,
// state, result).
func AsynqTaskKey(queue, id string) string { return asynqTaskKey(queue, id) }

// AsynqQueuePattern is a SCAN MATCH pattern for every asynq key of queue
// (its tasks, lists, sets and leases; not the AsynqQueuesKey entry). Glob
// characters in the queue name are escaped, so it matches that queue only.
func AsynqQueuePattern(queue string) string {
	return "asynq:{" + globEscaper.Replace(queue) + "}:*"
}

// Package store owns every key wdtcancel itself keeps in Redis (asynq's own
// keys are asynq's): the durable dead-letter queue and its typed Record, the
// outcome memory that makes a rejection after a lost answer ambiguous, and
// the names of the keys the worker's rate limiter, circuit breaker and write
// probe use. Producers (package enqueue) and workers (package worker) both
// go through it, so the two sides cannot disagree on where a dead number or
// a mark is kept.
//
// All of wdtcancel's keys are built in keys.go, under the queue's hash tag,
// and are a storage format: they must stay byte for byte what they are, or
// records and marks already in Redis are lost from sight. The names of
// asynq's own keys that wdtcancel reads (asynq's layout, pinned by tests)
// are built in keys.go and asynqkeys.go, and nowhere else.
//
//	key (queue Q, number NO)     type    TTL                     written by
//	wdtcancel:{Q}:dlq            hash    none                    worker, on dead-letter: field NO, value the Record as JSON;
//	                                                             `dlq requeue` and `dlq purge` delete fields
//	wdtcancel:{Q}:sent:NO        string  30 days                 worker, before each call; deleted on a definite answer
//	wdtcancel:{Q}:unknown:NO     string  30 days                 worker, after an unknown outcome or on finding a sent mark
//	                                                             a killed attempt left behind
//	wdtcancel:{Q}:confirmed:NO   string  30 days                 worker, when WDT answered status 0
//	wdtcancel:{Q}:rl:tat         string  wait + interval + 60 s  worker's limiter (GCRA), with --rate-per-minute
//	wdtcancel:{Q}:rl:inflight    zset    wait + lease + 60 s     worker's limiter, with --max-inflight: lease IDs by expiry
//	wdtcancel:{Q}:rl:cooldown    string  --cooldown              worker, after a rate-limit answer from WDT
//	wdtcancel:{Q}:breaker:open   string  none                    worker opening the breaker (state as JSON); deleted by a
//	                                                             definite answer or `wdtcancel retry --held`
//	wdtcancel:{Q}:breaker:fails  string  --breaker-window        worker, counting endpoint failures (INCR)
//	wdtcancel:{Q}:breaker:alive  string  --breaker-window        worker, after a definite answer (at most once a second)
//	wdtcancel:{Q}:breaker:probe  string  --breaker-probe-every   worker winning the open breaker's probe slot (SET NX)
//	wdtcancel:{Q}:probe          string  5 s                     worker's Redis guard, every 15 s: does Redis take writes?
//	                                                             also store.Durable, before each WAIT (--redis-wait-replicas)
//	wdtcancel:{Q}:settings       hash    none                    worker at start: max_retry (its --max-retry), read by status
//
// Producers read the dead-letter hash to refuse re-enqueueing a dead number
// and to show its record (`wdtcancel status`); `dlq purge` also deletes the
// number's three outcome marks. The marks store when they were made (RFC
// 3339). None of these keys may be evicted: Redis must run with
// maxmemory-policy noeviction.
//
// What it must not do: decide. What a task's outcome means (retry, hold,
// dead-letter, ambiguous) is the worker's policy; the store only keeps and
// reads state. It imports tasks, tasks/outcome (for the Category type),
// asynq and go-redis, never worker, enqueue or the WDT client.
package store

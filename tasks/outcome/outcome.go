// Package outcome is the vocabulary of what happened to a cancellation: the
// categories of the outcome table (docs/architecture.md, "Outcome policy").
// They appear verbatim in dead-letter records, task results, metrics labels
// and log lines, which producers, operators and the reconciliation read, so
// the contract owns them: this package imports nothing, and a package that
// only needs to name a category (the store, the reconciliation) links
// neither the worker nor the WDT client.
//
// Who decides each category is not this package's business: the WDT client
// (worker/wdt) maps answers onto Cancelled .. UnknownOutcome, the worker
// decides Invalid, Exhausted and Redis, and the worker's Decide says what
// each means for the task.
package outcome

// Category is what an outcome means for the worker. The values are the
// category column of the outcome table and a storage format: records
// already in Redis hold them, so they must not change.
type Category string

// The categories of the outcome table. Invalid, Exhausted and Redis are
// decided by the worker, not by a response; they live here so there is one
// list. Redis is trouble with Redis inside the worker (outcome memory,
// dead-letter store, limiter), not anything WDT said.
//
// There is no "server error" category on purpose: once the request was
// written, an answer that is not a well-formed WDT answer, or a WDT status
// that does not prove the order was left alone, is UnknownOutcome, because
// the cancel may have been applied.
const (
	Cancelled      Category = "cancelled"
	ClockSkew      Category = "clock_skew"
	RateLimited    Category = "rate_limited"
	Config         Category = "config"
	Rejected       Category = "rejected"
	Network        Category = "network"
	UnknownOutcome Category = "unknown_outcome"
	Invalid        Category = "invalid"
	Exhausted      Category = "exhausted"
	Redis          Category = "redis"
)

// The categories only the order lookup decides (the Qimen route, issue 22):
// the worker asked WDT for the order's state instead of inferring it.
const (
	// AlreadyCancelled: the lookup found the order cancelled (state 10)
	// and last modified before the task was enqueued, so before any call
	// of ours could have reached it: done, by someone else.
	AlreadyCancelled Category = "already_cancelled"
	// NotFound: the lookup found no order of that number: dead-lettered.
	NotFound Category = "not_found"
)

// Verified lists the categories only the lookup decides. They are not in
// Categories, which lists what a call or the worker itself can decide (and
// what the call metrics pre-register).
var Verified = []Category{AlreadyCancelled, NotFound}

// Categories lists every category, in outcome-table order.
var Categories = []Category{Cancelled, ClockSkew, RateLimited, Config, Rejected, Network, UnknownOutcome, Invalid, Exhausted, Redis}

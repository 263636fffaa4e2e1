// Package worker is the consuming side of wdtcancel: the asynq server that
// takes wdt:prestockin:cancel tasks, calls WDT through package wdt, and
// applies the outcome table (docs/architecture.md, "Outcome policy"): done,
// retry with back-off, retry without using up the budget (throttling, clock
// skew, configuration faults), or dead-letter.
//
// It also holds what that policy needs: the rate limiter and circuit breaker
// shared by every worker process through Redis, and the ops HTTP server
// (health, readiness, Prometheus metrics, asynqmon). The state it keeps in
// Redis (the durable dead-letter store, the memory of unknown outcomes that
// makes a later rejection ambiguous, the limiter's and breaker's keys) lives
// in package internal/store; Record, DLQ and NewDLQ here are its names.
//
// It must never lose a task: every path out of the handler either finishes
// the task, hands it back to asynq to retry, or writes a dead-letter record
// before asynq archives it.
package worker

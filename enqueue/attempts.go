package enqueue

import (
	"encoding/json"

	"github.com/hibiken/asynq"
)

// Status.Attempts counts attempts the way the worker and its dead-letter
// records do: every attempt that used the retry budget (a network or
// unknown-outcome failure) plus the one that finished the task or is
// running now. Throttled, clock-skew and held attempts are not counted.
// Status.MaxRetry is the task's budget (tasks.DefaultMaxRetry unless the
// producer chose another; a worker's smaller --max-retry wins).
//
// asynq's Retried alone is one short for a task that ran to an end: a
// first-try success has Retried 0, and the worker archives a dead letter
// without counting the attempt that dead-lettered it.

// attemptsOf is the attempts of a task asynq still holds.
func attemptsOf(info *asynq.TaskInfo) int {
	switch info.State {
	case asynq.TaskStateActive, asynq.TaskStateCompleted, asynq.TaskStateArchived:
		return info.Retried + 1
	}
	return info.Retried
}

// deadAttempts is the attempts a dead-letter record counted, or fallback
// when the record does not say.
func deadAttempts(rec json.RawMessage, fallback int) int {
	var r struct {
		Attempts *int `json:"attempts"`
	}
	if json.Unmarshal(rec, &r) != nil || r.Attempts == nil {
		return fallback
	}
	return *r.Attempts
}

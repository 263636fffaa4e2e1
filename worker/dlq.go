package worker

import (
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
)

// The dead-letter queue lives in package store, with every other key
// wdtcancel keeps in Redis; these names keep the worker's API as it was.

// Record is the durable dead-letter entry of one number (store.Record).
type Record = store.Record

// DLQ is the dead-letter store of one queue (store.DLQ).
type DLQ = store.DLQ

// NewDLQ opens the dead-letter store of queue (store.NewDLQ).
func NewDLQ(rdb redis.UniversalClient, queue string) *DLQ { return store.NewDLQ(rdb, queue) }

// AmbiguousExplanation goes on a dead-letter record whose rejection came
// after an attempt with an unknown outcome (store.AmbiguousExplanation).
const AmbiguousExplanation = store.AmbiguousExplanation

// Errors of the dead-letter store, the same values as store's so errors.Is
// matches either.
var (
	ErrNotDead = store.ErrNotDead // the number has no dead-letter record
	ErrLive    = store.ErrLive    // a live task exists for this number
)

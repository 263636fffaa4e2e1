package main

import (
	"context"
	"fmt"
	"io"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/store"
)

// printOutcomeMemory adds to `status` what the number's queue remembers of
// its calls (store.Marks). Attempts count only the attempts that used the
// retry budget plus the one that ended the task (docs/architecture.md), so
// a call a shutdown cut short, which asynq hands back without using a
// retry, shows as "attempts: 0"; the sent mark is what says a call went
// out. A Redis that does not answer here only leaves the line out: the
// status itself was read.
func printOutcomeMemory(ctx context.Context, w io.Writer, rf *config.Redis, queue, no string) {
	conn, err := rf.ConnOpt()
	if err != nil {
		return
	}
	rdb, ok := conn.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return
	}
	defer rdb.Close()
	mem := store.NewOutcomeMemory(rdb, queue)
	defer mem.Close()
	m, err := mem.Marks(ctx, no)
	if err != nil {
		fmt.Fprintf(w, "  outcome memory: not read (%v)\n", err)
		return
	}
	switch {
	case m.Confirmed:
		fmt.Fprintln(w, "  outcome memory: WDT confirmed the cancellation")
	case m.Sent:
		fmt.Fprintln(w, "  outcome memory: a call to WDT was sent and has no answer recorded yet (a call a shutdown cut short used no retry and is not in attempts)")
	case m.Unknown:
		fmt.Fprintln(w, "  outcome memory: an earlier call's outcome at WDT is unknown")
	}
}

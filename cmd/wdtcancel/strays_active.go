package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// readLeases fills st's active split: an active task whose asynq lease
// expired belongs to no live process (its worker was killed without
// shutdown); only asynq's recoverer in a server that fetches from the queue
// moves it back, so in a stray queue it stays active until the seller is
// served again. strays never moves or deletes it: it was attempted, and its
// outcome memory is keyed by this queue.
func (s *straysConn) readLeases(ctx context.Context, st *strayQueue) error {
	if st.Active == 0 {
		return nil
	}
	l, err := store.ReadActiveLeases(ctx, s.rdb, st.Queue, time.Now())
	if err != nil {
		return fmt.Errorf("%w; run the command again once Redis answers", err)
	}
	st.ActiveWorkerGone = l.Gone
	if l.Gone > 0 {
		at := l.GoneSince.UTC()
		st.LeaseExpiredAt = &at
	}
	return nil
}

// activeNotes say what became of st's active tasks, which strays leaves
// alone (verb: "moved", "dropped"; "" in ls): the ones a process runs, and
// the ones whose worker is gone with what brings them back.
func activeNotes(st *strayQueue, verb string) []string {
	var notes []string
	not := ""
	if verb != "" {
		not = " not " + verb + ","
	}
	if live := st.Active - st.ActiveWorkerGone; live > 0 {
		notes = append(notes, fmt.Sprintf("%d active task(s)%s a process is running them", live, not))
	}
	if st.ActiveWorkerGone > 0 {
		at := "unknown"
		if st.LeaseExpiredAt != nil {
			at = st.LeaseExpiredAt.Format(time.RFC3339)
		}
		notes = append(notes, fmt.Sprintf("%d active task(s)%s whose worker is gone (lease expired at %s): serve seller %s again and a worker recovers them, then they finish there",
			st.ActiveWorkerGone, not, at, st.Seller))
	}
	return notes
}

// attemptCounts are the waiting tasks of a stray queue that were attempted,
// by what their queue remembers (attemptOf).
type attemptCounts struct{ sent, unknown, retried, confirmed int }

// unknownOutcome is how many may have reached WDT without a known outcome.
func (a attemptCounts) unknownOutcome() int { return a.sent + a.unknown + a.retried }

// attemptOf is why task t (marks: its number's outcome memory in its queue)
// counts as attempted: "confirmed", "sent", "unknown", "retried", or "" for
// a task never attempted.
func attemptOf(marks store.Marks, retried int, lastErr string) string {
	switch {
	case marks.Confirmed:
		return "confirmed"
	case marks.Sent:
		return "sent"
	case marks.Unknown:
		return "unknown"
	case retried > 0 || lastErr != "":
		return "retried"
	}
	return ""
}

// countAttempted counts st's waiting tasks that were attempted: a drop
// deletes them with the rest, and their outcome at WDT may be unknown. A
// task whose payload cannot be read counts as never attempted (its number
// is unknown, so is its memory).
func (s *straysConn) countAttempted(ctx context.Context, st *strayQueue) (attemptCounts, error) {
	var c attemptCounts
	list, err := waitingTasks(s.insp, st.Queue)
	if err != nil {
		return c, err
	}
	mem := store.NewOutcomeMemory(s.rdb, st.Queue)
	defer mem.Close()
	for _, t := range list {
		p, err := tasks.DecodePayload(t.Payload)
		if err != nil {
			continue
		}
		marks, err := mem.Marks(ctx, p.PreStockinNo)
		if err != nil {
			return c, fmt.Errorf("%w; nothing was deleted, run drop again once Redis answers", err)
		}
		switch attemptOf(marks, t.Retried, t.LastErr) {
		case "confirmed":
			c.confirmed++
		case "sent":
			c.sent++
		case "unknown":
			c.unknown++
		case "retried":
			c.retried++
		}
	}
	return c, nil
}

// dropWarning says which of the tasks a drop deletes were attempted, ""
// when none: deleting one whose outcome is unknown forgets a cancel that
// may or may not have taken effect at WDT. done: the drop happened, so
// serving the seller again no longer finishes them.
func dropWarning(c attemptCounts, st *strayQueue, done bool) string {
	var parts []string
	if n := c.unknownOutcome(); n > 0 {
		todo := fmt.Sprintf("check those orders in WDT, or serve seller %s again so they finish", st.Seller)
		if done {
			todo = "check those orders in WDT"
		}
		parts = append(parts, fmt.Sprintf("%d of them were attempted (sent mark %d, unknown outcome %d, retried %d): their outcome at WDT is unknown, %s",
			n, c.sent, c.unknown, c.retried, todo))
	}
	if c.confirmed > 0 {
		parts = append(parts, fmt.Sprintf("%d of them WDT already confirmed as cancelled", c.confirmed))
	}
	return strings.Join(parts, "; ")
}

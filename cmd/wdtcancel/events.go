package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
)

// newEventsCmd shows a queue's outcome events and re-sends one
// (docs/architecture.md, "Outcome events").
func newEventsCmd() *cobra.Command {
	var (
		rf     config.Redis
		queue  string
		seller string
		asJSON bool
		count  int64
	)
	cmd := &cobra.Command{
		Use:   "events ls | tail | redeliver EVENT_ID|NO",
		Short: "Show the outcome events stream and the webhook backlog, follow it, or send an event again",
		Args:  cobra.NoArgs,
	}
	open := func(cmd *cobra.Command) (redis.UniversalClient, *store.Events, error) {
		rdb, q, err := openSellerQueue(cmd.Context(), &rf, queue, seller)
		if err != nil {
			return nil, nil, err
		}
		return rdb, store.NewEvents(rdb, q), nil
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "Print the newest events (--count) and the webhook delivery's backlog",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rdb, ev, err := open(cmd)
			if err != nil {
				return err
			}
			defer rdb.Close()
			return listEvents(cmd, ev, count, asJSON)
		},
	}
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print events as they are written, until interrupted (reads the stream, acknowledges nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rdb, ev, err := open(cmd)
			if err != nil {
				return err
			}
			defer rdb.Close()
			return tailEvents(cmd.Context(), cmd.OutOrStdout(), rdb, ev, asJSON)
		},
	}
	redeliver := &cobra.Command{
		Use:   "redeliver EVENT_ID|NO",
		Short: "Append an event (by its ID, or every event of a number) to the stream again, with the same event ID",
		Long: "For a receiver that lost events it had acknowledged. The copy keeps its event ID, so a\n" +
			"receiver that deduplicates by event ID (as documented) takes it at most once.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rdb, ev, err := open(cmd)
			if err != nil {
				return err
			}
			defer rdb.Close()
			return redeliverEvents(cmd, ev, args[0])
		},
	}
	ls.Flags().Int64Var(&count, "count", 20, "how many of the newest events to print")
	for _, c := range []*cobra.Command{ls, tail, redeliver} {
		rf.AddFlags(c.Flags())
		c.Flags().StringVar(&queue, "queue", tasks.DefaultQueue, "base queue (the seller \"default\"'s; seller NAME's is <queue>:NAME)")
		addSellerFlag(c.Flags(), &seller, "seller whose events to read")
		if c != redeliver {
			c.Flags().BoolVar(&asJSON, "json", false, "print each event's JSON on its own line (JSON Lines)")
		}
		cmd.AddCommand(c)
	}
	return cmd
}

func printEvents(w io.Writer, evs []store.StreamEvent, asJSON bool) {
	for _, se := range evs {
		if asJSON {
			fmt.Fprintf(w, "%s\n", se.Raw)
			continue
		}
		e := se.Event
		status := "-"
		if e.WDTStatus != nil {
			status = fmt.Sprint(*e.WDTStatus)
		}
		fmt.Fprintf(w, "%s  %s  %-20s %-10s status=%s attempts=%d  %s  %s\n", se.StreamID, e.FinalAt.UTC().Format(time.RFC3339), e.PreStockinNo, e.Outcome, status, e.Attempts, e.EventID, e.Source)
	}
}

// tailEvents follows the stream with XREAD from its end.
func tailEvents(ctx context.Context, w io.Writer, rdb redis.UniversalClient, ev *store.Events, asJSON bool) error {
	last := "$"
	for ctx.Err() == nil {
		s, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{ev.Key(), last}, Block: time.Second, Count: 100}).Result()
		if err == redis.Nil || ctx.Err() != nil {
			continue
		}
		if err != nil {
			return fmt.Errorf("follow %s: %w", ev.Key(), err)
		}
		for _, st := range s {
			evs := make([]store.StreamEvent, 0, len(st.Messages))
			for _, m := range st.Messages {
				se, _ := store.DecodeStreamEvent(m)
				evs = append(evs, se)
				last = m.ID
			}
			printEvents(w, evs, asJSON)
		}
	}
	return nil
}

// listEvents prints the newest events and, for a person, the webhook
// delivery's backlog.
func listEvents(cmd *cobra.Command, ev *store.Events, count int64, asJSON bool) error {
	last, err := ev.Last(cmd.Context(), count)
	if err != nil {
		return err
	}
	printEvents(cmd.OutOrStdout(), last, asJSON)
	if asJSON {
		return nil
	}
	b, err := ev.GroupBacklog(cmd.Context(), worker.NotifyGroup, time.Now())
	if err != nil {
		return err
	}
	n, _ := ev.Len(cmd.Context())
	if n == 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "no events yet in %s: a worker appends one per final outcome (done or dead-lettered) of this queue's tasks\n", ev.Key())
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "stream %s: %d events; webhook: %d pending, unread: %v, oldest undelivered %s\n",
		ev.Key(), n, b.Pending, b.Unread > 0, b.Oldest.Round(time.Second))
	return nil
}

// redeliverEvents appends the events with ID or number arg again.
func redeliverEvents(cmd *cobra.Command, ev *store.Events, arg string) error {
	found, err := ev.Find(cmd.Context(), arg, arg)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "wdtcancel: no event with ID or number %s in %s (trimmed by --events-max-len / --events-max-age?)\n", arg, ev.Key())
		return silentExit(exitPartial)
	}
	for _, se := range found {
		id, err := ev.Append(cmd.Context(), se)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s: appended again as %s\n", se.Event.EventID, se.Event.PreStockinNo, se.Event.Outcome, id)
	}
	return nil
}

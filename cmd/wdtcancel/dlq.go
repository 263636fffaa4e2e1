package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
)

func init() { extraCommands = append(extraCommands, newDLQCmd) }

func newDLQCmd() *cobra.Command {
	var (
		rf    config.Redis
		queue string
	)
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Read and re-drive the dead-letter queue: ls, show, requeue, purge",
	}
	rf.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVar(&queue, "queue", tasks.DefaultQueue, "queue whose dead letters to handle")

	open := func(cmd *cobra.Command) (*worker.DLQ, func(), error) {
		conn, err := rf.ConnOpt()
		if err != nil {
			return nil, nil, usageErr(err)
		}
		rdb := conn.MakeRedisClient().(redis.UniversalClient)
		if err := rdb.Ping(cmd.Context()).Err(); err != nil {
			rdb.Close()
			return nil, nil, usageErr(fmt.Errorf("cannot reach Redis at %s: %v: start Redis or point REDIS_URL / --redis-url at it", rf.String(), err))
		}
		return worker.NewDLQ(rdb, queue), func() { rdb.Close() }, nil
	}

	var lsJSON bool
	ls := &cobra.Command{
		Use: "ls", Short: "List dead-lettered numbers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, done, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			recs, err := d.List(cmd.Context())
			if err != nil {
				return err
			}
			if lsJSON {
				if recs == nil {
					recs = []worker.Record{}
				}
				return writeJSONOut(cmd.OutOrStdout(), recs)
			}
			printRecords(cmd.OutOrStdout(), recs)
			return nil
		},
	}
	ls.Flags().BoolVar(&lsJSON, "json", false, "print a JSON array of records")

	var showJSON bool
	show := &cobra.Command{
		Use: "show NO", Short: "Show one dead-letter record", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			rec, err := d.Get(cmd.Context(), args[0])
			if errors.Is(err, worker.ErrNotDead) {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s is not in the dead-letter queue\n", args[0])
				return silentExit(exitPartial)
			}
			if err != nil {
				return err
			}
			if showJSON {
				return writeJSONOut(cmd.OutOrStdout(), rec)
			}
			b, _ := json.MarshalIndent(rec, "", "  ")
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")

	cmd.AddCommand(ls, show,
		bulkCmd("requeue", "Re-drive dead numbers as fresh tasks (retry budget reset)", open, func(d *worker.DLQ, cmd *cobra.Command, no string) error {
			return d.Requeue(cmd.Context(), no)
		}),
		bulkCmd("purge", "Forget dead numbers: record, archived task, unknown-outcome memory", open, func(d *worker.DLQ, cmd *cobra.Command, no string) error {
			return d.Purge(cmd.Context(), no)
		}))
	return cmd
}

// bulkCmd builds requeue and purge: NO... or --all, one line per number,
// exit 1 if any failed.
func bulkCmd(name, short string, open func(*cobra.Command) (*worker.DLQ, func(), error), act func(*worker.DLQ, *cobra.Command, string) error) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use: name + " NO... | --all", Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return usageErr(fmt.Errorf("give numbers or --all, not both or neither"))
			}
			d, done, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			nos := args
			if all {
				if nos, err = d.Numbers(cmd.Context()); err != nil {
					return err
				}
			}
			ok, failed := 0, 0
			for _, no := range nos {
				if err := act(d, cmd, no); err != nil {
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", no, err)
					continue
				}
				ok++
				if !all {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %sd\n", no, name)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%sd %d, failed %d\n", name, ok, failed)
			if failed > 0 {
				return silentExit(exitPartial)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every dead number")
	return c
}

func printRecords(w io.Writer, recs []worker.Record) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NO\tCATEGORY\tSTATUS\tAMBIGUOUS\tATTEMPTS\tDEAD SINCE\tMESSAGE")
	for _, r := range recs {
		status := "-"
		if r.WDTStatus != nil {
			status = fmt.Sprint(*r.WDTStatus)
		}
		msg := r.Message
		if msg == "" {
			msg = r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%s\t%s\n", r.PreStockinNo, r.Category, status, r.Ambiguous, r.Attempts, r.DeadLetteredAt.Format(time.RFC3339), msg)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d dead-lettered\n", len(recs))
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/store"
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
		// Without this cobra prints the help and exits 0 for any word it
		// does not know, so a script's typo would look like success.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr(fmt.Errorf("dlq needs a subcommand: ls, show, requeue or purge (see wdtcancel dlq --help)"))
			}
			return usageErr(fmt.Errorf("unknown dlq subcommand %q: use ls, show, requeue or purge (see wdtcancel dlq --help)", args[0]))
		},
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
			if err != nil {
				// A script reading --json gets JSON on every path.
				if showJSON {
					writeJSONError(cmd.OutOrStdout(), args[0], err)
				}
				switch {
				case errors.Is(err, worker.ErrNotDead):
					fmt.Fprintf(cmd.ErrOrStderr(), "%s is not in the dead-letter queue\n", args[0])
					return silentExit(exitPartial)
				case errors.Is(err, store.ErrCorrupt):
					raw, _ := d.Raw(cmd.Context(), args[0])
					fmt.Fprintf(cmd.ErrOrStderr(), "wdtcancel: %v\nstored value: %s\n", err, raw)
					return silentExit(exitPartial)
				}
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
	var all, yes bool
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
				if name == "purge" && !yes {
					if err := confirm(cmd, fmt.Sprintf("purge forgets all %d dead-lettered numbers for good", len(nos))); err != nil {
						return err
					}
				}
			}
			ok, failed := 0, 0
			for _, no := range nos {
				if err := act(d, cmd, no); err != nil {
					failed++
					fmt.Fprintln(cmd.ErrOrStderr(), failureLine(no, err))
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
	if name == "purge" {
		c.Flags().BoolVar(&yes, "yes", false, "purge --all without asking (required when stdin is not a terminal)")
	}
	return c
}

// failureLine names the number once: the store's errors already carry it.
func failureLine(no string, err error) string {
	if strings.Contains(err.Error(), no) {
		return err.Error()
	}
	return no + ": " + err.Error()
}

// confirm asks on a terminal before an irreversible bulk action; without a
// terminal (a script, a pipe) it refuses and names --yes.
func confirm(cmd *cobra.Command, what string) error {
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return usageErr(fmt.Errorf("%s: add --yes to confirm", what))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s. Type yes to go on: ", what)
	answer, _ := bufio.NewReader(in).ReadString('\n')
	if strings.TrimSpace(answer) != "yes" {
		return usageErr(errors.New("not confirmed; nothing purged"))
	}
	return nil
}

// writeJSONError is what a --json command prints instead of its object when
// it has none to print.
func writeJSONError(w io.Writer, no string, err error) {
	writeJSONOut(w, struct {
		PreStockinNo string `json:"pre_stockin_no"`
		Error        string `json:"error"`
	}{no, err.Error()})
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

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

func newStatusCmd() *cobra.Command {
	var (
		redis  config.Redis
		queue  string
		seller string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status NO",
		Short: "Show where one number stands: pending, active, retry, dead-lettered, done",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSellerFlag(seller); err != nil {
				return err
			}
			if _, err := tasks.NormalizeNo(args[0]); err != nil {
				return usageErr(err)
			}
			c, err := openProducer(cmd.Context(), &redis, enqueue.WithQueue(queue), enqueue.WithSeller(seller))
			if err != nil {
				return err
			}
			defer c.Close()
			st, err := c.Status(cmd.Context(), args[0])
			switch {
			case errors.Is(err, enqueue.ErrNotFound):
				st.State = "unknown"
			case err != nil:
				// A script reading --json gets JSON on every path.
				if asJSON {
					writeJSONError(cmd.OutOrStdout(), args[0], err)
				}
				if errors.Is(err, enqueue.ErrCorruptRecord) {
					fmt.Fprintf(cmd.ErrOrStderr(), "wdtcancel: %v: inspect it with `wdtcancel dlq show %s%s`, forget it with `dlq purge %s%s`\n", err, args[0], sellerArg(seller), args[0], sellerArg(seller))
					return silentExit(exitPartial)
				}
				if asJSON {
					fmt.Fprintln(cmd.ErrOrStderr(), "wdtcancel:", err)
					return silentExit(exitUsage)
				}
				return err
			}
			if asJSON {
				// Encoded in full before anything is printed, so a failure
				// is a JSON error, not silence.
				var b bytes.Buffer
				enc := json.NewEncoder(&b)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(st); err != nil {
					writeJSONError(cmd.OutOrStdout(), args[0], err)
					return fmt.Errorf("encode the status of %s: %w", args[0], err)
				}
				cmd.OutOrStdout().Write(b.Bytes())
			} else {
				printStatus(cmd.OutOrStdout(), st)
				if st.State != "unknown" {
					printOutcomeMemory(cmd.Context(), cmd.OutOrStdout(), &redis, c.Queue(), st.PreStockinNo)
				}
			}
			if st.State == "unknown" {
				return silentExit(exitPartial)
			}
			return nil
		},
	}
	redis.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&queue, "queue", tasks.DefaultQueue, "queue the number was enqueued into")
	addSellerFlag(cmd.Flags(), &seller, "seller the number belongs to")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printStatus(w io.Writer, st enqueue.Status) {
	fmt.Fprintf(w, "%s: %s\n", st.PreStockinNo, st.State)
	fmt.Fprintf(w, "  seller:        %s\n", st.Seller)
	if st.State == "unknown" && st.RedisLoss != nil {
		fmt.Fprintf(w, "  not found, and Redis lost writes of queue %s (detected %s): it may have been enqueued and lost;\n"+
			"  re-enqueue it (safe: the number is the task ID); see `wdtcancel redis-loss show`\n",
			st.Queue, st.RedisLoss.DetectedAt.UTC().Format(time.RFC3339))
		return
	}
	if st.State == "unknown" {
		fmt.Fprintf(w, "  never enqueued for seller %s, or done longer ago than the retention (7 days by default)\n", st.Seller)
		return
	}
	if st.MaxRetry > 0 {
		fmt.Fprintf(w, "  attempts:      %d of %d\n", st.Attempts, st.MaxRetry)
	} else { // dead, and asynq no longer holds the task
		fmt.Fprintf(w, "  attempts:      %d\n", st.Attempts)
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "  last error:    %s\n", st.LastError)
	}
	if st.LastFailedAt != nil {
		fmt.Fprintf(w, "  last failed:   %s\n", st.LastFailedAt.Format(time.RFC3339))
	}
	if st.NextAttemptAt != nil {
		fmt.Fprintf(w, "  next attempt:  %s (in %s)\n", st.NextAttemptAt.Format(time.RFC3339), time.Until(*st.NextAttemptAt).Round(time.Second))
	}
	if st.CompletedAt != nil {
		fmt.Fprintf(w, "  completed:     %s\n", st.CompletedAt.Format(time.RFC3339))
	}
	printLookedUp(w, st.Result)
	if st.DeadLetter != nil {
		fmt.Fprintf(w, "  dead letter:   %s\n", st.DeadLetter)
		printLookedUp(w, st.DeadLetter)
	}
}

// addSellerFlag adds --seller, which reads WDTCANCEL_SELLER like every flag
// (config.ApplyEnv): the seller whose queue a command works on.
func addSellerFlag(fs *pflag.FlagSet, p *string, what string) {
	fs.StringVar(p, "seller", tasks.DefaultSeller, what+" (docs/sellers.md)")
}

// checkSellerFlag refuses a bad --seller as a usage error (exit 2) that
// says what is wrong and what a seller name may be, before any connection.
func checkSellerFlag(name string) error {
	if err := tasks.ValidateSeller(name); err != nil {
		return usageErr(fmt.Errorf("--seller / WDTCANCEL_SELLER: %w (%s)", err, enqueue.SellerRule))
	}
	return nil
}

// printLookedUp prints what the order lookup saw, from a dead-letter record
// or a completed task's result; nothing when the lookup did not settle it.
func printLookedUp(w io.Writer, raw json.RawMessage) {
	var v struct {
		Category string          `json:"category"`
		LookedUp *store.LookedUp `json:"looked_up"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil || v.LookedUp == nil {
		return
	}
	fmt.Fprintf(w, "  looked up:     %s\n", v.LookedUp)
}

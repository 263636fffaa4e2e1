package main

import (
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
)

// newRetryCmd is what an operator runs after fixing what held the tasks (a
// wrong secret or URL, a whitelist, an endpoint outage): it closes the
// circuit breaker and runs every held task now instead of after its hold
// delay.
func newRetryCmd() *cobra.Command {
	var (
		rf     config.Redis
		queue  string
		seller string
		held   bool
		// allowVolatile is --allow-volatile-redis.
		allowVolatile bool
	)
	cmd := &cobra.Command{
		Use:   "retry --held [--seller NAME]",
		Short: "Run held tasks now (after fixing a configuration fault or an endpoint outage)",
		Long: "Tasks held for a configuration fault or by the open circuit breaker wait without using\n" +
			"retries. After fixing the cause (and restarting the workers if their settings changed),\n" +
			"`wdtcancel retry --held` closes the circuit breaker and moves every held task back to\n" +
			"pending so the workers run it now. If the fault is still there, the first call opens\n" +
			"the breaker again and the tasks are held again: nothing is lost or dead-lettered.\n" +
			"With several sellers, each has its own breaker and held tasks: name it with --seller.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !held {
				return usageErr(errors.New("say what to retry: --held (tasks held for a configuration fault or by the circuit breaker)"))
			}
			if err := tasks.ValidateSeller(seller); err != nil {
				return usageErr(fmt.Errorf("--seller: %w", err))
			}
			if err := tasks.ValidateBaseQueue(queue); err != nil {
				return usageErr(fmt.Errorf("--queue: %w", err))
			}
			q := tasks.QueueFor(queue, seller)
			conn, err := rf.ConnOpt()
			if err != nil {
				return usageErr(err)
			}
			rdb := conn.MakeRedisClient().(redis.UniversalClient)
			defer rdb.Close()
			ctx := cmd.Context()
			if err := rdb.Ping(ctx).Err(); err != nil {
				return redisUnreachable(&rf, err)
			}
			if err := checkVolatile(ctx, rdb, allowVolatile, cmd.ErrOrStderr()); err != nil {
				return err
			}
			wasOpen, err := worker.NewBreaker(rdb, q, worker.BreakerOptions{}).Reset(ctx)
			if err != nil {
				return err
			}
			n, err := worker.RunHeld(ctx, rdb, q)
			out := cmd.OutOrStdout()
			whose := ""
			if seller != tasks.DefaultSeller {
				whose = fmt.Sprintf("seller %s's ", seller)
			}
			if wasOpen {
				fmt.Fprintf(out, "%scircuit breaker closed\n", whose)
			}
			fmt.Fprintf(out, "%d held task(s) of %squeue %s moved to pending\n", n, whose, q)
			return err
		},
	}
	rf.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&queue, "queue", tasks.DefaultQueue, "base queue (the seller \"default\"'s; seller NAME's is <queue>:NAME)")
	cmd.Flags().StringVar(&seller, "seller", tasks.DefaultSeller, "seller whose breaker to close and held tasks to run (env WDTCANCEL_SELLER)")
	cmd.Flags().BoolVar(&held, "held", false, "run the tasks held for a configuration fault or by the circuit breaker")
	config.AddAllowVolatileFlag(cmd.Flags(), &allowVolatile)
	return cmd
}

package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wdtcancel/wdtcancel/cmd/wdtcancel/internal/demo"
	"github.com/wdtcancel/wdtcancel/internal/logging"
)

func newDemoCmd() *cobra.Command {
	var (
		o    demo.Options
		logs logFlags
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Everything in one process: embedded Redis, sandbox, worker, a batch of orders with faults",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			o.ListenFallback = opsListenFallback(cmd.Flags().Lookup("listen"))
			if f, ok := o.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				o.Interactive = true
			}
			// Log lines go through the progress line, which they clear
			// and redraw instead of tearing it.
			o.Progress = demo.NewProgress(o.Out, o.Interactive)
			log, err := logging.New(logging.Options{Format: logs.format, Level: logs.level, Output: o.Progress.LogWriter(cmd.ErrOrStderr())})
			if err != nil {
				return usageErr(err)
			}
			defer log.Sync()
			o.Logger = log
			sum, err := demo.Run(cmd.Context(), o)
			if err != nil {
				if cmd.Context().Err() != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "interrupted")
					return nil
				}
				return err
			}
			if len(sum.Problems) > 0 {
				return silentExit(exitPartial)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Orders, "orders", 150, "number of orders in the batch")
	f.BoolVar(&o.NoLookup, "no-lookup", false, "run the worker without the order lookup (the sandbox's Qimen route): doubtful outcomes are then dead-lettered ambiguous, as without Qimen credentials")
	f.BoolVar(&o.ExitWhenDone, "exit-when-done", false, "exit after the summary instead of serving asynqmon until Ctrl-C")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8080", "ops HTTP address (asynqmon, metrics); use 127.0.0.1:0 for any free port")
	f.StringVar(&o.SandboxListen, "sandbox-listen", "127.0.0.1:0", "sandbox address")
	f.StringVar(&o.RedisURL, "redis-url", "", "use this Redis instead of the embedded one")
	f.Int64Var(&o.Seed, "seed", 1, "seed of the sandbox's faults")
	cmd.Flags().StringVar(&logs.format, "log-format", "console", "worker log format: json or console")
	cmd.Flags().StringVar(&logs.level, "log-level", "error", "worker log level (warn shows every retry)")
	return cmd
}

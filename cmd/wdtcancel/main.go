// Command wdtcancel cancels Wangdiantong return pre-stockin orders through a
// Redis-backed queue. Each subcommand lives in its own file; this package
// only wires flags to the packages that do the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/logging"
)

// Exit codes shared by every subcommand (docs/architecture.md, "Exit codes").
const (
	exitOK      = 0
	exitPartial = 1 // some items invalid or failed
	exitUsage   = 2 // usage or configuration error
)

// exitError carries an exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// silentExit ends the command with a code after it printed its own output.
type silentExit int

func (s silentExit) Error() string { return fmt.Sprintf("exit %d", int(s)) }

func main() {
	os.Exit(run(os.Args[1:]))
}

// quietRedisLogger drops go-redis's own log lines ("failed to dial after 5
// attempts"): every Redis failure already reaches the user as one error line.
type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietRedisLogger{}) }

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, stopHangup := onHangup(ctx, args, os.Stderr)
	defer stopHangup()
	root := newRoot()
	root.SetArgs(args)
	return exitCode(root.ExecuteContext(ctx), os.Stderr)
}

// longRunning are the commands that serve until stopped.
var longRunning = map[string]bool{"worker": true, "api": true, "sandbox": true, "demo": true}

// onHangup decides what SIGHUP does. Go's default is to die at once, which
// for a worker means in-flight tasks wait for their lease to expire, and
// operators (and tools such as logrotate) send SIGHUP expecting a reload. A
// long-running command does not reload its settings (restart it to apply
// them), so it says so on stderr and goes on; any other command stops as on
// Ctrl-C (the terminal went away), reporting what it did.
func onHangup(ctx context.Context, args []string, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	serving := len(args) > 0 && longRunning[args[0]]
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if !serving {
					cancel()
					continue
				}
				fmt.Fprintf(stderr, "wdtcancel %s: SIGHUP ignored: settings (flags, environment, the sellers file) are read at start only; restart the process to apply a change (SIGTERM stops it gracefully)\n", args[0])
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(hup)
		close(done)
		cancel()
	}
}

// exitCode prints err (unless the command already reported it) and maps it
// to the process exit code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var se silentExit
	if errors.As(err, &se) {
		return int(se)
	}
	fmt.Fprintln(stderr, "wdtcancel:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}

// logFlags are shared by the long-running commands.
type logFlags struct {
	format, level string
	// cmd's stderr receives the logs: os.Stderr, or what a test set.
	cmd *cobra.Command
}

func (l *logFlags) add(cmd *cobra.Command) {
	l.cmd = cmd
	cmd.Flags().StringVar(&l.format, "log-format", "json", "log format: json or console")
	cmd.Flags().StringVar(&l.level, "log-level", "info", "log level: debug, info, warn, error")
}

func (l *logFlags) logger() (*zap.Logger, error) {
	log, err := logging.New(logging.Options{Format: l.format, Level: l.level, Output: l.cmd.ErrOrStderr()})
	if err != nil {
		return nil, usageErr(err)
	}
	return log, nil
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "wdtcancel",
		Short:         "Cancel Wangdiantong return pre-stockin orders through a Redis queue",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(), // version.go
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			top := topCommand(cmd).Name()
			if err := config.ApplyEnv(top, cmd.Flags()); err != nil {
				return usageErr(err)
			}
			if err := validateFlags(top, cmd.Flags()); err != nil { // validate.go
				return usageErr(err)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(config.MaskFlagError(err)) })
	root.SetVersionTemplate("{{.Version}}\n")
	// Every subcommand, in one place (cobra lists them sorted by name).
	root.AddCommand(
		newSandboxCmd(),
		newAPICmd(),
		newBenchCmd(),
		newDemoCmd(),
		newDLQCmd(),
		newEnqueueCmd(),
		newEventsCmd(),
		newHealthcheckCmd(),
		newRedisLossCmd(),
		newRetryCmd(),
		newStatusCmd(),
		newStraysCmd(),
		newWorkerCmd(),
	)
	nameEnvInHelp(root) // helpenv.go
	return root
}

// topCommand is the subcommand of the root that cmd belongs to ("dlq" for
// `dlq ls`): the environment a command reads depends on it.
func topCommand(cmd *cobra.Command) *cobra.Command {
	for cmd.HasParent() && cmd.Parent().HasParent() {
		cmd = cmd.Parent()
	}
	return cmd
}

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
	root := newRoot()
	root.SetArgs(args)
	return exitCode(root.ExecuteContext(ctx), os.Stderr)
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
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newSandboxCmd())
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
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

// extraCommands lets each subcommand file register itself.
var extraCommands []func() *cobra.Command

package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/internal/config"
)

// nameEnvInHelp appends "(env NAME)" to the usage of every flag that reads
// an environment variable and does not name it yet, so `--help` names the
// variable of every flag, not of the few whose usage string happened to
// (config.EnvNameFor decides; flags that read none say nothing).
func nameEnvInHelp(root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.HasParent() {
			top := topCommand(cmd).Name()
			name := func(f *pflag.Flag) {
				name := config.EnvNameFor(top, f.Name)
				if name != "" && !strings.Contains(f.Usage, name) {
					f.Usage += " (env " + name + ")"
				}
			}
			cmd.Flags().VisitAll(name)
			// Persistent flags (dlq's --queue and --seller, which its
			// subcommands inherit) join Flags() only when a command parses.
			cmd.PersistentFlags().VisitAll(name)
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(root)
}

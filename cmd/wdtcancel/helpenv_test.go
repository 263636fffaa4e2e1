package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/internal/config"
)

// TestHelpNamesEveryVariable: every flag's --help line names the variable
// it reads, a flag that reads none names none, and no usage holds a
// backtick (pflag takes `text` as the value's name: "--config-fault-delay
// wdtcancel retry --held").
func TestHelpNamesEveryVariable(t *testing.T) {
	t.Parallel()
	var walk func(*cobra.Command)
	checked := 0
	walk = func(cmd *cobra.Command) {
		if cmd.HasParent() {
			top := topCommand(cmd).Name()
			check := func(f *pflag.Flag) {
				checked++
				where := cmd.CommandPath() + " --" + f.Name
				if strings.Contains(f.Usage, "`") {
					t.Errorf("%s: usage holds a backtick, which pflag reads as the value's name: %q", where, f.Usage)
				}
				name := config.EnvNameFor(top, f.Name)
				switch {
				case name != "" && !strings.Contains(f.Usage, name):
					t.Errorf("%s: usage does not name its variable %s: %q", where, name, f.Usage)
				case name == "" && strings.Contains(f.Usage, "(env "):
					t.Errorf("%s reads no variable but its usage names one: %q", where, f.Usage)
				}
			}
			cmd.Flags().VisitAll(check)
			// dlq's --queue and --seller are persistent flags, outside
			// Flags() until a command parses; they escaped this test.
			cmd.PersistentFlags().VisitAll(check)
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(newRoot())
	if checked < 100 {
		t.Fatalf("only %d flags checked: the walk missed commands", checked)
	}
}

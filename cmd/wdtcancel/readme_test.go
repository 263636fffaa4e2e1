package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestREADMEDocumentsEveryFlag keeps the configuration section honest:
// every flag of every subcommand appears in README.md.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for _, cmd := range newRoot().Commands() {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" {
				return
			}
			if !strings.Contains(readme, "`--"+f.Name) && !strings.Contains(readme, "--"+f.Name+" ") && !strings.Contains(readme, "/ `--"+f.Name) {
				t.Errorf("README does not document %s --%s", cmd.Name(), f.Name)
			}
		})
	}
}

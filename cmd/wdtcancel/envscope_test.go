package main

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/internal/config"
)

// envFlagValues runs `wdtcancel args...` with RunE replaced by a recorder, so
// the root's environment handling runs for real, and returns every flag's
// value as the command would have seen it.
func envFlagValues(t *testing.T, args ...string) (map[string]*pflag.Flag, error) {
	t.Helper()
	root := newRoot()
	sub, _, err := root.Find(args)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*pflag.Flag{}
	sub.RunE = func(cmd *cobra.Command, _ []string) error {
		cmd.Flags().VisitAll(func(f *pflag.Flag) { got[f.Name] = f })
		return nil
	}
	root.SetArgs(args)
	return got, root.Execute()
}

// everyEnvName is every variable the README and the configuration
// reference (docs/configuration.md) name and every variable any flag of any
// command maps to under the worker's rules.
func everyEnvName(t *testing.T) []string {
	set := map[string]bool{}
	for _, doc := range []string{"../../README.md", "../../docs/configuration.md"} {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile("`((?:WDTCANCEL|WDT|REDIS)_[A-Z0-9_]+)").FindAllStringSubmatch(string(raw), -1) {
			set[m[1]] = true
		}
	}
	var visit func(*cobra.Command)
	visit = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			set[config.EnvName(f.Name)] = true
			if n := config.EnvNameFor(topCommand(c).Name(), f.Name); n != "" {
				set[n] = true
			}
		})
		for _, s := range c.Commands() {
			visit(s)
		}
	}
	visit(newRoot())
	var names []string
	for n := range set {
		// The test suite's own, and the sandbox's (tested below).
		if n == "WDTCANCEL_REQUIRE_REDIS_SERVER" || n == "WDTCANCEL_REQUIRE_PROMETHEUS" || strings.HasPrefix(n, config.SandboxEnvPrefix) {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestDemoSandboxAndBenchIgnoreTheProductionEnvironment is the day-one trap:
// after `export REDIS_URL=<production>` the demo pushed its DEMO tasks into
// production, WDTCANCEL_RATE_PER_MINUTE set the sandbox's quota and
// WDTCANCEL_ORDERS broke the demo. With every variable the docs list set,
// demo and bench see only their defaults, and so does the sandbox (which
// reads only WDTCANCEL_SANDBOX_*).
func TestDemoSandboxAndBenchIgnoreTheProductionEnvironment(t *testing.T) {
	names := everyEnvName(t)
	for _, must := range []string{"REDIS_URL", "WDT_URL", "WDT_SID", "WDT_APPSECRET", "WDTCANCEL_RATE_PER_MINUTE", "WDTCANCEL_LISTEN", "WDTCANCEL_ORDERS", "WDTCANCEL_SEED"} {
		i := sort.SearchStrings(names, must)
		if i == len(names) || names[i] != must {
			t.Fatalf("%s missing from the variables under test: %v", must, names)
		}
	}
	for _, n := range names {
		t.Setenv(n, "7")
	}
	for _, cmd := range []string{"demo", "sandbox", "bench"} {
		flags, err := envFlagValues(t, cmd)
		if err != nil {
			t.Errorf("%s: %v", cmd, err)
			continue
		}
		for name, f := range flags {
			if f.Value.String() != f.DefValue {
				t.Errorf("%s --%s = %q from the environment, want its default %q", cmd, name, f.Value.String(), f.DefValue)
			}
		}
	}
}

// TestSandboxReadsOnlyItsOwnVariables: WDTCANCEL_SANDBOX_* configure the
// sandbox (docker-compose.yml uses them).
func TestSandboxReadsOnlyItsOwnVariables(t *testing.T) {
	t.Setenv("WDTCANCEL_SANDBOX_RATE_PER_MINUTE", "30")
	t.Setenv("WDTCANCEL_SANDBOX_SID", "shop1")
	t.Setenv("WDTCANCEL_SANDBOX_LISTEN", "127.0.0.1:9999")
	flags, err := envFlagValues(t, "sandbox")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"rate-per-minute": "30", "sid": "shop1", "listen": "127.0.0.1:9999"} {
		if got := flags[name].Value.String(); got != want {
			t.Errorf("sandbox --%s = %q, want %q", name, got, want)
		}
	}
}

// TestOneVariableOneMeaning: WDTCANCEL_LISTEN is the worker's ops port and
// only that; the api listens on WDTCANCEL_API_LISTEN.
func TestOneVariableOneMeaning(t *testing.T) {
	t.Setenv("WDTCANCEL_LISTEN", "127.0.0.1:18080")
	t.Setenv("WDTCANCEL_API_LISTEN", "127.0.0.1:18090")
	t.Setenv("REDIS_URL", "redis://prod:6379/0")
	w, err := envFlagValues(t, "worker")
	if err != nil {
		t.Fatal(err)
	}
	if got := w["listen"].Value.String(); got != "127.0.0.1:18080" {
		t.Errorf("worker --listen = %q, want WDTCANCEL_LISTEN", got)
	}
	if got := w["redis-url"].Value.String(); got != "redis://prod:6379/0" {
		t.Errorf("worker --redis-url = %q, want REDIS_URL", got)
	}
	a, err := envFlagValues(t, "api")
	if err != nil {
		t.Fatal(err)
	}
	if got := a["listen"].Value.String(); got != "127.0.0.1:18090" {
		t.Errorf("api --listen = %q, want WDTCANCEL_API_LISTEN", got)
	}
	// Variables that say what one run does are read from the command line only.
	t.Setenv("WDTCANCEL_ALL", "true")
	t.Setenv("WDTCANCEL_HELD", "true")
	for _, args := range [][]string{{"dlq", "purge"}, {"retry"}} {
		f, err := envFlagValues(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"all", "held"} {
			if fl := f[n]; fl != nil && fl.Value.String() != "false" {
				t.Errorf("%v --%s set from the environment", args, n)
			}
		}
	}
}

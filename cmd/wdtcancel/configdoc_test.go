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

// configDoc is the configuration reference: every flag of every command.
const configDoc = "../../docs/configuration.md"

// sharedFlagsSection is the configuration reference's section for flags
// that several commands take; a flag named there counts as documented for
// each of them.
const sharedFlagsSection = "Flags of several commands"

// docFlagRE finds a flag named in running text: `--name`, --name=, "--name "
// (not a pattern such as `--qimen-*`, which ends in a hyphen).
var docFlagRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9-])--([a-z][a-z0-9-]*)`)

// placeholderFlag is the page's stand-in in the rule "every flag
// `--some-flag` also reads `WDTCANCEL_SOME_FLAG`"; it is no flag.
const placeholderFlag = "some-flag"

// docSections splits a markdown page into its "## " sections by heading
// (backticks dropped), outside code blocks.
func docSections(text string) map[string]string {
	sections := map[string]string{}
	title, fence := "", false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(line, "## ") {
			title = strings.ReplaceAll(strings.TrimPrefix(line, "## "), "`", "")
			continue
		}
		sections[title] += line + "\n"
	}
	return sections
}

// namedFlags is the set of flags a text names.
func namedFlags(text string) map[string]bool {
	set := map[string]bool{}
	for _, m := range docFlagRE.FindAllStringSubmatch(text, -1) {
		if !strings.HasSuffix(m[1], "-") {
			set[m[1]] = true
		}
	}
	return set
}

// commandFlags is every flag of every command under root, by the top-level
// command it belongs to (a subcommand's flags count for its parent: `dlq ls
// --sort` is documented in the `wdtcancel dlq` section).
func commandFlags(root *cobra.Command) map[string]map[string]bool {
	byTop := map[string]map[string]bool{}
	var visit func(top string, c *cobra.Command)
	visit = func(top string, c *cobra.Command) {
		add := func(f *pflag.Flag) {
			if f.Name == "help" {
				return
			}
			if byTop[top] == nil {
				byTop[top] = map[string]bool{}
			}
			byTop[top][f.Name] = true
		}
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, s := range c.Commands() {
			visit(top, s)
		}
	}
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		visit(c.Name(), c)
	}
	return byTop
}

// TestConfigurationDocListsEveryFlag keeps docs/configuration.md true both
// ways: every flag of every command and subcommand is named in the
// command's own section ("## `wdtcancel NAME`") or among the flags of
// several commands, and every flag the page names is a flag some command
// has, so a renamed or removed flag cannot linger there.
func TestConfigurationDocListsEveryFlag(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	sections := docSections(string(raw))
	shared, ok := sections[sharedFlagsSection]
	if !ok {
		t.Fatalf("%s has no section %q: the flags several commands take are documented there", configDoc, "## "+sharedFlagsSection)
	}
	sharedNamed := namedFlags(shared)
	all := map[string]bool{"version": true, placeholderFlag: true} // the root's --version
	byTop := commandFlags(newRoot())
	if len(byTop) < 10 {
		t.Fatalf("only %d commands with flags found: the walk over the commands is broken", len(byTop))
	}
	var tops []string
	for top := range byTop {
		tops = append(tops, top)
	}
	sort.Strings(tops)
	for _, top := range tops {
		own, ok := sections["wdtcancel "+top]
		if !ok {
			t.Errorf("%s has no section \"## `wdtcancel %s`\": add one naming each of its flags", configDoc, top)
		}
		ownNamed := namedFlags(own)
		var flags []string
		for f := range byTop[top] {
			all[f] = true
			flags = append(flags, f)
		}
		sort.Strings(flags)
		for _, f := range flags {
			if !ownNamed[f] && !sharedNamed[f] {
				t.Errorf("%s does not document wdtcancel %s --%s: name it in \"## `wdtcancel %s`\" (or, if several commands take it, in %q)", configDoc, top, f, top, "## "+sharedFlagsSection)
			}
		}
	}
	var stale []string
	for f := range namedFlags(string(raw)) {
		if !all[f] {
			stale = append(stale, "--"+f)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("%s names flags no command has: %v (renamed or removed? fix the page)", configDoc, stale)
	}
}

// docTableRowRE is a row of a flag table: `| `--a` / `--b` | `ENV_A` / `_B` | ...`.
var docTableRowRE = regexp.MustCompile("^\\| (`--[^|]+) \\| ([^|]+) \\|")

// docRowVariables pairs the flags of one table row with the variables its
// env column names; "`WDTCANCEL_LOG_FORMAT` / `_LEVEL`" abbreviates
// WDTCANCEL_LOG_LEVEL, and "–" means none.
func docRowVariables(flagCell, envCell string) (map[string]string, bool) {
	strip := func(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
	flags := strings.Split(flagCell, " / ")
	envs := strings.Split(envCell, " / ")
	if strip(envCell) == "–" {
		envs = nil
	} else if len(envs) != len(flags) {
		return nil, false
	}
	pairs := map[string]string{}
	for i, f := range flags {
		name := strings.TrimPrefix(strip(f), "--")
		if envs == nil {
			pairs[name] = ""
			continue
		}
		env := strip(envs[i])
		if strings.HasPrefix(env, "_") {
			first := strip(envs[0])
			env = first[:strings.LastIndex(first, "_")] + env
		}
		pairs[name] = env
	}
	return pairs, true
}

// TestConfigurationDocNamesEachFlagsVariable: the env column of the
// configuration reference's flag tables is the variable the flag reads
// (config.EnvNameFor) for every command the row is about: the command of
// the section, or, in the table of flags several commands take, each
// command with that flag that reads a variable for it (the sandbox has its
// own WDTCANCEL_SANDBOX_* and is not checked there).
func TestConfigurationDocNamesEachFlagsVariable(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	byTop := commandFlags(newRoot())
	rows := 0
	for title, text := range docSections(string(raw)) {
		var commands []string
		switch {
		case title == sharedFlagsSection:
			for top := range byTop {
				if top != "sandbox" {
					commands = append(commands, top)
				}
			}
		case strings.HasPrefix(title, "wdtcancel "):
			commands = []string{strings.TrimPrefix(title, "wdtcancel ")}
		default:
			continue
		}
		sort.Strings(commands)
		for _, line := range strings.Split(text, "\n") {
			m := docTableRowRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			pairs, ok := docRowVariables(m[1], m[2])
			if !ok {
				t.Errorf("%s, %q: the env column does not name one variable per flag (or –): %q", configDoc, title, line)
				continue
			}
			rows++
			for flag, want := range pairs {
				readBy := 0
				for _, cmd := range commands {
					if !byTop[cmd][flag] {
						continue
					}
					got := config.EnvNameFor(cmd, flag)
					switch {
					case got == want && got != "":
						readBy++
					case got != "" && got != want:
						t.Errorf("%s, %q: --%s is documented with %q, but wdtcancel %s reads %s", configDoc, title, flag, want, cmd, got)
					case got == "" && want != "" && title != sharedFlagsSection:
						t.Errorf("%s, %q: --%s is documented with %q, but wdtcancel %s reads no variable for it", configDoc, title, flag, want, cmd)
					}
				}
				if want != "" && readBy == 0 {
					t.Errorf("%s, %q: --%s is documented with %q, which no command reads for it", configDoc, title, flag, want)
				}
			}
		}
	}
	if rows < 40 {
		t.Fatalf("only %d flag table rows found in %s: the parse is broken", rows, configDoc)
	}
}

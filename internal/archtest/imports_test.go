package archtest

import (
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// An importRule forbids packages matching from to reach packages matching
// to. Direct rules look at what a package's non-test files import; the
// others at everything it links (go list -deps), since a library that
// links the WDT client through a helper links it all the same.
type importRule struct {
	name     string
	from, to func(pkg string) bool
	direct   bool
	why      string
}

// under reports whether pkg is p or one of its sub-packages.
func under(p string) func(string) bool {
	return func(pkg string) bool { return pkg == p || strings.HasPrefix(pkg, p+"/") }
}

func anyOf(fs ...func(string) bool) func(string) bool {
	return func(pkg string) bool {
		for _, f := range fs {
			if f(pkg) {
				return true
			}
		}
		return false
	}
}

func not(f func(string) bool) func(string) bool { return func(pkg string) bool { return !f(pkg) } }

func is(p string) func(string) bool { return func(pkg string) bool { return pkg == p } }

var testKits = under("internal/testkit")

// importRules is the map of docs/architecture.md ("Dependencies point one
// way"). Package paths are relative to the module.
var importRules = []importRule{
	{name: "internal is plumbing", from: under("internal"), to: anyOf(under("worker"), under("enqueue")), direct: true,
		why: "internal/ packages know nothing of the policy or of either side; what both sides share belongs in tasks"},
	{name: "the contract is a leaf", from: under("tasks"), to: not(under("tasks")),
		why: "tasks imports nothing of ours, so a producer written against it cannot disagree with a worker"},
	{name: "producers do not link the worker", from: under("enqueue"), to: under("worker"),
		why: "enqueue and worker meet only in tasks and internal/store; a producer must not link the WDT client"},
	{name: "workers do not link the producers", from: under("worker"), to: under("enqueue"),
		why: "enqueue and worker meet only in tasks and internal/store"},
	{name: "the WDT client knows WDT, not queues", from: is("worker/wdt"), to: not(under("tasks/outcome")),
		why: "worker/wdt maps answers onto the contract's categories (tasks/outcome); the worker decides what they mean"},
	{name: "test kits stay in tests", from: not(testKits), to: testKits, direct: true,
		why: "only _test.go files may import a test kit, so nothing shipped links testing"},
}

// importDebts are today's exceptions to importRules, "from -> to" (for a
// rule on what a package links, to is the package reached). Each is a
// known debt: the test fails when one disappears (delete its line) and when
// a new one appears (fix the import). None today: the last three (config,
// reconcile and runview reaching the worker side) were paid in issue 21.
var importDebts = map[string]string{}

// graph maps each package of the module (relative path) to the packages
// of the module its non-test files import.
type graph map[string][]string

// loadGraph lists the module's packages with go list.
func loadGraph(t *testing.T) graph {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH (%v): the import rules are read with go list", err)
	}
	mod, err := exec.Command(goBin, "list", "-m").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	prefix := strings.TrimSpace(string(mod)) + "/"
	cmd := exec.Command(goBin, "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	g := graph{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], prefix)
		g[pkg] = nil
		for _, imp := range f[1:] {
			if rel, ok := strings.CutPrefix(imp, prefix); ok {
				g[pkg] = append(g[pkg], rel)
			}
		}
	}
	if len(g) < 10 {
		t.Fatalf("go list found %d packages: %q; run the test from its own directory", len(g), out)
	}
	return g
}

// path is the shortest import chain from a to b, or nil.
func (g graph) path(a, b string) []string {
	prev := map[string]string{a: ""}
	queue := []string{a}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == b {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, q := range g[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return nil
}

// violations are the arrows that break a rule, "from -> to" mapped to a
// line that says which rule, why and through which chain.
func (g graph) violations(rules []importRule) map[string]string {
	found := map[string]string{}
	for _, r := range rules {
		for from := range g {
			if !r.from(from) {
				continue
			}
			targets := g[from]
			if !r.direct {
				targets = nil
				for to := range g {
					if to != from && g.path(from, to) != nil {
						targets = append(targets, to)
					}
				}
			}
			for _, to := range targets {
				if !r.to(to) {
					continue
				}
				arrow := from + " -> " + to
				found[arrow] = fmt.Sprintf("%s (%s: %s) via %s", arrow, r.name, r.why, strings.Join(g.path(from, to), " -> "))
			}
		}
	}
	return found
}

// compare reports arrows that are not debts and debts that are gone.
func compare(found, debts map[string]string) (newArrows, paidDebts []string) {
	for arrow, line := range found {
		if _, ok := debts[arrow]; !ok {
			newArrows = append(newArrows, line)
		}
	}
	for arrow := range debts {
		if _, ok := found[arrow]; !ok {
			paidDebts = append(paidDebts, arrow)
		}
	}
	sort.Strings(newArrows)
	sort.Strings(paidDebts)
	return newArrows, paidDebts
}

// TestImportsPointOneWay holds docs/architecture.md's dependency map true.
func TestImportsPointOneWay(t *testing.T) {
	t.Parallel()
	newArrows, paid := compare(loadGraph(t).violations(importRules), importDebts)
	for _, line := range newArrows {
		t.Errorf("forbidden import: %s; fix the import (see docs/architecture.md, \"Dependencies point one way\")", line)
	}
	for _, arrow := range paid {
		t.Errorf("the import debt %q is paid: delete it from importDebts", arrow)
	}
}

// TestImportRulesCatch runs the rules on small made-up graphs, so the test
// above is known to fail when an arrow runs the wrong way.
func TestImportRulesCatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		g    graph
		want []string
	}{
		{"clean", graph{"enqueue": {"tasks", "internal/store"}, "internal/store": {"tasks"}, "tasks": nil,
			"worker": {"worker/wdt", "internal/store"}, "worker/wdt": nil}, nil},
		{"internal imports the worker", graph{"internal/store": {"worker/wdt"}, "worker/wdt": nil},
			[]string{"internal/store -> worker/wdt"}},
		{"producer links the worker through internal", graph{"enqueue": {"internal/store"}, "internal/store": {"worker/wdt"}, "worker/wdt": nil},
			[]string{"enqueue -> worker/wdt", "internal/store -> worker/wdt"}},
		{"the contract imports the worker", graph{"tasks": {"worker/wdt"}, "worker/wdt": nil},
			[]string{"tasks -> worker/wdt"}},
		{"the contract's own sub-package is fine", graph{"tasks": {"tasks/outcome"}, "tasks/outcome": nil, "worker/wdt": {"tasks/outcome"}}, nil},
		{"the WDT client links the task contract", graph{"worker/wdt": {"tasks"}, "tasks": nil},
			[]string{"worker/wdt -> tasks"}},
		{"worker links enqueue", graph{"worker": {"enqueue"}, "enqueue": nil},
			[]string{"worker -> enqueue"}},
		{"shipped code imports the test kit", graph{"worker": {"internal/testkit"}, "internal/testkit": {"internal/redisserver"}, "internal/redisserver": nil},
			[]string{"worker -> internal/testkit"}},
		{"shipped code imports the kit's sub-package", graph{"internal/reconcile": {"internal/testkit/runview"}, "internal/testkit/runview": {"internal/testkit"}, "internal/testkit": nil},
			[]string{"internal/reconcile -> internal/testkit/runview"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for arrow := range tt.g.violations(importRules) {
				got = append(got, arrow)
			}
			sort.Strings(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("violations %q, want %q", got, tt.want)
			}
		})
	}
	newArrows, paid := compare(map[string]string{"a -> b": "a -> b (rule)"}, map[string]string{"c -> d": "why"})
	if !slices.Equal(newArrows, []string{"a -> b (rule)"}) || !slices.Equal(paid, []string{"c -> d"}) {
		t.Errorf("compare: new %q, paid %q", newArrows, paid)
	}
}

package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// maxComplexity is the highest cyclomatic complexity a non-test function
// may have: above it a function is hard to read whole and hard to test
// branch by branch (issue 21; asynq averages 2.9, river 3.1).
const maxComplexity = 15

// complexityDebts are the functions above maxComplexity today, with their
// complexity when the guard came in. Each is a known debt: it may go down,
// never up; a new function above the limit fails, and so does an entry
// whose function is gone or back within the limit (delete the entry).
var complexityDebts = map[string]int{}

// complexity is gocyclo's measure (github.com/fzipp/gocyclo): 1, plus one
// per if, for, range, non-default case and select case, && and ||. Function
// literals count toward the function that holds them.
func complexity(fn ast.Node) int {
	c := 1
	ast.Inspect(fn, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			c++
		case *ast.CaseClause:
			if n.List != nil {
				c++
			}
		case *ast.CommClause:
			if n.Comm != nil {
				c++
			}
		case *ast.BinaryExpr:
			if n.Op == token.LAND || n.Op == token.LOR {
				c++
			}
		}
		return true
	})
	return c
}

// funcName is "Name", "T.Name" or "(*T).Name".
func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	typ := d.Recv.List[0].Type
	star := false
	if s, ok := typ.(*ast.StarExpr); ok {
		typ, star = s.X, true
	}
	if ix, ok := typ.(*ast.IndexExpr); ok { // a generic receiver T[K]
		typ = ix.X
	} else if ix, ok := typ.(*ast.IndexListExpr); ok {
		typ = ix.X
	}
	name := fmt.Sprint(typ)
	if star {
		return "(*" + name + ")." + d.Name.Name
	}
	return name + "." + d.Name.Name
}

// complexities measures every function of the non-test Go files under
// root, keyed "dir.Func" with dir relative to root.
func complexities(t *testing.T, root string) map[string]int {
	t.Helper()
	out := map[string]int{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Body != nil {
				out[filepath.ToSlash(dir)+"."+funcName(fn)] = complexity(fn)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the module's Go files: %v", err)
	}
	if len(out) < 100 {
		t.Fatalf("found %d functions under %s: the walk missed the module", len(out), root)
	}
	return out
}

// complexityProblems compares measured complexities with the debts.
func complexityProblems(got, debts map[string]int, limit int) []string {
	var problems []string
	for fn, c := range got {
		debt, known := debts[fn]
		switch {
		case c > limit && !known:
			problems = append(problems, fmt.Sprintf("%s has cyclomatic complexity %d, above %d: split it (a helper per branch, a table, an early return)", fn, c, limit))
		case known && c > debt:
			problems = append(problems, fmt.Sprintf("%s has cyclomatic complexity %d, up from its known %d: a debt may shrink, never grow; split it", fn, c, debt))
		case known && c <= limit:
			problems = append(problems, fmt.Sprintf("%s is down to complexity %d, within %d: delete it from complexityDebts", fn, c, limit))
		}
	}
	for fn := range debts {
		if _, ok := got[fn]; !ok {
			problems = append(problems, fmt.Sprintf("%s is gone: delete it from complexityDebts", fn))
		}
	}
	sort.Strings(problems)
	return problems
}

// TestComplexityGuard fails on a non-test function above maxComplexity
// that is not a listed debt, and on a debt that grew.
func TestComplexityGuard(t *testing.T) {
	t.Parallel()
	got := complexities(t, "../..")
	for _, p := range complexityProblems(got, complexityDebts, maxComplexity) {
		t.Error(p)
	}
	sum := 0
	for fn, c := range got {
		sum += c
		if debt, ok := complexityDebts[fn]; ok && c < debt {
			t.Logf("%s is down to %d from %d: lower its entry", fn, c, debt)
		}
	}
	t.Logf("%d functions, average complexity %.2f", len(got), float64(sum)/float64(len(got)))
}

// TestComplexityCounts checks the counter on small functions, and the
// comparison on made-up figures.
func TestComplexityCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      int
	}{
		{"straight", `func f() { g() }`, 1},
		{"if and else", `func f(a bool) { if a { g() } else { h() } }`, 2},
		{"loops", `func f(s []int) { for i := 0; i < 3; i++ {}; for range s {} }`, 3},
		{"switch without default", `func f(x int) { switch x { case 1: case 2, 3: default: } }`, 3},
		{"select", `func f(c chan int) { select { case <-c: case c <- 1: default: } }`, 3},
		{"boolean operators", `func f(a, b, c bool) bool { return a && b || c }`, 3},
		{"closures count", `func f() { g := func(a bool) { if a {} }; g(true) }`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parser.ParseFile(token.NewFileSet(), "x.go", "package x\n"+tt.src, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := complexity(f.Decls[0]); got != tt.want {
				t.Errorf("complexity %d, want %d", got, tt.want)
			}
		})
	}
	got := map[string]int{"a.ok": 3, "a.new": 16, "a.grew": 21, "a.shrank": 18, "a.paid": 15}
	debts := map[string]int{"a.grew": 20, "a.shrank": 19, "a.paid": 17, "a.gone": 30}
	want := []string{"a.gone is gone", "a.grew has cyclomatic complexity 21, up from its known 20", "a.new has cyclomatic complexity 16, above 15", "a.paid is down to complexity 15"}
	problems := complexityProblems(got, debts, 15)
	if len(problems) != len(want) {
		t.Fatalf("problems %q, want %d", problems, len(want))
	}
	for i, p := range problems {
		if !strings.HasPrefix(p, want[i]) {
			t.Errorf("problem %q, want it to start %q", p, want[i])
		}
	}
}

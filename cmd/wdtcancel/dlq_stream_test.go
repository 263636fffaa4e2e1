package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

func TestDLQLsLimitAndSort(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	var nos []string
	for i := range 30 {
		nos = append(nos, fmt.Sprintf("LS%02d", i))
	}
	putDead(t, r, nos...)
	ctx := context.Background()
	out, errOut, code := runCmd(t, ctx, "", "dlq", "ls", "--redis-url", r.URL(), "--limit", "5")
	if code != exitOK || strings.Count(out, "\nLS") != 5 || !strings.Contains(out, "5 of 30 dead-lettered shown") {
		t.Fatalf("ls --limit 5: exit %d out %q err %q", code, out, errOut)
	}
	out, _, code = runCmd(t, ctx, "", "dlq", "ls", "--redis-url", r.URL(), "--json", "--limit", "2")
	var recs []map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 2 {
		t.Fatalf("ls --json --limit 2: exit %d out %q", code, out)
	}
	out, _, code = runCmd(t, ctx, "", "dlq", "ls", "--redis-url", r.URL(), "--json", "--sort")
	if code != exitOK || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 30 {
		t.Fatalf("ls --json --sort: exit %d out %q", code, out)
	}
	out, _, code = runCmd(t, ctx, "", "dlq", "ls", "--redis-url", r.URL(), "--json")
	if code != exitOK || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 30 {
		t.Fatalf("ls --json: exit %d out %q", code, out)
	}
	out, errOut, code = runCmd(t, ctx, "", "dlq", "requeue", "--all", "--redis-url", r.URL())
	if code != exitOK || !strings.Contains(out, "requeued 30, failed 0") {
		t.Fatalf("requeue --all: exit %d out %q err %q", code, out, errOut)
	}
	out, _, _ = runCmd(t, ctx, "", "dlq", "ls", "--redis-url", r.URL(), "--json")
	if strings.TrimSpace(out) != "[]" {
		t.Fatalf("after requeue --all: %q", out)
	}
}

// TestDLQLsColumnsAlign: the streamed table keeps every row's columns under
// the header, page after page (a tabwriter flushed per page did not).
func TestDLQLsColumnsAlign(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	var nos []string
	for i := range 250 {
		nos = append(nos, fmt.Sprintf("AL%0*d", 2+i%7, i))
	}
	putDead(t, r, nos...)
	out, errOut, code := runCmd(t, context.Background(), "", "dlq", "ls", "--redis-url", r.URL())
	if code != exitOK {
		t.Fatalf("ls: exit %d %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	col := strings.Index(lines[0], "CATEGORY")
	rows := 0
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "AL") {
			continue
		}
		rows++
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Fatalf("row out of line with the header (CATEGORY at %d):\n%s\n%s", col, lines[0], l)
		}
	}
	if rows != len(nos) {
		t.Fatalf("%d rows, want %d", rows, len(nos))
	}
}

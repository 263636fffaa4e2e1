package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/redistest"
)

func TestDLQLsLimitAndSort(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
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

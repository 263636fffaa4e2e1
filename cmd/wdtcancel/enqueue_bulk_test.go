package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// An Excel "UTF-8" export starts with a byte-order mark: the first number
// must not be refused for it, and a bad line is reported with its line.
func TestEnqueueFileWithBOMAndLineNumbers(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	file := filepath.Join(t.TempDir(), "export.csv")
	os.WriteFile(file, []byte("\ufeffRK1\r\n# note\r\nRK2\r\nRK 3\r\n"), 0o644)
	out, errOut, code := runCmd(t, context.Background(), "", "enqueue", "--redis-url", r.URL(), "--json", "--file", file)
	var sum struct {
		Enqueued, Invalid int
		Items             []struct{ PreStockinNo, Error string }
	}
	if code != exitPartial || json.Unmarshal([]byte(out), &sum) != nil {
		t.Fatalf("exit %d out %q err %q", code, out, errOut)
	}
	if sum.Enqueued != 2 || sum.Invalid != 1 || len(sum.Items) != 1 {
		t.Fatalf("want RK1, RK2 enqueued and RK 3 invalid: %s", out)
	}
	if want := file + " line 4: "; !strings.HasPrefix(sum.Items[0].Error, want) {
		t.Fatalf("invalid item error %q does not start with %q", sum.Items[0].Error, want)
	}
}

// A re-run of a large file must not print one line per duplicate.
func TestEnqueueRerunIsNotAWallOfDuplicates(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	var b strings.Builder
	for i := range 500 {
		fmt.Fprintf(&b, "RR%04d\n", i)
	}
	ctx := context.Background()
	if _, errOut, code := runCmd(t, ctx, b.String(), "enqueue", "--redis-url", r.URL(), "-"); code != exitOK {
		t.Fatalf("first run: exit %d %s", code, errOut)
	}
	out, _, code := runCmd(t, ctx, b.String(), "enqueue", "--redis-url", r.URL(), "-")
	if code != exitOK || strings.Count(out, "\n") > maxDuplicateLines+2 || !strings.Contains(out, "duplicate 500") || !strings.Contains(out, "400 more duplicate lines") {
		t.Fatalf("re-run printed %d lines, exit %d; tail %q", strings.Count(out, "\n"), code, out[max(0, len(out)-200):])
	}
	out, _, code = runCmd(t, ctx, b.String(), "enqueue", "--redis-url", r.URL(), "--quiet", "-")
	if code != exitOK || out != "enqueued 0, duplicate 500, invalid 0, failed 0\n" {
		t.Fatalf("--quiet: exit %d out %q", code, out)
	}
	out, _, code = runCmd(t, ctx, b.String(), "enqueue", "--redis-url", r.URL(), "--quiet", "--json", "-")
	var sum struct {
		Duplicate int
		Items     []json.RawMessage
	}
	if code != exitOK || json.Unmarshal([]byte(out), &sum) != nil || sum.Duplicate != 500 || len(sum.Items) != 0 {
		t.Fatalf("--quiet --json: exit %d out %q", code, out)
	}
}

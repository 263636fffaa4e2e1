package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// putDead writes dead-letter records straight into r.
func putDead(t *testing.T, r *testkit.Redis, nos ...string) *store.DLQ {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	d := store.NewDLQ(rdb, tasks.DefaultQueue)
	for _, no := range nos {
		if err := d.Put(context.Background(), store.Record{PreStockinNo: no, Category: wdt.Rejected, Error: "rejected"}); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// putRaw writes a stored value that is not a record.
func putRaw(t *testing.T, r *testkit.Redis, no, raw string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	if err := rdb.HSet(context.Background(), store.DeadLetterKey(tasks.DefaultQueue), no, raw).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestDLQUnknownSubcommandIsAUsageError(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"dlq", "lst"}, {"dlq"}} {
		out, errOut, code := runCmd(t, context.Background(), "", args...)
		if code != exitUsage || !strings.Contains(errOut, "ls, show, requeue or purge") || out != "" {
			t.Errorf("%v: exit %d stdout %q stderr %q; want exit 2 and one line on stderr", args, code, out, errOut)
		}
	}
}

func TestDLQPurgeAllNeedsYes(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	d := putDead(t, r, "RK1", "RK2")
	ctx := context.Background()
	_, errOut, code := runCmd(t, ctx, "", "dlq", "purge", "--all", "--redis-url", r.URL())
	if code != exitUsage || !strings.Contains(errOut, "--yes") {
		t.Fatalf("purge --all without --yes on a pipe: exit %d stderr %q", code, errOut)
	}
	if n, _ := d.Count(ctx); n != 2 {
		t.Fatalf("purge --all without --yes purged: %d left", n)
	}
	out, errOut, code := runCmd(t, ctx, "", "dlq", "purge", "--all", "--yes", "--redis-url", r.URL())
	if code != exitOK || !strings.Contains(out, "purged 2, failed 0") {
		t.Fatalf("purge --all --yes: exit %d out %q err %q", code, out, errOut)
	}
}

func TestDLQFailureLineNamesTheNumberOnce(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	for _, verb := range []string{"requeue", "purge"} {
		_, errOut, code := runCmd(t, context.Background(), "", "dlq", verb, "--redis-url", r.URL(), "RK0003")
		if code != exitPartial || strings.Count(errOut, "RK0003") != 1 {
			t.Errorf("%s: exit %d stderr %q; want the number once", verb, code, errOut)
		}
	}
}

// A script reading --json gets a JSON object and a non-zero exit for a
// missing or corrupt record, never an empty stdout with exit 0.
func TestJSONErrorsOfMissingAndCorruptRecords(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	putRaw(t, r, "BAD1", "{not json")
	putRaw(t, r, "BAD2", `"a string"`)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"dlq", "show", "--json", "NOPE1"}, "no dead-letter record"},
		{[]string{"dlq", "show", "--json", "BAD1"}, "corrupt"},
		{[]string{"dlq", "show", "--json", "BAD2"}, "corrupt"},
		{[]string{"status", "--json", "BAD1"}, "corrupt"},
		{[]string{"status", "--json", "BAD2"}, "corrupt"},
	}
	for _, tt := range tests {
		out, errOut, code := runCmd(t, context.Background(), "", append(tt.args, "--redis-url", r.URL())...)
		var got struct {
			No    string `json:"pre_stockin_no"`
			Error string `json:"error"`
		}
		if code == exitOK || json.Unmarshal([]byte(out), &got) != nil || !strings.Contains(got.Error, tt.want) || got.No != tt.args[len(tt.args)-1] {
			t.Errorf("%v: exit %d stdout %q stderr %q; want a JSON error naming %q and a non-zero exit", tt.args, code, out, errOut, tt.want)
		}
	}
}

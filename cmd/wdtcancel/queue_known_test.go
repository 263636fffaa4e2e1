package main

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// TestEnqueueRefusesUnknownBaseQueue: a --queue no worker has ever served
// a seller of (a typo: its tasks would wait for nobody, reported by no
// worker) is refused, exit 2 with the fix and nothing enqueued, unless
// --allow-unknown-seller; a base queue a worker announced any seller of
// is accepted, and so is the default wdt-cancel always.
func TestEnqueueRefusesUnknownBaseQueue(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	url := r.URL()
	announceSellersOf(t, r, "wdt-other", "acme")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a typo'd --queue", []string{"--queue", "wdt-cancle", "RK1"}, exitUsage, "check --queue"},
		{"a typo'd --queue, allowed", []string{"--queue", "wdt-cancle", "--allow-unknown-seller", "RK2"}, exitOK, "enqueued 1"},
		{"a base queue served for another seller", []string{"--queue", "wdt-other", "RK3"}, exitOK, "enqueued 1"},
		{"the default base queue", []string{"RK4"}, exitOK, "enqueued 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCmd(t, ctx, "", append(append([]string{"enqueue"}, tc.args...), "--redis-url", url)...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Fatalf("exit %d, want %d saying %q; out %q err %q", code, tc.code, tc.want, out, errOut)
			}
		})
	}
	if _, err := taskIn(t, r, "wdt-cancle", "RK1"); err == nil {
		t.Fatal("the refused enqueue left a task")
	}
}

// announceSellersOf makes sellers of base queue base announced in r, as
// workers serving them with --queue base do.
func announceSellersOf(t *testing.T, r *testkit.Redis, base string, sellers ...string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	for _, s := range sellers {
		if err := store.Announce(context.Background(), rdb, tasks.QueueFor(base, s)); err != nil {
			t.Fatal(err)
		}
	}
}

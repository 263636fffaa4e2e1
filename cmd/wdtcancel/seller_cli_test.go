package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// putSellerDead writes dead-letter records of seller straight into r, as
// the worker does (the record names its seller unless old is set: a record
// written before sellers existed).
func putSellerDead(t *testing.T, r *testkit.Redis, seller string, old bool, nos ...string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	d, err := store.NewSellerDLQ(rdb, tasks.DefaultQueue, seller)
	if err != nil {
		t.Fatal(err)
	}
	for i, no := range nos {
		rec := store.Record{PreStockinNo: no, Category: wdt.Rejected, Error: "rejected", Source: "erp",
			DeadLetteredAt: time.Date(2026, 11, 27, 0, 0, i, 0, time.UTC)}
		if !old {
			rec.Seller = seller
		}
		if err := d.Put(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}

// announceSellers makes sellers announced in r, as workers serving them do.
func announceSellers(t *testing.T, r *testkit.Redis, sellers ...string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	for _, s := range sellers {
		if err := store.Announce(context.Background(), rdb, tasks.QueueFor(tasks.DefaultQueue, s)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEnqueueRefusesUnannouncedSeller: a seller no worker has announced
// (a typo) is refused, exit 2 with the fix, nothing enqueued and no input
// read; --allow-unknown-seller (or its variable) enqueues anyway.
func TestEnqueueRefusesUnannouncedSeller(t *testing.T) {
	r := testkit.NewRedis(t)
	ctx := context.Background()
	announceSellers(t, r, "acme")
	out, errOut, code := runCmd(t, ctx, "", "enqueue", "--redis-url", r.URL(), "--seller", "acne", "RK1")
	if code != exitUsage || !strings.Contains(errOut, `seller "acne"`) || !strings.Contains(errOut, "--allow-unknown-seller") {
		t.Fatalf("unannounced seller: exit %d out %q err %q", code, out, errOut)
	}
	if _, err := taskIn(t, r, "wdt-cancel:acne", "RK1"); err == nil {
		t.Fatal("a task was enqueued for the unannounced seller")
	}
	for _, tc := range []struct {
		name, seller string
		extra        []string
		env          string
	}{
		{"announced", "acme", nil, ""},
		{"flag", "acne", []string{"--allow-unknown-seller"}, ""},
		{"variable", "shop-9", nil, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("WDTCANCEL_ALLOW_UNKNOWN_SELLER", tc.env)
			}
			args := append([]string{"enqueue", "--redis-url", r.URL(), "--seller", tc.seller, "RK2"}, tc.extra...)
			if out, errOut, code := runCmd(t, ctx, "", args...); code != exitOK {
				t.Fatalf("exit %d out %q err %q", code, out, errOut)
			}
			if _, err := taskIn(t, r, tasks.QueueFor(tasks.DefaultQueue, tc.seller), "RK2"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// taskIn is the payload of task no in queue, decoded as the worker does.
func taskIn(t *testing.T, r *testkit.Redis, queue, no string) (tasks.Payload, error) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(queue, no)
	if err != nil {
		return tasks.Payload{}, err
	}
	return tasks.DecodePayload(info.Payload)
}

// TestSellerFlagRefusesBadNames: every command taking --seller refuses a bad
// name with exit 2, the reason and the rule, before reaching for Redis (the
// URL here has nothing listening).
func TestSellerFlagRefusesBadNames(t *testing.T) {
	t.Parallel()
	commands := [][]string{
		{"enqueue", "RK1"}, {"status", "RK1"}, {"dlq", "ls"}, {"dlq", "ls", "--all-sellers"},
		{"dlq", "show", "RK1"}, {"dlq", "requeue", "RK1"}, {"dlq", "purge", "RK1"},
	}
	names := []struct{ name, reason string }{
		{"Acme", "must start with a lower-case letter"},
		{"a:b", "not allowed"},
		{"", "empty"},
		{strings.Repeat("x", 33), "longer than 32"},
	}
	for _, c := range commands {
		for _, n := range names {
			args := append(append([]string{}, c...), "--seller", n.name, "--redis-url", "redis://127.0.0.1:1/0")
			out, errOut, code := runCmd(t, context.Background(), "", args...)
			if code != exitUsage || !strings.Contains(errOut, n.reason) || !strings.Contains(errOut, "1-32 lower-case letters") ||
				!strings.Contains(errOut, "--seller") || strings.Contains(errOut, "127.0.0.1:1") || out != "" {
				t.Errorf("%v: exit %d stdout %q stderr %q; want exit 2 naming %q and the rule", args, code, out, errOut, n.reason)
			}
		}
	}
}

// TestSellerFromEnv: WDTCANCEL_SELLER is --seller's variable, and a bad
// value from it is refused the same way. (Not parallel: it sets the
// environment.)
func TestSellerFromEnv(t *testing.T) {
	r := testkit.NewRedis(t)
	ctx := context.Background()
	t.Setenv("WDTCANCEL_SELLER", "acme")
	announceSellers(t, r, "acme")
	if out, errOut, code := runCmd(t, ctx, "", "enqueue", "--redis-url", r.URL(), "RK1"); code != exitOK || !strings.Contains(out, "(seller acme)") {
		t.Fatalf("enqueue: exit %d out %q err %q", code, out, errOut)
	}
	if p, err := taskIn(t, r, "wdt-cancel:acme", "RK1"); err != nil || p.Seller != "acme" {
		t.Fatalf("task %+v %v", p, err)
	}
	if out, _, code := runCmd(t, ctx, "", "status", "--redis-url", r.URL(), "RK1"); code != exitOK || !strings.Contains(out, "seller:        acme") {
		t.Fatalf("status: exit %d out %q", code, out)
	}
	// The flag wins over the variable.
	if out, _, code := runCmd(t, ctx, "", "status", "--seller", "default", "--redis-url", r.URL(), "RK1"); code != exitPartial || !strings.Contains(out, "unknown") {
		t.Fatalf("status --seller default: exit %d out %q", code, out)
	}
	t.Setenv("WDTCANCEL_SELLER", "Bad")
	if _, errOut, code := runCmd(t, ctx, "", "dlq", "ls", "--redis-url", r.URL()); code != exitUsage || !strings.Contains(errOut, "WDTCANCEL_SELLER") {
		t.Fatalf("bad env seller: exit %d err %q", code, errOut)
	}
}

// TestEnqueueAndStatusPerSeller: the same number for two sellers is two
// tasks, both enqueued; each is a duplicate only within its seller; status
// looks in the seller's queue and says whose it is; a task enqueued before
// sellers existed is the default seller's.
func TestEnqueueAndStatusPerSeller(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	url := r.URL()
	announceSellers(t, r, "acme", "shop-7", "shop_7")
	enq := func(seller string, nos ...string) map[string]any {
		t.Helper()
		args := append([]string{"enqueue", "--json", "--redis-url", url}, nos...)
		if seller != "" {
			args = append(args, "--seller", seller)
		}
		out, errOut, code := runCmd(t, ctx, "", args...)
		var m map[string]any
		if code != exitOK || json.Unmarshal([]byte(out), &m) != nil {
			t.Fatalf("enqueue --seller %q: exit %d out %q err %q", seller, code, out, errOut)
		}
		return m
	}
	for _, tc := range []struct {
		seller, wantSeller string
		enqueued, dup      float64
	}{
		{"acme", "acme", 1, 0},
		{"shop-7", "shop-7", 1, 0},
		{"acme", "acme", 0, 1},
		{"", "default", 1, 0},
		{"default", "default", 0, 1},
	} {
		m := enq(tc.seller, "RK1")
		if m["seller"] != tc.wantSeller || m["enqueued"] != tc.enqueued || m["duplicate"] != tc.dup {
			t.Fatalf("--seller %q: %v", tc.seller, m)
		}
	}
	for queue, seller := range map[string]string{"wdt-cancel": "", "wdt-cancel:acme": "acme", "wdt-cancel:shop-7": "shop-7"} {
		if p, err := taskIn(t, r, queue, "RK1"); err != nil || p.Seller != seller {
			t.Fatalf("%s: %+v %v", queue, p, err)
		}
	}

	// An old-style task: no seller in its payload, in the base queue.
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	old, _ := tasks.NewCancelTask("OLD1", "", time.Now())
	if _, err := asynq.NewClientFromRedisClient(rdb).EnqueueContext(ctx, old); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args              []string
		code              int
		seller, state, no string
	}{
		{[]string{"--seller", "acme"}, exitOK, "acme", "pending", "RK1"},
		{[]string{"--seller", "shop-7"}, exitOK, "shop-7", "pending", "RK1"},
		{nil, exitOK, "default", "pending", "OLD1"},
		{[]string{"--seller", "acme"}, exitPartial, "acme", "unknown", "OLD1"},
	} {
		args := append([]string{"status", "--json", "--redis-url", url, tc.no}, tc.args...)
		out, errOut, code := runCmd(t, ctx, "", args...)
		var st map[string]any
		if code != tc.code || json.Unmarshal([]byte(out), &st) != nil || st["seller"] != tc.seller || st["state"] != tc.state {
			t.Fatalf("%v: exit %d out %q err %q", args, code, out, errOut)
		}
	}
}

// TestDLQPerSeller: the dlq commands act on one seller's records; an old
// record (no seller, base queue) is the default seller's; requeue puts a
// record back into its seller's queue with the seller in the payload; ls
// --all-sellers lists every seller's records, streamed or sorted.
func TestDLQPerSeller(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	url := r.URL()
	announceSellers(t, r, "acme", "shop-7")
	// Sellers' queues exist in asynq's queue set once a task went there.
	for _, s := range []string{"acme", "shop-7"} {
		if _, errOut, code := runCmd(t, ctx, "", "enqueue", "--redis-url", url, "--seller", s, "LIVE-"+s); code != exitOK {
			t.Fatalf("enqueue: %s", errOut)
		}
	}
	putSellerDead(t, r, "default", true, "OLD1")
	putSellerDead(t, r, "acme", false, "RK1", "A2")
	putSellerDead(t, r, "shop-7", false, "RK1")

	lsJSON := func(args ...string) []map[string]any {
		t.Helper()
		out, errOut, code := runCmd(t, ctx, "", append([]string{"dlq", "ls", "--json", "--redis-url", url}, args...)...)
		var recs []map[string]any
		if code != exitOK || json.Unmarshal([]byte(out), &recs) != nil {
			t.Fatalf("ls %v: exit %d out %q err %q", args, code, out, errOut)
		}
		return recs
	}
	key := func(recs []map[string]any) []string {
		var k []string
		for _, rec := range recs {
			k = append(k, rec["seller"].(string)+"/"+rec["pre_stockin_no"].(string))
		}
		return k
	}
	for _, tc := range []struct {
		args []string
		want string // sorted listing, seller/no
	}{
		{nil, "default/OLD1"},
		{[]string{"--seller", "acme", "--sort"}, "acme/RK1 acme/A2"},
		{[]string{"--seller", "shop-7"}, "shop-7/RK1"},
		{[]string{"--seller", "ghost"}, ""},
		{[]string{"--all-sellers", "--sort"}, "acme/RK1 default/OLD1 shop-7/RK1 acme/A2"},
		{[]string{"--all-sellers", "--seller", "acme", "--sort", "--limit", "2"}, "acme/RK1 default/OLD1"},
	} {
		got := strings.Join(key(lsJSON(tc.args...)), " ")
		if got != tc.want {
			t.Fatalf("ls %v: %q, want %q", tc.args, got, tc.want)
		}
	}
	// Streamed, the order is the scan's: compare as sets, seller after seller.
	all := key(lsJSON("--all-sellers"))
	if strings.Join(all, " ") != "acme/A2 acme/RK1 default/OLD1 shop-7/RK1" && strings.Join(all, " ") != "acme/RK1 acme/A2 default/OLD1 shop-7/RK1" {
		t.Fatalf("ls --all-sellers: %v", all)
	}
	out, _, code := runCmd(t, ctx, "", "dlq", "ls", "--all-sellers", "--limit", "3", "--redis-url", url)
	if code != exitOK || !strings.Contains(out, "SELLER") || !strings.Contains(out, "3 of 4 dead-lettered shown") ||
		strings.Count(out, " acme ") != 2 || strings.Count(out, " default ") != 1 {
		t.Fatalf("table: exit %d out %q", code, out)
	}
	out, _, code = runCmd(t, ctx, "", "dlq", "show", "--json", "--redis-url", url, "OLD1")
	if code != exitOK || !strings.Contains(out, `"seller":"default"`) {
		t.Fatalf("show OLD1: exit %d out %q", code, out)
	}
	out, _, code = runCmd(t, ctx, "", "dlq", "show", "--seller", "acme", "--redis-url", url, "OLD1")
	if code != exitPartial {
		t.Fatalf("show OLD1 as acme's: exit %d out %q", code, out)
	}

	// requeue: acme's RK1 into acme's queue, shop-7's --all into shop-7's,
	// the old record into the base queue without a seller.
	for _, tc := range []struct {
		args          []string
		queue, no     string
		payloadSeller string
		line          string
	}{
		{[]string{"--seller", "acme", "RK1"}, "wdt-cancel:acme", "RK1", "acme", "RK1: requeued"},
		{[]string{"--seller", "shop-7", "--all"}, "wdt-cancel:shop-7", "RK1", "shop-7", "requeued 1, failed 0 (seller shop-7)"},
		{[]string{"OLD1"}, "wdt-cancel", "OLD1", "", "OLD1: requeued"},
	} {
		out, errOut, code := runCmd(t, ctx, "", append([]string{"dlq", "requeue", "--redis-url", url}, tc.args...)...)
		if code != exitOK || !strings.Contains(out, tc.line) {
			t.Fatalf("requeue %v: exit %d out %q err %q", tc.args, code, out, errOut)
		}
		p, err := taskIn(t, r, tc.queue, tc.no)
		if err != nil || p.Seller != tc.payloadSeller || p.Source != "erp" {
			t.Fatalf("requeue %v: task %+v %v", tc.args, p, err)
		}
	}
	if _, err := taskIn(t, r, "wdt-cancel", "RK1"); err == nil {
		t.Fatal("a seller's requeue reached the default seller's queue")
	}
	// purge is per seller too.
	if _, _, code := runCmd(t, ctx, "", "dlq", "purge", "--redis-url", url, "A2"); code != exitPartial {
		t.Fatalf("purge A2 as the default seller's: exit %d", code)
	}
	if out, _, code := runCmd(t, ctx, "", "dlq", "purge", "--seller", "acme", "--redis-url", url, "A2"); code != exitOK || !strings.Contains(out, "A2: purged") {
		t.Fatalf("purge --seller acme A2: exit %d out %q", code, out)
	}
	if got := key(lsJSON("--all-sellers")); len(got) != 0 {
		t.Fatalf("left after requeue and purge: %v", got)
	}
}

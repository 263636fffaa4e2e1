package store

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// commandsRun is what INFO commandstats counts: every command Redis ran
// (scripts' inner commands included, under their own names), by name.
func commandsRun(t *testing.T, rdb *redis.Client) map[string]int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range regexp.MustCompile(`cmdstat_([a-z|]+):calls=(\d+)`).FindAllStringSubmatch(info, -1) {
		n, _ := strconv.Atoi(m[2])
		out[m[1]] = n
	}
	return out
}

// TestCallWritesCommandBudget counts, on a real redis-server, the commands
// a successful call's own writes cost (issue 24): the sent mark with the
// epoch bump (3: EVALSHA, SET, HINCRBY; the marker's id is written only
// by the bump that creates it and never read) and the result with its event
// and the marks' removal (5: EVALSHA, HMGET, DEL, HSET, XADD, and an XTRIM
// on about one event in 8; the stream's caps come from the process's copy,
// read at most every eventCapsCacheFor). They were 5 and 11. A batch of marks
// costs 2 commands plus one per call.
func TestCallWritesCommandBudget(t *testing.T) {
	r := testkit.NewRedis(t)
	if !r.Real {
		t.Skip("miniredis has no INFO commandstats")
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	ctx := context.Background()
	q := "cost"
	m := NewOutcomeMemory(rdb, q)
	// Warm up: the scripts are loaded (a first EVALSHA answers NOSCRIPT).
	rdb.HSet(ctx, asynqTaskKey(q, "W"), "msg", "x", "state", "active")
	m.BeginCall(ctx, "W", time.Now())
	m.ConfirmInTaskFinal(ctx, "W", []byte("r"), Event{EventID: NewEventID(), PreStockinNo: "W"})

	const calls = 64
	for i := range calls {
		rdb.HSet(ctx, asynqTaskKey(q, "N"+strconv.Itoa(i)), "msg", "x", "state", "active")
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		no := "N" + strconv.Itoa(i)
		if _, _, err := m.BeginCall(ctx, no, time.Now()); err != nil {
			t.Fatal(err)
		}
		held, _, err := m.ConfirmInTaskFinal(ctx, no, []byte(`{"category":"cancelled"}`), Event{EventID: NewEventID(), PreStockinNo: no})
		if err != nil || !held {
			t.Fatalf("confirm %s: held %v, %v", no, held, err)
		}
		if n := rdb.Exists(ctx, SentKey(q, no), UnknownKey(q, no)).Val(); n != 0 {
			t.Fatalf("the result script left %d mark(s) of %s", n, no)
		}
	}
	got := commandsRun(t, rdb)
	total := -got["exists"] - got["config|resetstat"] // the test's own
	for _, n := range got {
		total += n
	}
	perCall := float64(total) / calls
	t.Logf("%.2f commands per call's writes: %v", perCall, got)
	if perCall > 8.5 {
		t.Errorf("a call's writes cost %.2f Redis commands, want at most 8.5 (3 for the mark and bump, 5 and an occasional XTRIM for the result): %v", perCall, got)
	}

	// A batch of 8 marks: one script, one bump.
	rdb.ConfigResetStat(ctx)
	nos := []string{"B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8"}
	died, _, err := m.BeginCalls(ctx, nos, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range died {
		if d {
			t.Errorf("%s: a fresh mark reported an earlier attempt that died", nos[i])
		}
	}
	got = commandsRun(t, rdb)
	total = -got["config|resetstat"]
	for _, n := range got {
		total += n
	}
	if want := 2 + len(nos); total != want {
		t.Errorf("a batch of %d marks cost %d commands, want %d: %v", len(nos), total, want, got)
	}
}

// TestBeginCallsPromotesAnEarlierMark: a mark still there (an attempt died
// mid-call) is reported and promoted to an unknown outcome by the script.
func TestBeginCallsPromotesAnEarlierMark(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	m := NewOutcomeMemory(rdb, "promote")
	if died, e, err := m.BeginCall(ctx, "N1", time.Now()); err != nil || died || !e.Created || e.Gen != 1 {
		t.Fatalf("first mark: died %v, epoch %+v, %v; want a fresh mark and a created marker at gen 1", died, e, err)
	}
	died, e, err := m.BeginCalls(ctx, []string{"N1", "N2"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !died[0] || died[1] {
		t.Errorf("died %v, want [true false]: N1's mark was still there", died)
	}
	if e.Created || e.Gen != 2 {
		t.Errorf("second bump %+v, want gen 2 of the same marker", e)
	}
	if _, unknown, _ := m.Recall(ctx, "N1"); !unknown {
		t.Error("N1's earlier mark was not promoted to an unknown outcome")
	}
	if _, unknown, _ := m.Recall(ctx, "N2"); unknown {
		t.Error("N2 has an unknown outcome it never had")
	}
}

// TestConfirmInTasksFinalBatch: one script for several tasks records each
// as the single-task script would: a held task gets its result, its event
// and loses its marks; a rerun (event marker there) gets the result and no
// second event; a task asynq no longer holds gets nothing, marks kept.
func TestConfirmInTasksFinalBatch(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	q := "batchconfirm"
	m := NewOutcomeMemory(rdb, q)
	for _, no := range []string{"H", "R", "G"} {
		if _, _, err := m.BeginCall(ctx, no, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	rdb.HSet(ctx, asynqTaskKey(q, "H"), "msg", "x", "state", "active")
	rdb.HSet(ctx, asynqTaskKey(q, "R"), "msg", "x", "state", "active", EventMarkField, "evt_before")
	var cs []Confirmation
	for _, no := range []string{"H", "R", "G"} {
		cs = append(cs, Confirmation{TaskID: no, Result: []byte("ok-" + no), Event: Event{EventID: NewEventID(), PreStockinNo: no, Outcome: "cancelled"}})
	}
	got, err := m.ConfirmInTasksFinal(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	want := []Confirmed{{Held: true, Emitted: true}, {Held: true}, {}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: %+v, want %+v", cs[i].TaskID, got[i], want[i])
		}
	}
	for _, tc := range []struct {
		no         string
		result     string
		marksLeft  int64
		whyInState string
	}{
		{"H", "ok-H", 0, "held"},
		{"R", "ok-R", 0, "a rerun"},
		{"G", "", 1, "gone from asynq"},
	} {
		if r := rdb.HGet(ctx, asynqTaskKey(q, tc.no), "result").Val(); r != tc.result {
			t.Errorf("%s (%s): result %q, want %q", tc.no, tc.whyInState, r, tc.result)
		}
		if n := rdb.Exists(ctx, SentKey(q, tc.no)).Val(); n != tc.marksLeft {
			t.Errorf("%s (%s): %d sent mark(s) left, want %d", tc.no, tc.whyInState, n, tc.marksLeft)
		}
	}
	evs, err := NewEvents(rdb, q).Range(ctx, "-", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Event.PreStockinNo != "H" {
		t.Errorf("events %+v, want H's alone", evs)
	}
}

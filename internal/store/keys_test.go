package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestKeysAreByteIdentical pins every key to the literal string wdtcancel
// has always used (tasks.DeadLetterKey, the worker's outcome memory,
// limiter, breaker and write probe before they moved here): data already in
// Redis is found under these names, so a change here loses dead letters and
// outcome marks without an error.
func TestKeysAreByteIdentical(t *testing.T) {
	const q, no = "wdt-cancel", "RK0001"
	tests := []struct {
		name, got, want string
	}{
		{"dead-letter hash", DeadLetterKey(q), "wdtcancel:{wdt-cancel}:dlq"},
		{"sent mark", SentKey(q, no), "wdtcancel:{wdt-cancel}:sent:RK0001"},
		{"unknown mark", UnknownKey(q, no), "wdtcancel:{wdt-cancel}:unknown:RK0001"},
		{"confirmed mark", ConfirmedKey(q, no), "wdtcancel:{wdt-cancel}:confirmed:RK0001"},
		{"limiter tat", RateTATKey(q), "wdtcancel:{wdt-cancel}:rl:tat"},
		{"limiter inflight", InflightKey(q), "wdtcancel:{wdt-cancel}:rl:inflight"},
		{"limiter cooldown", CooldownKey(q), "wdtcancel:{wdt-cancel}:rl:cooldown"},
		{"breaker open", BreakerOpenKey(q), "wdtcancel:{wdt-cancel}:breaker:open"},
		{"breaker fails", BreakerFailsKey(q), "wdtcancel:{wdt-cancel}:breaker:fails"},
		{"breaker alive", BreakerAliveKey(q), "wdtcancel:{wdt-cancel}:breaker:alive"},
		{"breaker probe", BreakerProbeKey(q), "wdtcancel:{wdt-cancel}:breaker:probe"},
		{"write probe", ProbeKey(q), "wdtcancel:{wdt-cancel}:probe"},
		{"epoch marker", EpochKey(q), "wdtcancel:{wdt-cancel}:epoch"},
		{"loss record", LossKey(q), "wdtcancel:{wdt-cancel}:loss"},
		{"acknowledged loss record", LossAckedKey(q), "wdtcancel:{wdt-cancel}:loss:acked"},
		{"replica count", ReplicasKey(q), "wdtcancel:{wdt-cancel}:replicas"},
		{"served announcement", ServedKey(q), "wdtcancel:{wdt-cancel}:served"},
		{"known base queue", KnownBaseKey(q), "wdtcancel:{wdt-cancel}:known"},
		{"other queue", DeadLetterKey("bench-1-mem"), "wdtcancel:{bench-1-mem}:dlq"},
		{"scan pattern", QueuePattern(q), "wdtcancel:{wdt-cancel}:*"},
		{"scan pattern escapes globs", QueuePattern(`a*b?[c]\`), `wdtcancel:{a\*b\?\[c\]\\}:*`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// TestQueuePatternMatchesOnlyItsQueue: SCAN with QueuePattern finds every
// key of the queue and none of a queue whose name starts the same or holds
// glob characters.
func TestQueuePatternMatchesOnlyItsQueue(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	keysOf := func(q string) []string {
		return []string{DeadLetterKey(q), SentKey(q, "N1"), UnknownKey(q, "N1"), ConfirmedKey(q, "N1"),
			RateTATKey(q), InflightKey(q), CooldownKey(q), BreakerOpenKey(q), BreakerFailsKey(q),
			BreakerAliveKey(q), BreakerProbeKey(q), ProbeKey(q), EpochKey(q), LossKey(q), LossAckedKey(q), ReplicasKey(q)}
	}
	for _, q := range []string{"q", "q2", "q*", "[q]"} {
		for _, k := range keysOf(q) {
			rdb.Set(ctx, k, "1", time.Minute)
		}
	}
	for _, q := range []string{"q", "q*", "[q]"} {
		var got []string
		iter := rdb.Scan(ctx, 0, QueuePattern(q), 1000).Iterator()
		for iter.Next(ctx) {
			got = append(got, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		want := keysOf(q)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(slices.Compact(got), want) {
			t.Errorf("queue %q: scan found %q, want %q", q, got, want)
		}
	}
}

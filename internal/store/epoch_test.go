package store

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestBumpEpoch: the counter only grows, the id is chosen once, and the
// run_id is read where the server lets a script read INFO.
func TestBumpEpoch(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()

	first, err := BumpEpoch(ctx, rdb, "q")
	if err != nil {
		t.Fatal(err)
	}
	if first.Gen != 1 || !first.Created || first.ID == "" || first.Loss != nil || first.Acked != nil {
		t.Fatalf("first bump: %+v, want gen 1, created, an id, no loss", first)
	}
	second, err := BumpEpoch(ctx, rdb, "q")
	if err != nil {
		t.Fatal(err)
	}
	if second.Gen != 2 || second.Created || second.ID != first.ID {
		t.Fatalf("second bump: %+v, want gen 2, not created, id %s", second, first.ID)
	}
	if r.Real && !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(second.RunID) {
		t.Errorf("run_id %q from redis-server, want 40 hex digits", second.RunID)
	}
	other, err := BumpEpoch(ctx, rdb, "other")
	if err != nil {
		t.Fatal(err)
	}
	if other.Gen != 1 || other.ID == first.ID {
		t.Errorf("another queue's marker: %+v, want its own counter and id", other)
	}
	// The marker gone (what an empty restart does): a new id.
	rdb.Del(ctx, EpochKey("q"))
	again, err := BumpEpoch(ctx, rdb, "q")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Created || again.ID == first.ID || again.Gen != 1 {
		t.Errorf("after the marker vanished: %+v, want a created marker with a new id at gen 1", again)
	}
}

// TestLossRecordLifecycle: detections merge into one record until an
// operator acknowledges it; the acknowledged record stays as the horizon.
func TestLossRecordLifecycle(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

	if _, err := AckLoss(ctx, rdb, "q", t0); !errors.Is(err, ErrNoLoss) {
		t.Fatalf("ack without a record: %v, want ErrNoLoss", err)
	}
	if _, err := RecordLoss(ctx, rdb, Loss{Queue: "q", Kind: LossEmpty, DetectedAt: t0, OldRunID: "a", NewRunID: "b"}); err != nil {
		t.Fatal(err)
	}
	l, err := RecordLoss(ctx, rdb, Loss{Queue: "q", Kind: LossOlderSnapshot, DetectedAt: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if l.Detections != 2 || !l.FirstDetectedAt.Equal(t0) || !l.DetectedAt.Equal(t0.Add(time.Minute)) || l.Kind != LossOlderSnapshot {
		t.Errorf("merged record %+v: want 2 detections, first at %s, last a minute later, the last kind", l, t0)
	}
	e, err := BumpEpoch(ctx, rdb, "q")
	if err != nil {
		t.Fatal(err)
	}
	if e.Loss == nil || e.Loss.Detections != 2 || e.Acked != nil {
		t.Fatalf("bump reads loss %+v, acked %+v: want the record, none acknowledged", e.Loss, e.Acked)
	}
	if other, _ := ReadLoss(ctx, rdb, "other"); other != nil {
		t.Errorf("another queue reads a loss: %+v", other)
	}
	acked, err := AckLoss(ctx, rdb, "q", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if acked.AckedAt == nil || !acked.AckedAt.Equal(t0.Add(time.Hour)) || acked.Detections != 2 {
		t.Errorf("acknowledged %+v", acked)
	}
	if l, _ := ReadLoss(ctx, rdb, "q"); l != nil {
		t.Errorf("loss record still there after the ack: %+v", l)
	}
	h, err := ReadAckedLoss(ctx, rdb, "q")
	if err != nil || h == nil || !h.DetectedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("acknowledged record %+v, %v: want the horizon at the last detection", h, err)
	}
	if _, err := AckLoss(ctx, rdb, "q", t0); !errors.Is(err, ErrNoLoss) {
		t.Errorf("second ack: %v, want ErrNoLoss", err)
	}
}

// TestLossRecordCorrupt: a record that is not one says so and how to clear
// it, and can still be acknowledged.
func TestLossRecordCorrupt(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	rdb.Set(ctx, LossKey("q"), "not json", 0)
	if _, err := ReadLoss(ctx, rdb, "q"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("read of a corrupt record: %v, want ErrCorrupt", err)
	}
	// The workers go on, taking it as a loss.
	e, err := BumpEpoch(ctx, rdb, "q")
	if err != nil || e.Loss == nil || e.Loss.Kind != LossUnreadable || !strings.Contains(e.Loss.Describe(), LossKey("q")) {
		t.Errorf("bump over a corrupt record: %+v, %v; want an unreadable loss naming the key", e.Loss, err)
	}
	if _, err := AckLoss(ctx, rdb, "q", time.Now()); err != nil {
		t.Errorf("ack of a corrupt record: %v", err)
	}
	if l, err := ReadLoss(ctx, rdb, "q"); l != nil || err != nil {
		t.Errorf("after the ack: %+v, %v", l, err)
	}
}

func TestLossDescribe(t *testing.T) {
	for _, kind := range []string{LossEmpty, LossOlderSnapshot} {
		d := (&Loss{Queue: "wdt-cancel", Kind: kind, DetectedAt: time.Now()}).Describe()
		for _, want := range []string{"wdt-cancel", "re-enqueue", "redis-loss ack --yes", "appendonly yes"} {
			if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(d) {
				t.Errorf("%s: %q lacks %q", kind, d, want)
			}
		}
	}
}

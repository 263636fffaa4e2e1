package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/tasks/outcome"
)

// TestDLQRequeueSeller: a requeued record goes back to its seller's queue
// with the seller in the payload; a record written before sellers existed
// (base queue, no seller) goes back as the default seller's, its payload
// unchanged in form; a record naming another seller than the store's is
// refused and kept.
func TestDLQRequeueSeller(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := context.Background()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	const base = "wq"

	payloadOf := func(queue, no string) tasks.Payload {
		t.Helper()
		info, err := insp.GetTaskInfo(queue, no)
		if err != nil {
			t.Fatalf("task %s in %s: %v", no, queue, err)
		}
		p, err := tasks.DecodePayload(info.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(info.Payload), `"seller"`) != (p.Seller != "") {
			t.Fatalf("payload %s", info.Payload)
		}
		return p
	}

	cases := []struct {
		name, seller, recSeller string
		wantQueue, wantSeller   string
	}{
		{"seller record", "acme", "acme", "wq:acme", "acme"},
		{"seller queue, record without seller", "shop-7", "", "wq:shop-7", "shop-7"},
		{"old record in the base queue", tasks.DefaultSeller, "", "wq", ""},
	}
	for _, tc := range cases {
		d, err := NewSellerDLQ(rdb, base, tc.seller)
		if err != nil {
			t.Fatal(err)
		}
		if d.Queue() != tc.wantQueue || d.Seller() != tc.seller {
			t.Fatalf("%s: queue %q seller %q", tc.name, d.Queue(), d.Seller())
		}
		// Two sellers may hold the same number: one per case here.
		if err := d.Put(ctx, Record{PreStockinNo: "RK9", Seller: tc.recSeller, Category: outcome.Rejected, Source: "erp"}); err != nil {
			t.Fatal(err)
		}
		if got := d.SellerOf(must(d.Get(ctx, "RK9"))); got != tc.seller {
			t.Fatalf("%s: SellerOf %q, want %q", tc.name, got, tc.seller)
		}
		if err := d.Requeue(ctx, "RK9"); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		p := payloadOf(tc.wantQueue, "RK9")
		if p.Seller != tc.wantSeller || p.Source != "erp" {
			t.Fatalf("%s: payload %+v, want seller %q", tc.name, p, tc.wantSeller)
		}
		if _, err := d.Get(ctx, "RK9"); !errors.Is(err, ErrNotDead) {
			t.Fatalf("%s: record not removed: %v", tc.name, err)
		}
	}

	// A record naming another seller than the store's queue is refused, and kept.
	d, _ := NewSellerDLQ(rdb, base, "acme")
	if err := d.Put(ctx, Record{PreStockinNo: "RK10", Seller: "other", Category: outcome.Rejected}); err != nil {
		t.Fatal(err)
	}
	err := d.Requeue(ctx, "RK10")
	if err == nil || !strings.Contains(err.Error(), `names seller "other"`) {
		t.Fatalf("mismatched seller: %v", err)
	}
	if _, err := d.Get(ctx, "RK10"); err != nil {
		t.Fatalf("refused record lost: %v", err)
	}
	if _, err := NewSellerDLQ(rdb, base, "Bad Name"); !errors.Is(err, tasks.ErrInvalid) {
		t.Fatalf("bad seller: %v", err)
	}
}

// TestRecordSellerJSON: the seller sits right after the queue and is left
// out when empty, so records written before sellers existed read the same.
func TestRecordSellerJSON(t *testing.T) {
	t.Parallel()
	b, _ := json.Marshal(Record{PreStockinNo: "A", Queue: "wdt-cancel:acme", Seller: "acme"})
	if !strings.HasPrefix(string(b), `{"pre_stockin_no":"A","queue":"wdt-cancel:acme","seller":"acme","category"`) {
		t.Fatalf("got %s", b)
	}
	b, _ = json.Marshal(Record{PreStockinNo: "A", Queue: "wdt-cancel"})
	if strings.Contains(string(b), "seller") {
		t.Fatalf("got %s", b)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

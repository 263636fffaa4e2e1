package store

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks/outcome"
)

// TestDeleteIfUnchanged pins (dropFinalScript, which also writes the requeued event) the step Requeue ends with: it removes the
// record it read, never a newer one a re-driven task wrote in between.
// With a plain HDEL (the bug the full fault suite found) the second case
// fails.
func TestDeleteIfUnchanged(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	ctx := context.Background()
	d := NewDLQ(rdb, "q")

	tests := []struct {
		name        string
		rewrite     bool // a newer record lands between read and delete
		wantSurvive bool
	}{
		{"unchanged record is removed", false, false},
		{"newer record survives", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := d.Put(ctx, Record{PreStockinNo: "N1", Category: outcome.Rejected, Error: "old"}); err != nil {
				t.Fatal(err)
			}
			_, raw, err := d.get(ctx, "N1")
			if err != nil {
				t.Fatal(err)
			}
			if tt.rewrite {
				if err := d.Put(ctx, Record{PreStockinNo: "N1", Category: outcome.Rejected, Error: "new"}); err != nil {
					t.Fatal(err)
				}
			}
			keys, argv := d.dropArgs("N1", raw, OutcomeRequeued)
			if err := dropFinalScript.Run(ctx, rdb, keys, argv...).Err(); err != nil {
				t.Fatal(err)
			}
			rec, err := d.Get(ctx, "N1")
			if survived := err == nil; survived != tt.wantSurvive {
				t.Fatalf("survived=%v, want %v (%+v %v)", survived, tt.wantSurvive, rec, err)
			}
			if tt.wantSurvive && rec.Error != "new" {
				t.Fatalf("wrong record survived: %+v", rec)
			}
			rdb.HDel(ctx, d.key, "N1")
		})
	}
}

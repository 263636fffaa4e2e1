package enqueue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestWaitReplicasUnacknowledgedIsUnknown: an enqueue no replica
// acknowledges is reported Unknown (safe to send again), never Enqueued.
func TestWaitReplicasUnacknowledgedIsUnknown(t *testing.T) {
	r := testkit.NewRedis(t)
	if !r.Real {
		t.Skip("miniredis has no WAIT")
	}
	conn, _ := asynq.ParseRedisURI(r.URL())
	c, err := enqueue.New(conn, enqueue.WithWaitReplicas(1, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Cancel(context.Background(), "WR1")
	if res.Result != enqueue.Unknown || !errors.Is(err, enqueue.ErrUnavailable) || !strings.Contains(res.Error, "enqueue it again (safe)") {
		t.Fatalf("Cancel = %+v, %v; want Unknown saying to enqueue again", res, err)
	}
	// Sending it again is safe: the task is there, once.
	again, _ := c.Cancel(context.Background(), "WR1")
	if again.Result == enqueue.Enqueued {
		t.Fatalf("second send %+v: the first one had landed", again)
	}
	if _, err := enqueue.New(conn, enqueue.WithWaitReplicas(-2, 0)); err == nil {
		t.Fatal("negative replicas accepted")
	}
}

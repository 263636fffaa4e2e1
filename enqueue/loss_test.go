package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// TestStatusWhileRedisLossKnown: a number wdtcancel cannot find is "never
// enqueued" only while no loss is known; with one, Status and the HTTP GET
// say it may have been lost and to re-enqueue it. A number that is found
// reads as before.
func TestStatusWhileRedisLossKnown(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := context.Background()
	if _, err := c.Cancel(ctx, "RK1"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewAPI(c, APIOptions{Token: "tok3n"}))
	defer srv.Close()
	get := func(no string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/cancellations/"+no, nil)
		req.Header.Set("Authorization", "Bearer tok3n")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	st, err := c.Status(ctx, "RK9")
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrMaybeLost) || st.RedisLoss != nil {
		t.Fatalf("no loss known: %+v, %v; want plain ErrNotFound", st, err)
	}
	if code, body := get("RK9"); code != 404 || strings.Contains(body, "lost") {
		t.Fatalf("GET with no loss known: %d %s", code, body)
	}

	detected := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	if _, err := store.RecordLoss(ctx, c.rdb, store.Loss{Queue: tasks.DefaultQueue, Kind: store.LossEmpty, DetectedAt: detected}); err != nil {
		t.Fatal(err)
	}
	st, err = c.Status(ctx, "RK9")
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrMaybeLost) || st.RedisLoss == nil || !st.RedisLoss.DetectedAt.Equal(detected) {
		t.Fatalf("loss known: %+v, %v; want ErrNotFound and ErrMaybeLost with the record", st, err)
	}
	for _, want := range []string{"RK9", "may have been enqueued and lost", "re-enqueue it", "2026-12-06T10:00:00Z"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	code, body := get("RK9")
	var apiErr struct{ Error string }
	json.Unmarshal([]byte(body), &apiErr)
	if code != 404 || !strings.Contains(apiErr.Error, "re-enqueue it") {
		t.Errorf("GET with a loss known: %d %s", code, body)
	}
	// A number that is there reads as before.
	if st, err := c.Status(ctx, "RK1"); err != nil || st.State != "pending" || st.RedisLoss != nil {
		t.Errorf("a number found during a loss: %+v, %v", st, err)
	}
	// Acknowledged: back to "never enqueued".
	if _, err := store.AckLoss(ctx, c.rdb, tasks.DefaultQueue, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctx, "RK9"); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrMaybeLost) {
		t.Errorf("after the ack: %v, want plain ErrNotFound", err)
	}
}

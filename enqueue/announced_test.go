package enqueue

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// announce makes sellers announced, as a worker serving them does.
func announce(t *testing.T, c *Client, sellers ...string) {
	t.Helper()
	for _, s := range sellers {
		if err := store.Announce(context.Background(), c.rdb, tasks.QueueFor(c.base, s)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnknownSellerRefused: a producer refuses a seller no worker has
// announced (a typo would leave its tasks waiting for nobody), through
// every path, and enqueues nothing; the default seller, an announced
// seller and WithAllowUnknownSeller pass.
func TestUnknownSellerRefused(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := context.Background()
	announce(t, c, "acme")
	acne, err := c.ForSeller("acne")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := acne.Cancel(ctx, "U1"); !errors.Is(err, ErrUnknownSeller) || res.Result != Failed ||
		!strings.Contains(err.Error(), `seller "acne"`) || !strings.Contains(err.Error(), "--allow-unknown-seller") {
		t.Fatalf("Cancel for an unannounced seller: %+v %v", res, err)
	}
	read := 0
	seq := func(yield func(string) bool) { read++; yield("U2") }
	if res, err := acne.CancelMany(ctx, seq, ManyOptions{}); !errors.Is(err, ErrUnknownSeller) || len(res) != 0 || read != 0 {
		t.Fatalf("CancelMany for an unannounced seller: %v %v (input read %d times)", res, err, read)
	}
	if _, err := acne.insp.GetTaskInfo(acne.Queue(), "U1"); err == nil {
		t.Fatal("a task was enqueued for the unannounced seller")
	}

	for _, tc := range []struct {
		name string
		c    func() (*Client, error)
	}{
		{"default seller", func() (*Client, error) { return c, nil }},
		{"announced seller", func() (*Client, error) { return c.ForSeller("acme") }},
		{"allowed", func() (*Client, error) {
			cc, _ := newClient(t, WithAllowUnknownSeller())
			return cc.ForSeller("acne")
		}},
	} {
		cc, err := tc.c()
		if err != nil {
			t.Fatal(err)
		}
		if res, err := cc.Cancel(ctx, "OK1"); err != nil || res.Result != Enqueued {
			t.Errorf("%s: %+v %v", tc.name, res, err)
		}
	}

	// The api: 400 naming the fix, nothing enqueued.
	srv := httptest.NewServer(NewAPI(c, APIOptions{}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/cancellations", "application/json", strings.NewReader(`{"pre_stockin_nos":["U3"],"seller":"acne"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "--allow-unknown-seller") {
		t.Fatalf("api: %d %s", resp.StatusCode, body)
	}
	if qs, _ := c.insp.Queues(); slices.Contains(qs, acne.Queue()) {
		t.Fatalf("the api created the unannounced seller's queue: %v", qs)
	}
}

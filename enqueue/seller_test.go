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

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// payloadIn reads the task no of queue and decodes its payload as the
// worker does.
func payloadIn(t *testing.T, c *Client, queue, no string) (tasks.Payload, string) {
	t.Helper()
	info, err := c.insp.GetTaskInfo(queue, no)
	if err != nil {
		t.Fatalf("task %s in queue %s: %v", no, queue, err)
	}
	p, err := tasks.DecodePayload(info.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return p, string(info.Payload)
}

// TestWithSeller: the option picks the queue and the payload's seller, and
// New refuses a bad name with the reason.
func TestWithSeller(t *testing.T) {
	t.Parallel()
	c0, r := newClient(t)
	opt, _ := asynq.ParseRedisURI(r.URL())
	cases := []struct {
		name       string
		opts       []ClientOption
		queue      string
		payload    string // the payload's seller field, "" when left out
		wantErrSub string
	}{
		{"no option", nil, "wdt-cancel", "", ""},
		{"default", []ClientOption{WithSeller("default")}, "wdt-cancel", "", ""},
		{"acme", []ClientOption{WithSeller("acme")}, "wdt-cancel:acme", "acme", ""},
		{"acme under another base", []ClientOption{WithQueue("q2"), WithSeller("shop_7")}, "q2:shop_7", "shop_7", ""},
		{"upper case", []ClientOption{WithSeller("Acme")}, "", "", "must start with a lower-case letter"},
		{"empty", []ClientOption{WithSeller("")}, "", "", "empty"},
		{"colon", []ClientOption{WithSeller("a:b")}, "", "", "not allowed"},
		{"too long", []ClientOption{WithSeller(strings.Repeat("a", 33))}, "", "", "longer than 32"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(opt, append(tc.opts, WithAllowUnknownSeller())...) // routing only: see TestUnknownSellerRefused
			if tc.wantErrSub != "" {
				if !errors.Is(err, tasks.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErrSub) || !strings.Contains(err.Error(), "seller") {
					t.Fatalf("err %v, want one about the seller saying %q", err, tc.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Queue() != tc.queue {
				t.Fatalf("queue %q, want %q", c.Queue(), tc.queue)
			}
			no := "WS-" + strings.ReplaceAll(tc.name, " ", "-")
			if res, err := c.Cancel(context.Background(), no); err != nil || res.Result != Enqueued {
				t.Fatalf("%+v %v", res, err)
			}
			p, raw := payloadIn(t, c0, tc.queue, no)
			if p.Seller != tc.payload || strings.Contains(raw, `"seller"`) != (tc.payload != "") {
				t.Fatalf("payload %s, want seller %q", raw, tc.payload)
			}
		})
	}
}

// TestSameNumberTwoSellers: one number for two sellers is two tasks, each
// in its seller's queue; duplicates, dead letters and status are per seller.
func TestSameNumberTwoSellers(t *testing.T) {
	t.Parallel()
	def, r := newClient(t)
	ctx := context.Background()
	announce(t, def, "acme", "shop-7")
	acme, err := def.ForSeller("acme")
	if err != nil {
		t.Fatal(err)
	}
	shop, err := acme.ForSeller("shop-7")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{acme, shop} {
		res, err := c.Cancel(ctx, "RK1")
		if err != nil || res.Result != Enqueued {
			t.Fatalf("%s: %+v %v", c.Seller(), res, err)
		}
		if p, _ := payloadIn(t, def, c.Queue(), "RK1"); p.Seller != c.Seller() {
			t.Fatalf("%s: payload seller %q", c.Seller(), p.Seller)
		}
	}
	// A second enqueue is a duplicate within the seller's queue only.
	if res, _ := acme.Cancel(ctx, "RK1"); res.Result != Duplicate || res.State != StatePending {
		t.Fatalf("acme again: %+v", res)
	}
	if res, _ := def.Cancel(ctx, "RK1"); res.Result != Enqueued {
		t.Fatalf("default after acme and shop-7: %+v", res)
	}
	// The bulk path too.
	got, err := shop.CancelSlice(ctx, []string{"RK2", "RK1"}, ManyOptions{})
	if err != nil || got[0].Result != Enqueued || got[1].Result != Duplicate {
		t.Fatalf("shop-7 bulk: %+v %v", got, err)
	}
	if got, _ := acme.CancelSlice(ctx, []string{"RK2"}, ManyOptions{}); got[0].Result != Enqueued {
		t.Fatalf("acme bulk: %+v", got)
	}

	// A dead letter of acme refuses acme's number only.
	d, _ := store.NewSellerDLQ(def.rdb, tasks.DefaultQueue, "acme")
	if err := d.Put(ctx, store.Record{PreStockinNo: "RK3", Seller: "acme", Category: wdt.Rejected, DeadLetteredAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if res, _ := acme.Cancel(ctx, "RK3"); res.Result != Duplicate || res.State != StateDead {
		t.Fatalf("acme dead: %+v", res)
	}
	if res, _ := shop.Cancel(ctx, "RK3"); res.Result != Enqueued {
		t.Fatalf("shop-7 with acme's dead number: %+v", res)
	}

	// Status is per seller and names it.
	for _, tc := range []struct {
		c     *Client
		no    string
		state string
	}{{acme, "RK3", StateDead}, {shop, "RK3", StatePending}, {def, "RK1", StatePending}} {
		st, err := tc.c.Status(ctx, tc.no)
		if err != nil || st.State != tc.state || st.Seller != tc.c.Seller() || st.Queue != tc.c.Queue() {
			t.Fatalf("%s %s: %+v %v", tc.c.Seller(), tc.no, st, err)
		}
	}
	_, err = shop.Status(ctx, "RK9")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "seller shop-7") {
		t.Fatalf("not found: %v", err)
	}

	// Closing a ForSeller client leaves the connection to the original.
	if err := acme.Close(); err != nil {
		t.Fatal(err)
	}
	if err := shop.Ping(ctx); err != nil {
		t.Fatalf("after closing a ForSeller client: %v", err)
	}
	if _, err := def.ForSeller("No"); !errors.Is(err, tasks.ErrInvalid) {
		t.Fatalf("ForSeller of a bad name: %v", err)
	}
	_ = r
}

// TestOldTaskIsDefaultSellers: a task enqueued before sellers existed (no
// seller in its payload, base queue) is the default seller's.
func TestOldTaskIsDefaultSellers(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := context.Background()
	old, _ := tasks.NewCancelTask("OLD1", "", time.Now())
	if _, err := c.asynq.EnqueueContext(ctx, old); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx, "OLD1")
	if err != nil || st.Seller != tasks.DefaultSeller || st.State != StatePending {
		t.Fatalf("%+v %v", st, err)
	}
	if res, _ := c.Cancel(ctx, "OLD1"); res.Result != Duplicate {
		t.Fatalf("%+v", res)
	}
	acme, _ := c.ForSeller("acme")
	if _, err := acme.Status(ctx, "OLD1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("acme sees the default seller's task: %v", err)
	}
}

func TestAPISeller(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	announce(t, c, "acme", "shop-7")
	srv := httptest.NewServer(NewAPI(c, APIOptions{}))
	defer srv.Close()
	do := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: not JSON: %q", method, path, raw)
		}
		return resp.StatusCode, out
	}
	tests := []struct {
		name, method, path, body string
		code                     int
		seller                   string // the answer's "seller"; "" = none
		errSub                   string
		enqueued                 float64
		state                    string
	}{
		{"no seller", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK1"]}`, 200, "default", "", 1, ""},
		{"acme", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK1"],"seller":"acme"}`, 200, "acme", "", 1, ""},
		{"shop-7 too", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK1","RK2"],"seller":"shop-7"}`, 200, "shop-7", "", 2, ""},
		{"acme again", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK1"],"seller":"acme"}`, 200, "acme", "", 0, ""},
		{"explicit default", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK2"],"seller":"default"}`, 200, "default", "", 1, ""},
		{"bad seller", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK1"],"seller":"ACME"}`, 400, "", "must start with a lower-case letter", 0, ""},
		{"seller with colon", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK1"],"seller":"a:b"}`, 400, "", "1-32 lower-case letters", 0, ""},
		{"seller not a string", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK1"],"seller":7}`, 400, "", "seller", 0, ""},
		// An outside tester: ?seller= on a POST was ignored, the numbers
		// went to the default seller (the default worker would cancel them
		// in the wrong account); an empty seller and a seller given twice
		// (encoding/json keeps the last) were the default too.
		{"seller in the query", "POST", "/v1/cancellations?seller=acme", `{"pre_stockin_nos":["RK3"]}`, 400, "", "name the seller in the body", 0, ""},
		{"seller in query and body", "POST", "/v1/cancellations?seller=acme", `{"pre_stockin_nos":["RK3"],"seller":"acme"}`, 400, "", "name the seller in the body", 0, ""},
		{"other query parameter", "POST", "/v1/cancellations?dry_run=1", `{"pre_stockin_nos":["RK3"]}`, 400, "", "no query parameters (got dry_run)", 0, ""},
		{"empty seller", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK3"],"seller":""}`, 400, "", "leave the field out", 0, ""},
		{"seller twice", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK3"],"seller":"acme","seller":"default"}`, 400, "", `"seller" given more than once`, 0, ""},
		{"null seller is the default", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK5"],"seller":null}`, 200, "default", "", 1, ""},
		{"nested keys may repeat", "POST", "/v1/cancellations", `{"pre_stockin_nos":["RK6"],"source":"x","seller":"acme"}`, 200, "acme", "", 1, ""},
		{"status default", "GET", "/v1/cancellations/RK1", "", 200, "default", "", 0, "pending"},
		{"status acme", "GET", "/v1/cancellations/RK1?seller=acme", "", 200, "acme", "", 0, "pending"},
		{"status unknown for acme", "GET", "/v1/cancellations/RK2?seller=acme", "", 404, "acme", "seller acme", 0, ""},
		{"status shop-7", "GET", "/v1/cancellations/RK2?seller=shop-7", "", 200, "shop-7", "", 0, "pending"},
		{"status bad seller", "GET", "/v1/cancellations/RK1?seller=Shop", "", 400, "", "must start with a lower-case letter", 0, ""},
		{"status empty seller", "GET", "/v1/cancellations/RK1?seller=", "", 400, "", "is empty", 0, ""},
		{"status two sellers", "GET", "/v1/cancellations/RK1?seller=acme&seller=x", "", 400, "", "more than once", 0, ""},
	}
	for _, tt := range tests { // in order: later rows see earlier rows' tasks
		code, body := do(tt.method, tt.path, tt.body)
		if code != tt.code {
			t.Fatalf("%s: code %d, want %d: %v", tt.name, code, tt.code, body)
		}
		if got, _ := body["seller"].(string); got != tt.seller {
			t.Fatalf("%s: seller %q, want %q: %v", tt.name, got, tt.seller, body)
		}
		if msg, _ := body["error"].(string); !strings.Contains(msg, tt.errSub) || (tt.errSub != "" && code == 400 && !strings.Contains(msg, "seller")) {
			t.Fatalf("%s: error %q, want it to say %q", tt.name, msg, tt.errSub)
		}
		if tt.method == "POST" && code == 200 && body["enqueued"] != tt.enqueued {
			t.Fatalf("%s: enqueued %v, want %v", tt.name, body["enqueued"], tt.enqueued)
		}
		if tt.state != "" && body["state"] != tt.state {
			t.Fatalf("%s: state %v", tt.name, body["state"])
		}
	}
	// Nothing refused was enqueued anywhere.
	for _, q := range []string{"wdt-cancel", "wdt-cancel:acme"} {
		for _, no := range []string{"RK3", "RK4"} {
			if _, err := c.insp.GetTaskInfo(q, no); err == nil {
				t.Fatalf("%s was enqueued in %s by a refused request", no, q)
			}
		}
	}
	// Each POST landed in its seller's queue with the seller in the payload.
	for queue, seller := range map[string]string{"wdt-cancel": "", "wdt-cancel:acme": "acme", "wdt-cancel:shop-7": "shop-7"} {
		if p, _ := payloadIn(t, c, queue, "RK1"); p.Seller != seller {
			t.Fatalf("%s: payload seller %q", queue, p.Seller)
		}
	}
}

package sandbox_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// The keep-alive faults as a client sees them. Three sequential calls, A
// (editing), B (completed) and C (editing): on one kept-alive connection
// the second and third read their predecessor's answer; with a fresh
// connection per call (wdtcancel's default) each reads its own or the
// gateway's 504, and nothing is misplaced. Either way WDT applied every
// call: A and C end cancelled.
func TestKeepAliveFaults(t *testing.T) {
	t.Parallel()
	ok, rejected, unknown := wdt.Cancelled, wdt.Rejected, wdt.UnknownOutcome
	tests := []struct {
		name      string
		opts      sandbox.Options
		reuse     bool
		want      [3]wdt.Category // A, B, C
		fault     string
		misplaced int
	}{
		{"desync, connection reused", sandbox.Options{DesyncRate: 1}, true, [3]wdt.Category{unknown, ok, rejected}, sandbox.FaultDesync, 2},
		{"desync, fresh connections", sandbox.Options{DesyncRate: 1}, false, [3]wdt.Category{unknown, unknown, unknown}, sandbox.FaultDesync, 0},
		{"extra answer, connection reused", sandbox.Options{ExtraAnswerRate: 1}, true, [3]wdt.Category{ok, ok, rejected}, sandbox.FaultExtraAnswer, 2},
		{"extra answer, fresh connections", sandbox.Options{ExtraAnswerRate: 1}, false, [3]wdt.Category{ok, rejected, ok}, sandbox.FaultExtraAnswer, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.Orders = map[string]int{"A": sandbox.StateEditing, "B": sandbox.StateCompleted, "C": sandbox.StateEditing}
			srv, err := sandbox.NewServer(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var opts []wdt.Option
			if tt.reuse {
				h := wdt.NewKeepAliveHTTPClient()
				defer h.CloseIdleConnections()
				opts = []wdt.Option{wdt.WithConnectionReuse(), wdt.WithHTTPClient(h)}
			}
			c, err := wdt.New(srv.APIURL(), srv.Credentials(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			for i, no := range []string{"A", "B", "C"} {
				got := wdt.CategoryOf(c.CancelPreStockin(context.Background(), no))
				if got != tt.want[i] {
					t.Errorf("call %s read %s, want %s", no, got, tt.want[i])
				}
			}
			for no, want := range map[string]int{"A": sandbox.StateCancelled, "B": sandbox.StateCompleted, "C": sandbox.StateCancelled} {
				if o, _ := srv.Order(no); o.Status != want {
					t.Errorf("order %s in state %d, want %d: WDT applies every call", no, o.Status, want)
				}
			}
			st := srv.Stats()
			drawn := 3 - tt.misplaced // calls read off a desynced connection draw no fault
			if st.ByFault[tt.fault] != drawn || st.ByFault[sandbox.FaultMisplacedAnswer] != tt.misplaced {
				t.Errorf("by_fault %v, want %s %d and %s %d", st.ByFault, tt.fault, drawn, sandbox.FaultMisplacedAnswer, tt.misplaced)
			}
		})
	}
}

// The same seed replays the same keep-alive faults for the same calls.
func TestKeepAliveFaultsReplay(t *testing.T) {
	t.Parallel()
	run := func() map[string]int {
		srv, err := sandbox.NewServer(sandbox.Options{DesyncRate: 0.3, ExtraAnswerRate: 0.3, Seed: 42})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		c, err := wdt.New(srv.APIURL(), srv.Credentials())
		if err != nil {
			t.Fatal(err)
		}
		for _, no := range []string{"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10"} {
			c.CancelPreStockin(context.Background(), no)
		}
		return srv.Stats().ByFault
	}
	a, b := run(), run()
	if a[sandbox.FaultDesync] == 0 || a[sandbox.FaultExtraAnswer] == 0 || a[sandbox.FaultDesync] != b[sandbox.FaultDesync] || a[sandbox.FaultExtraAnswer] != b[sandbox.FaultExtraAnswer] {
		t.Fatalf("two runs with seed 42: %v and %v; want the same, with both faults", a, b)
	}
}

// Closing the server closes a desynced connection at once, for a single
// and a multi-seller sandbox: a raw client reads the 504, the server is
// closed, and the connection must end with nothing more on it (left open,
// it would carry the owed answer after LateAnswerWait).
func TestDesyncedConnectionClosedWithServer(t *testing.T) {
	t.Parallel()
	for _, multi := range []bool{false, true} {
		opts := sandbox.Options{Name: "a", DesyncRate: 1}
		var base string
		var closeFn func()
		if multi {
			srv, err := sandbox.NewMultiServer([]sandbox.Options{opts})
			if err != nil {
				t.Fatal(err)
			}
			base, closeFn = srv.URL, srv.Close
		} else {
			srv, err := sandbox.NewServer(opts)
			if err != nil {
				t.Fatal(err)
			}
			base, closeFn = srv.URL, srv.Close
		}
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		q, body := signed("A", 0, false)
		fmt.Fprintf(conn, "POST /openapi?%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", q.Encode(), len(body), body)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Errorf("multi %v: first answer %d, want the gateway's 504", multi, resp.StatusCode)
		}
		closeFn()
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		rest, err := io.ReadAll(br)
		if err != nil || len(rest) > 0 {
			t.Errorf("multi %v: after Close the desynced connection carried %q (%v), want a clean end", multi, rest, err)
		}
		conn.Close()
	}
}

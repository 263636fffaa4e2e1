package wdt_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// A distinctive appsecret: any of these strings in an error is a leak.
const (
	leakSecret = "S3CRETpart9f8e7d"
	leakSalt   = "SALTpart1a2b3c4d"
)

func newSandbox(t *testing.T, opts sandbox.Options) *sandbox.Server {
	t.Helper()
	if opts.AppSecret == "" {
		opts.AppSecret = leakSecret + ":" + leakSalt
	}
	s, err := sandbox.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, url string, opts ...wdt.Option) *wdt.Client {
	t.Helper()
	creds, err := wdt.NewCredentials(sandbox.DefaultSID, sandbox.DefaultAppKey, leakSecret+":"+leakSalt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := wdt.New(url, creds, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func assertNoLeak(t *testing.T, s string) {
	t.Helper()
	for _, bad := range []string{leakSecret, leakSalt, "sign=", "salt=", "?"} {
		if strings.Contains(s, bad) {
			t.Fatalf("leak of %q in %q", bad, s)
		}
	}
}

func TestCancelAgainstSandbox(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{Orders: map[string]int{"RK1": 20, "RK2": 30, "RK3": 10, "RK4": 80}, Unknown: sandbox.UnknownMissing})
	c := newClient(t, sb.APIURL())
	ctx := context.Background()
	tests := []struct {
		no   string
		want wdt.Category
	}{
		{"RK1", wdt.Cancelled}, {"RK2", wdt.Cancelled}, {"RK3", wdt.Rejected}, {"RK4", wdt.Rejected},
		{"RK1", wdt.Rejected}, // already cancelled by the first row
		{"NOPE", wdt.Rejected},
	}
	for _, tt := range tests {
		err := c.CancelPreStockin(ctx, tt.no)
		if got := wdt.CategoryOf(err); got != tt.want {
			t.Fatalf("%s: %s, want %s (%v)", tt.no, got, tt.want, err)
		}
		if err != nil {
			assertNoLeak(t, err.Error())
		}
	}
	for no, want := range map[string]int{"RK1": 10, "RK2": 10, "RK3": 10, "RK4": 80} {
		if o, _ := sb.Order(no); o.Status != want {
			t.Errorf("%s: state %d, want %d", no, o.Status, want)
		}
	}
	if o, _ := sb.Order("RK1"); o.CancelCalls != 2 {
		t.Errorf("RK1 cancel calls = %d, want 2", o.CancelCalls)
	}
}

func TestConfigFaultsFromSandbox(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	tests := []struct {
		name, sid, key, secret string
		wantMsg                string
	}{
		{"wrong salt", sandbox.DefaultSID, sandbox.DefaultAppKey, leakSecret + ":wrongsalt", sandbox.MsgAuthFailed},
		{"wrong secret", sandbox.DefaultSID, sandbox.DefaultAppKey, "wrongsecret:" + leakSalt, sandbox.MsgAuthFailed},
		{"wrong sid", "other", sandbox.DefaultAppKey, leakSecret + ":" + leakSalt, sandbox.MsgSIDNotExists},
		{"wrong key", sandbox.DefaultSID, "other", leakSecret + ":" + leakSalt, sandbox.MsgAppAuthFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds, _ := wdt.NewCredentials(tt.sid, tt.key, tt.secret)
			c, _ := wdt.New(sb.APIURL(), creds)
			err := c.CancelPreStockin(context.Background(), "RK9")
			var e *wdt.Error
			if !errors.As(err, &e) || e.Category != wdt.Config || e.Status != 1 || e.Message != tt.wantMsg {
				t.Fatalf("got %v", err)
			}
			assertNoLeak(t, err.Error())
		})
	}
}

func TestClockOffsetLearnedAndRetried(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{ClockOffset: 300 * time.Second})
	c := newClient(t, sb.APIURL())
	err := c.CancelPreStockin(context.Background(), "RK1")
	if wdt.CategoryOf(err) != wdt.ClockSkew {
		t.Fatalf("first call: %v, want clock_skew", err)
	}
	if off := c.Clock().Offset(); off < 298*time.Second || off > 302*time.Second {
		t.Fatalf("offset learned = %s, want about 300s", off)
	}
	if err := c.CancelPreStockin(context.Background(), "RK1"); err != nil {
		t.Fatalf("retry after resync: %v", err)
	}
	// The server's clock jumps back: the client follows it again.
	sb.SetClockOffset(-200 * time.Second)
	err = c.CancelPreStockin(context.Background(), "RK2")
	if wdt.CategoryOf(err) != wdt.ClockSkew {
		t.Fatalf("after jump: %v", err)
	}
	if err := c.CancelPreStockin(context.Background(), "RK2"); err != nil {
		t.Fatalf("retry after second resync: %v", err)
	}
}

func TestTransportErrors(t *testing.T) {
	// Nothing listens: the request is never written.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + ln.Addr().String() + "/openapi"
	ln.Close()

	// Reads the whole request, then drops the connection: written, no answer.
	dropper := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer dropper.Close()
	// Reads the whole request, then resets the connection (RST, not FIN).
	resetter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}))
	defer resetter.Close()
	// Answers slower than the caller is willing to wait.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	lost := newSandbox(t, sandbox.Options{LostResponseRate: 1, Seed: 1})

	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		want    wdt.Category
		is      error // a cause errors.Is must still find through the redaction
	}{
		{"connection refused", deadURL, 5 * time.Second, wdt.Network, syscall.ECONNREFUSED},
		{"dropped after write", dropper.URL + "/openapi", 5 * time.Second, wdt.UnknownOutcome, nil},
		{"reset after write", resetter.URL + "/openapi", 5 * time.Second, wdt.UnknownOutcome, syscall.ECONNRESET},
		{"timeout after write", slow.URL + "/openapi", 200 * time.Millisecond, wdt.UnknownOutcome, context.DeadlineExceeded},
		{"sandbox lost response", lost.APIURL(), 5 * time.Second, wdt.UnknownOutcome, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.url, wdt.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			err := c.CancelPreStockin(ctx, "RK1")
			if got := wdt.CategoryOf(err); got != tt.want {
				t.Fatalf("category %s, want %s: %v", got, tt.want, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			assertNoLeak(t, err.Error())
			assertNoLeak(t, fmt.Sprintf("%+v %#v", err, err))
		})
	}
	if o, _ := lost.Order("RK1"); o.Status != sandbox.StateCancelled {
		t.Fatalf("lost response must still apply the cancel, state %d", o.Status)
	}
}

func TestGatewayFaultsAreUnknownOutcomes(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{FailRate: 1, Seed: 7})
	c := newClient(t, sb.APIURL(), wdt.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
	seen := map[wdt.Category]int{}
	for i := 0; i < 40; i++ {
		err := c.CancelPreStockin(context.Background(), fmt.Sprintf("RK%d", i))
		seen[wdt.CategoryOf(err)]++
		if err != nil {
			assertNoLeak(t, err.Error())
		}
	}
	// 502, HTML and empty answers and a reset after the request was written
	// are all unknown outcomes: WDT may have applied the cancel. Never a
	// success.
	if seen[wdt.UnknownOutcome] != 40 {
		t.Fatalf("categories %v", seen)
	}
	if st := sb.Stats(); st.Cancellations != 0 || len(st.ByFault) != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRequestShape: the body is the compact JSON array WDT signs, and the
// request says Connection: close unless the client was told to reuse
// connections.
func TestRequestShape(t *testing.T) {
	for _, tt := range []struct {
		name      string
		opts      []wdt.Option
		wantClose bool
	}{
		{"default", nil, true},
		{"deprecated connection close", []wdt.Option{wdt.WithConnectionClose()}, true},
		{"connection reuse", []wdt.Option{wdt.WithConnectionReuse(), wdt.WithHTTPClient(wdt.NewKeepAliveHTTPClient())}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var closeSeen, ctype, body atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				body.Store(string(b))
				ctype.Store(r.Header.Get("Content-Type"))
				closeSeen.Store(r.Close)
				w.Write([]byte(`{"status":0}`))
			}))
			defer srv.Close()
			c := newClient(t, srv.URL+"/openapi", tt.opts...)
			if _, err := c.Call(context.Background(), "x.y", "a<b>&", 1.5, false); err != nil {
				t.Fatal(err)
			}
			if body.Load() != `["a<b>&",1.5,false]` || ctype.Load() != "application/json" || closeSeen.Load() != tt.wantClose {
				t.Fatalf("body %v ctype %v close %v (want %v)", body.Load(), ctype.Load(), closeSeen.Load(), tt.wantClose)
			}
		})
	}
}

package sandbox_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// signed builds a cancel for no, signed with no help from package wdt: an
// independent implementation of docs/wdt-api.md ("Signing a call"), so the sandbox is not only
// checked against the code it shares with the client. It returns the query
// (sign included) and the body.
func signed(no string, tsShift time.Duration, badSign bool) (url.Values, string) {
	body := `["` + no + `"]`
	ts := strconv.FormatInt(time.Now().Add(tsShift).Unix()-1325347200, 10)
	p := url.Values{"sid": {"sandbox"}, "key": {"sandbox"}, "salt": {"sandbox"}, "method": {"wms.stockin.PreStockin.cancel"}, "v": {"1.0"}, "timestamp": {ts}}
	plain := "sandbox" + "body" + body + "key" + "sandbox" + "method" + "wms.stockin.PreStockin.cancel" + "salt" + "sandbox" + "sid" + "sandbox" + "timestamp" + ts + "v" + "1.0" + "sandbox"
	sum := md5.Sum([]byte(plain))
	sign := hex.EncodeToString(sum[:])
	if badSign {
		sign = strings.Repeat("0", 32)
	}
	p.Set("sign", sign)
	return p, body
}

// rawCall signs and sends a cancel and decodes WDT's answer.
func rawCall(t *testing.T, base, no string, tsShift time.Duration, tamper string) (int, string) {
	t.Helper()
	status, msg, err := post(base, no, tsShift, tamper)
	if err != nil {
		t.Fatal(err)
	}
	return status, msg
}

// post is rawCall for goroutines: it reports instead of failing the test.
func post(base, no string, tsShift time.Duration, tamper string) (int, string, error) {
	p, body := signed(no, tsShift, tamper == "sign")
	ctype := "application/json"
	if tamper == "ctype" {
		ctype = "application/x-www-form-urlencoded"
	}
	resp, err := http.Post(base+"/openapi?"+p.Encode(), ctype, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, "", fmt.Errorf("%s: %w", no, err)
	}
	return out.Status, out.Message, nil
}

func start(t *testing.T, opts sandbox.Options) *sandbox.Server {
	t.Helper()
	s, err := sandbox.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestSandboxAnswersIndependentClient(t *testing.T) {
	orders, err := sandbox.ReadOrders(strings.NewReader("# test orders\r\nRK20 20\r\n\nRK30 30\nRK10 10\nRK80 80\n"))
	if err != nil {
		t.Fatal(err)
	}
	sb := start(t, sandbox.Options{Orders: orders, Unknown: sandbox.UnknownMissing})
	tests := []struct {
		name, no, tamper string
		shift            time.Duration
		status           int
		msg              string
		finalState       int
	}{
		{"editing", "RK20", "", 0, 0, "", 10},
		{"awaiting review", "RK30", "", 0, 0, "", 10},
		{"cancelled", "RK10", "", 0, 100, sandbox.MsgRejectNotCancelable, 10},
		{"completed", "RK80", "", 0, 100, sandbox.MsgRejectNotCancelable, 80},
		{"missing", "RKX", "", 0, 100, sandbox.MsgNoSuchDocument, -1},
		{"wrong sign", "RK80", "sign", 0, 1, sandbox.MsgAuthFailed, 80},
		{"timestamp 200 s old", "RK80", "", -200 * time.Second, 7, sandbox.MsgTimestampExpired, 80},
		{"timestamp 100 s old is fine", "RK20", "", -100 * time.Second, 100, sandbox.MsgRejectNotCancelable, 10},
		{"wrong content type", "RK80", "ctype", 0, 1, "", 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg := rawCall(t, sb.URL, tt.no, tt.shift, tt.tamper)
			if status != tt.status || (tt.msg != "" && msg != tt.msg) {
				t.Fatalf("got %d %q, want %d %q", status, msg, tt.status, tt.msg)
			}
			if tt.finalState < 0 {
				return
			}
			resp, err := http.Get(sb.URL + "/_sandbox/orders/" + tt.no)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var o sandbox.Order
			json.NewDecoder(resp.Body).Decode(&o)
			if o.Status != tt.finalState || o.PreStockinNo != tt.no {
				t.Fatalf("order %+v, want state %d", o, tt.finalState)
			}
		})
	}
	if o, _ := sb.Order("RK20"); o.CancelCalls != 2 {
		t.Errorf("RK20 cancel calls %d, want 2", o.CancelCalls)
	}
	st := sb.Stats()
	if st.ByStatus["0"] != 2 || st.ByStatus["7"] != 1 || st.Cancellations != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestSandboxRatePerMinute(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	sb := start(t, sandbox.Options{RatePerMinute: 3, Now: clock})
	// The timestamp window uses the fake clock too, so sign with it.
	shift := func() time.Duration { return clock().Sub(time.Now()) }
	for i := 0; i < 3; i++ {
		if st, msg := rawCall(t, sb.URL, fmt.Sprint("A", i), shift(), ""); st != 0 {
			t.Fatalf("call %d: %d %s", i, st, msg)
		}
	}
	if st, msg := rawCall(t, sb.URL, "A9", shift(), ""); st != 100 || (msg != sandbox.MsgRateLimitCalls && msg != sandbox.MsgRateLimitCallsASCII) {
		t.Fatalf("4th call in a minute: %d %q", st, msg)
	}
	advance(61 * time.Second)
	if st, msg := rawCall(t, sb.URL, "A9", shift(), ""); st != 0 {
		t.Fatalf("after the window: %d %q", st, msg)
	}
}

func TestReadOrdersErrors(t *testing.T) {
	for _, in := range []string{"RK1", "RK1 twenty", "RK1 20 x"} {
		if _, err := sandbox.ReadOrders(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v", in, err)
		}
	}
	if _, err := sandbox.ParseUnknown("sometimes"); err == nil {
		t.Error("bad --unknown accepted")
	}
}

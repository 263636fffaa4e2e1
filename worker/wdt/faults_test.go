package wdt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// answer is what a fake WDT says to one call.
type answer struct {
	code   int
	header map[string]string
	body   string
}

// answerServer answers each call by the order number it cancels, so one
// server serves a whole table: row i is order "R<i>".
func answerServer(t *testing.T, answers []answer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var args []string
		if err := json.NewDecoder(r.Body).Decode(&args); err != nil || len(args) != 1 || !strings.HasPrefix(args[0], "R") {
			http.Error(w, "bad test request", http.StatusTeapot)
			return
		}
		i, err := strconv.Atoi(args[0][1:])
		if err != nil || i < 0 || i >= len(answers) {
			http.Error(w, "bad test row", http.StatusTeapot)
			return
		}
		a := answers[i]
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.code)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestAnswers runs every kind of answer through the client, end to end:
// the category, the WDT status and, for configuration faults, the fix.
func TestAnswers(t *testing.T) {
	const ok = `{"status":0}`
	tests := []struct {
		name    string
		answer  answer
		want    wdt.Category
		status  int
		wantFix string // substring of Fix() for Config rows
	}{
		{"success", answer{200, nil, ok}, wdt.Cancelled, 0, ""},

		// Lax JSON is never a success.
		{"upper-case STATUS", answer{200, nil, `{"STATUS":0}`}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"duplicate status", answer{200, nil, `{"status":100,"message":"x","status":0}`}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"negative zero", answer{200, nil, `{"status":-0}`}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"fraction", answer{200, nil, `{"status":0.0}`}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"exponent", answer{200, nil, `{"status":1e0}`}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"string", answer{200, nil, `{"status":"0"}`}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"leading zero", answer{200, nil, `{"status":00}`}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"trailing data", answer{200, nil, `{"status":0}garbage`}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"two objects", answer{200, nil, `{"status":0}{"status":0}`}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"missing status", answer{200, nil, `{"message":"ok"}`}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"empty body", answer{200, nil, ``}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"html", answer{200, map[string]string{"Content-Type": "text/html"}, `<html>502 Bad Gateway</html>`}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"oversize", answer{200, nil, `{"status":0,"data":"` + strings.Repeat("x", wdt.MaxBodyBytes) + `"}`}, wdt.UnknownOutcome, wdt.NoStatus, ""},

		// Any non-2xx is not WDT's answer, whatever the body says.
		{"HTTP 400 with success body", answer{400, nil, ok}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"HTTP 401 with success body", answer{401, nil, ok}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"HTTP 403 with success body", answer{403, nil, ok}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"HTTP 408 with success body", answer{408, nil, ok}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"HTTP 413 with success body", answer{413, nil, ok}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"HTTP 429 with success body", answer{429, nil, ok}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"HTTP 500 with success body", answer{500, nil, ok}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"HTTP 502 with success body", answer{502, nil, ok}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"HTTP 503 with success body", answer{503, nil, ok}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"HTTP 504 with success body", answer{504, nil, ok}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"HTTP 520 with success body", answer{520, nil, ok}, wdt.UnknownOutcome, wdt.NoStatus, ""},
		{"HTTP 404", answer{404, nil, ok}, wdt.Config, wdt.NoStatus, "must end in /openapi"},
		{"HTTP 405", answer{405, nil, `Method Not Allowed`}, wdt.Config, wdt.NoStatus, "must end in /openapi"},
		{"HTTP 304 without Location", answer{304, nil, ``}, wdt.Config, wdt.NoStatus, "never follows redirects"},

		// WDT statuses that do not prove the order was left alone.
		{"status 4", answer{200, nil, `{"status":4,"message":"数据库错误"}`}, wdt.UnknownOutcome, 4, ""},
		{"status 5", answer{200, nil, `{"status":5,"message":"数据库错误"}`}, wdt.UnknownOutcome, 5, ""},
		{"status 99", answer{200, nil, `{"status":99,"message":"内部错误"}`}, wdt.UnknownOutcome, 99, ""},
		{"status 12345", answer{200, nil, `{"status":12345}`}, wdt.UnknownOutcome, 12345, ""},

		// Configuration faults WDT names.
		{"status 1 bad sign", answer{200, nil, `{"status":1,"message":"验证失败"}`}, wdt.Config, 1, "WDT_APPSECRET"},
		{"status 1 sid of the other environment", answer{200, nil, `{"status":1,"message":"sid is not exists"}`}, wdt.Config, 1, "other WDT environment"},
		{"status 1 appkey", answer{200, nil, `{"status":1,"message":"app auth fail"}`}, wdt.Config, 1, "WDT_APPKEY"},
		{"status 1 timestamp format", answer{200, nil, `{"status":1,"message":"For input string: \"1700000000000\""}`}, wdt.Config, 1, "wdtcancel bug"},
		{"status 1 other", answer{200, nil, `{"status":1,"message":"参数错误"}`}, wdt.Config, 1, "WDT_SID"},
		{"status 2", answer{200, nil, `{"status":2,"message":"page_no"}`}, wdt.Config, 2, "parameter name"},
		{"status 3", answer{200, nil, `{"status":3,"message":"动态密码"}`}, wdt.Config, 3, "dynamic password"},
		{"status 6", answer{200, nil, `{"status":6,"message":"ip"}`}, wdt.Config, 6, "whitelist"},
		{"status 8", answer{200, nil, `{"status":8,"message":"版本号错误"}`}, wdt.Config, 8, "API version"},
		{"status 100 permission", answer{200, nil, `{"status":100,"message":"权限不足"}`}, wdt.Config, 100, "not granted " + wdt.MethodCancelPreStockin},

		// Rate limits: either comma, prefix only.
		{"calls per minute, full-width comma", answer{200, nil, `{"status":100,"message":"超过每分钟最大调用频率限制，请稍后重试"}`}, wdt.RateLimited, 100, ""},
		{"calls per minute, ascii comma", answer{200, nil, `{"status":100,"message":"超过每分钟最大调用频率限制,请稍后重试"}`}, wdt.RateLimited, 100, ""},
		{"concurrency, full-width comma", answer{200, nil, `{"status":100,"message":"超过每分钟最大并发次数限制，请稍后重试"}`}, wdt.RateLimited, 100, ""},
		{"concurrency, ascii comma", answer{200, nil, `{"status":100,"message":"超过每分钟最大并发次数限制,请稍后重试"}`}, wdt.RateLimited, 100, ""},

		{"clock skew", answer{200, nil, `{"status":7,"message":"时间戳已过期"}`}, wdt.ClockSkew, 7, ""},
		{"rejection", answer{200, nil, `{"status":100,"message":"入库单状态不为待审核或编辑中 "}`}, wdt.Rejected, 100, ""},
	}
	answers := make([]answer, len(tests))
	for i, tt := range tests {
		answers[i] = tt.answer
	}
	srv := answerServer(t, answers)
	c := newClient(t, srv.URL+"/openapi", wdt.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.CancelPreStockin(context.Background(), fmt.Sprintf("R%d", i))
			if got := wdt.CategoryOf(err); got != tt.want {
				t.Fatalf("category %s, want %s: %v", got, tt.want, err)
			}
			if err == nil {
				return
			}
			var e *wdt.Error
			if !errors.As(fmt.Errorf("wrapped: %w", err), &e) {
				t.Fatalf("%T is not a *wdt.Error", err)
			}
			if e.Status != tt.status {
				t.Errorf("status %d, want %d", e.Status, tt.status)
			}
			if e.HTTPStatus != tt.answer.code {
				t.Errorf("HTTP status %d, want %d", e.HTTPStatus, tt.answer.code)
			}
			fault, fix := wdt.Fix(fmt.Errorf("wrapped: %w", err))
			if tt.want != wdt.Config {
				if e.Fix() != "" || fix != "" {
					t.Errorf("fix for a %s: %q / %q", tt.want, e.Fix(), fix)
				}
				return
			}
			if fix != e.Fix() || !strings.Contains(fix, tt.wantFix) {
				t.Errorf("fix %q (method %q), want it to contain %q", fix, e.Fix(), tt.wantFix)
			}
			if fault == "" {
				t.Errorf("no fault text")
			}
			assertNoLeak(t, fault+" "+fix)
		})
	}
}

// TestRedirectsNotFollowed: a redirect, even to a host that would answer
// success, is a configuration fault; nothing reaches the other host, and the
// caller's own http.Client is left as it was.
func TestRedirectsNotFollowed(t *testing.T) {
	var otherHits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		io.WriteString(w, `{"status":0}`)
	}))
	defer other.Close()

	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, own := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d own client %v", code, own), func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					// The Location carries the whole request query, as a
					// careless gateway's would.
					w.Header().Set("Location", other.URL+"/openapi?"+r.URL.RawQuery)
					w.WriteHeader(code)
					io.WriteString(w, `{"status":0}`)
				}))
				defer srv.Close()
				var opts []wdt.Option
				var caller *http.Client
				if own {
					caller = &http.Client{Transport: &http.Transport{}}
					opts = append(opts, wdt.WithHTTPClient(caller))
				}
				c := newClient(t, srv.URL+"/openapi", opts...)
				err := c.CancelPreStockin(context.Background(), "RK1")
				var e *wdt.Error
				if !errors.As(err, &e) || e.Category != wdt.Config || e.HTTPStatus != code {
					t.Fatalf("got %v, want a config fault with HTTP %d", err, code)
				}
				if n := otherHits.Load(); n != 0 {
					t.Fatalf("the redirect was followed: the other host got %d requests", n)
				}
				want := fmt.Sprintf("WDT answered a redirect (HTTP %d) to %s", code, other.URL)
				if e.Message != want {
					t.Errorf("message %q, want %q", e.Message, want)
				}
				if !strings.Contains(e.Fix(), "never follows redirects; set WDT_URL to the final URL") {
					t.Errorf("fix %q", e.Fix())
				}
				for _, s := range []string{err.Error(), e.Message, e.Body, fmt.Sprint(wdt.Fix(err))} {
					assertNoLeak(t, s)
				}
				if own && caller.CheckRedirect != nil {
					t.Errorf("the caller's http.Client was changed")
				}
			})
		}
	}
}

func TestRedirectLocations(t *testing.T) {
	tests := []struct {
		name, location, want string
	}{
		{"relative", "/elsewhere?sid=x&salt=y", " to SELF"},
		{"https upgrade", "https://wdt.example:8443/openapi?x=1", " to https://wdt.example:8443"},
		{"user info dropped", "http://user:pw@wdt.example/openapi", " to http://wdt.example"},
		{"none", "", " with no usable Location"},
		{"unparsable", "http://[::1", " with no usable Location"},
	}
	answers := make([]answer, len(tests))
	for i, tt := range tests {
		answers[i] = answer{302, map[string]string{"Location": tt.location}, ""}
	}
	srv := answerServer(t, answers)
	c := newClient(t, srv.URL+"/openapi", wdt.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.CancelPreStockin(context.Background(), fmt.Sprintf("R%d", i))
			var e *wdt.Error
			if !errors.As(err, &e) || e.Category != wdt.Config {
				t.Fatalf("got %v", err)
			}
			want := "WDT answered a redirect (HTTP 302)" + strings.Replace(tt.want, "SELF", srv.URL, 1)
			if e.Message != want {
				t.Fatalf("message %q, want %q", e.Message, want)
			}
			assertNoLeak(t, err.Error())
		})
	}
}

// TestTLSFaults: a certificate that does not verify, or plain HTTP on an
// https:// URL, will not heal by retrying.
func TestTLSFaults(t *testing.T) {
	var hits atomic.Int64
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, `{"status":0}`)
	}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the point
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, `{"status":0}`)
	}))
	defer plain.Close()
	_, port, _ := net.SplitHostPort(tlsSrv.Listener.Addr().String())
	trusting := func() *http.Client {
		tr := tlsSrv.Client().Transport.(*http.Transport).Clone()
		return &http.Client{Transport: tr}
	}

	tests := []struct {
		name, url string
		client    *http.Client // nil: the default client, which trusts only the system roots
		want      wdt.Category
		wantFix   string
	}{
		{"unknown authority, default client", tlsSrv.URL + "/openapi", nil, wdt.Config, "TLS certificate of the WDT endpoint did not verify"},
		{"unknown authority, own client", tlsSrv.URL + "/openapi", &http.Client{Transport: &http.Transport{}}, wdt.Config, "TLS certificate of the WDT endpoint did not verify"},
		{"wrong host name", "https://localhost:" + port + "/openapi", trusting(), wdt.Config, "check WDT_URL's host"},
		{"plain http on an https URL", "https://" + plain.Listener.Addr().String() + "/openapi", &http.Client{Transport: &http.Transport{}}, wdt.Config, "use the http:// URL"},
		{"trusted", tlsSrv.URL + "/openapi", trusting(), wdt.Cancelled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits.Store(0)
			var opts []wdt.Option
			if tt.client != nil {
				opts = append(opts, wdt.WithHTTPClient(tt.client))
				defer tt.client.CloseIdleConnections()
			}
			c := newClient(t, tt.url, opts...)
			err := c.CancelPreStockin(context.Background(), "RK1")
			if got := wdt.CategoryOf(err); got != tt.want {
				t.Fatalf("category %s, want %s: %v", got, tt.want, err)
			}
			if err == nil {
				if hits.Load() != 1 {
					t.Fatalf("hits %d", hits.Load())
				}
				return
			}
			if hits.Load() != 0 {
				t.Fatalf("the request was served (%d) despite %v", hits.Load(), err)
			}
			var e *wdt.Error
			errors.As(err, &e)
			if !strings.Contains(e.Fix(), tt.wantFix) || e.HTTPStatus != 0 || e.Status != wdt.NoStatus {
				t.Fatalf("fix %q for %v", e.Fix(), err)
			}
			assertNoLeak(t, err.Error())
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		url     string
		ok      bool
		wantErr string // besides both official URLs, which every error names
	}{
		{wdt.TestURL, true, ""},
		{wdt.ProductionURL, true, ""},
		{"https://wdt.wangdian.cn/openapi", true, ""},
		{"http://127.0.0.1:8081/openapi", true, ""},
		{"  http://wdt.wangdian.cn/openapi\n", true, ""},
		{"", false, "empty"},
		{"ftp://wdt.wangdian.cn/openapi", false, "not an http(s) URL"},
		{"wdt.wangdian.cn/openapi", false, "not an http(s) URL"},
		{"http:///openapi", false, "not an http(s) URL"},
		{"http://wdt.wangdian.cn", false, "PHP SDKs"},
		{"http://wdt.wangdian.cn/", false, "must be exactly /openapi"},
		{"http://wdt.wangdian.cn/openapi/", false, "must be exactly /openapi"},
		{"http://wdt.wangdian.cn/openapi2", false, "must be exactly /openapi"},
		{"http://wdt.wangdian.cn/OpenAPI", false, "must be exactly /openapi"},
		{"http://wdt.wangdian.cn/api/openapi", false, "must be exactly /openapi"},
		{"http://wdt.wangdian.cn/open%61pi", false, "must be exactly /openapi"},
		{"http://wdt.wangdian.cn/openapi?sid=x", false, "no query"},
		{"http://wdt.wangdian.cn/openapi?", false, "no query"},
		{"http://wdt.wangdian.cn/openapi#top", false, "fragment"},
		{"http://user:hunter22@wdt.wangdian.cn/openapi", false, "user info"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := wdt.ParseEndpoint(tt.url)
			if tt.ok {
				if err != nil || u.Path != wdt.APIPath {
					t.Fatalf("%v %v", u, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %v", u)
			}
			msg := err.Error()
			if !errors.Is(err, wdt.ErrConfig) || !strings.Contains(msg, tt.wantErr) || !strings.Contains(msg, wdt.TestURL) || !strings.Contains(msg, wdt.ProductionURL) {
				t.Fatalf("error %q, want it to name %q and both URLs", msg, tt.wantErr)
			}
			if strings.Contains(msg, "hunter22") {
				t.Fatalf("error leaks the password: %q", msg)
			}
		})
	}
}

func TestWithHTTPClientNotMutated(t *testing.T) {
	tr := &http.Transport{}
	caller := &http.Client{Transport: tr}
	newClient(t, wdt.TestURL, wdt.WithHTTPClient(caller))
	if caller.CheckRedirect != nil || caller.Transport != tr {
		t.Fatal("New changed the caller's http.Client")
	}
	if wdt.DefaultHTTPClient().CheckRedirect == nil {
		t.Fatal("the default client follows redirects")
	}
}

// TestFixOfOtherErrors: Fix answers for anything it is given.
func TestFixOfOtherErrors(t *testing.T) {
	if f, x := wdt.Fix(nil); f != "" || x != "" {
		t.Errorf("nil: %q %q", f, x)
	}
	_, err := wdt.NewCredentials("s", "k", "nocolon")
	if f, x := wdt.Fix(err); f != err.Error() || !strings.Contains(x, "WDT_APPSECRET") {
		t.Errorf("credentials error: %q %q", f, x)
	}
	rej := &wdt.Error{Category: wdt.Rejected, Status: 100, Message: "单据不存在"}
	if f, x := wdt.Fix(rej); x != "" || !strings.Contains(f, "单据不存在") {
		t.Errorf("rejection: %q %q", f, x)
	}
	var nilErr *wdt.Error
	if nilErr.Fix() != "" {
		t.Errorf("nil *Error has a fix")
	}
}

package wdt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MethodCancelPreStockin is the API method that cancels a return
// pre-stockin order (退货预入库单取消).
const MethodCancelPreStockin = "wms.stockin.PreStockin.cancel"

// Endpoints of the flagship open API, for error messages and docs.
const (
	TestURL       = "http://47.92.239.46/openapi"
	ProductionURL = "http://wdt.wangdian.cn/openapi"
)

// DefaultTimeout bounds one call, connection included. Cancel answers in well
// under a second; a call still open after this is treated as lost.
const DefaultTimeout = 30 * time.Second

// Client calls the WDT open API for one seller account. It is safe for
// concurrent use. Every call goes out on a connection of its own that
// carried no other request and is closed once the answer is read (see
// NewHTTPClient), unless WithConnectionReuse says otherwise; all calls share
// one Clock.
type Client struct {
	endpoint *url.URL
	creds    Credentials
	http     *http.Client
	clock    *Clock
	reuse    bool
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the shared default HTTP client. The Client uses a
// copy that never follows redirects and, unless WithConnectionReuse is
// given, whose *http.Transport never keeps a connection alive (see New); h
// itself is not changed.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithConnectionReuse lets calls go out on kept-alive connections that
// carried earlier calls: it saves a TCP (and TLS) handshake per call, and it
// is off by default because of what it risks. WDT's answer does not name the
// order it is about, so on a reused connection the client can only assume
// that the next answer to arrive belongs to the request it just wrote. A
// gateway that answers 504 early and writes the real (late) answer onto the
// same connection afterwards, or that writes an unsolicited extra answer,
// hands one call's answer to the next call on that connection: a cancel that
// took effect is then read as a rejection, or a cancel that did not as a
// success. Only for an endpoint reached without any gateway in between.
func WithConnectionReuse() Option { return func(c *Client) { c.reuse = true } }

// WithConnectionClose once turned "Connection: close" on. A fresh connection
// per call is now the default, so it is kept only for compatibility; it
// also overrides a WithConnectionReuse given before it.
//
// Deprecated: fresh connections are the default; drop the option.
func WithConnectionClose() Option { return func(c *Client) { c.reuse = false } }

var (
	defaultHTTPOnce sync.Once
	defaultHTTP     *http.Client
	keepAliveOnce   sync.Once
	keepAliveHTTP   *http.Client
)

// DefaultHTTPClient is the client every Client shares unless told otherwise:
// a fresh connection per call (NewHTTPClient) and timeouts at every stage so
// no call hangs.
func DefaultHTTPClient() *http.Client {
	defaultHTTPOnce.Do(func() { defaultHTTP = NewHTTPClient() })
	return defaultHTTP
}

// defaultKeepAliveClient is the shared pool of the clients that opted into
// WithConnectionReuse without an HTTP client of their own.
func defaultKeepAliveClient() *http.Client {
	keepAliveOnce.Do(func() { keepAliveHTTP = NewKeepAliveHTTPClient() })
	return keepAliveHTTP
}

// NewHTTPClient is a new HTTP client with DefaultHTTPClient's settings: it
// never reuses a connection. Each request is written on a connection that
// carried no other request, and the connection is closed once the answer is
// read, so an answer that arrives late (after a gateway's early 504) or
// uninvited (an extra answer) has no later call to be mistaken for: it lands
// on a closed socket. A cancel is not idempotent to the caller's
// bookkeeping, and WDT's answer does not name the order, so the transport
// is the only place that can tie an answer to its call.
func NewHTTPClient() *http.Client {
	c := NewKeepAliveHTTPClient()
	c.Transport.(*http.Transport).DisableKeepAlives = true
	return c
}

// NewKeepAliveHTTPClient is an HTTP client with a keep-alive connection
// pool of its own, for clients built WithConnectionReuse (read its risk
// there). A worker serving several sellers gives each its own, so no
// connection is ever reused across sids, as the vendor's SDK does in
// multi-tenant mode.
func NewKeepAliveHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 20 * time.Second
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	return &http.Client{Transport: t, Timeout: DefaultTimeout, CheckRedirect: noRedirect}
}

// New returns a client for endpoint (the full .../openapi URL).
func New(endpoint string, creds Credentials, opts ...Option) (*Client, error) {
	u, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if creds.SID == "" || creds.AppKey == "" || creds.Secret == "" || creds.Salt == "" {
		return nil, fmt.Errorf("%w: incomplete credentials %s: use NewCredentials", ErrConfig, creds)
	}
	c := &Client{endpoint: u, creds: creds}
	for _, o := range opts {
		o(c)
	}
	if c.clock == nil {
		c.clock = NewClock(nil)
	}
	switch {
	case c.http == nil && c.reuse:
		c.http = defaultKeepAliveClient()
	case c.http == nil:
		c.http = DefaultHTTPClient()
	case !c.reuse:
		c.http = withoutKeepAlive(c.http)
	}
	c.http = withoutRedirects(c.http)
	return c, nil
}

// withoutKeepAlive returns h, or a shallow copy of h whose *http.Transport
// is a clone that never keeps a connection alive. Setting Request.Close on
// each call is not enough: a transport shared with other code may hold an
// idle connection, and it hands that to the next request whether or not the
// request asks for Connection: close. A RoundTripper that is not an
// *http.Transport is used as it is, with Request.Close on every call.
func withoutKeepAlive(h *http.Client) *http.Client {
	t, ok := h.Transport.(*http.Transport)
	if h.Transport == nil {
		t, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok || t.DisableKeepAlives {
		return h
	}
	t = t.Clone()
	t.DisableKeepAlives = true
	cp := *h
	cp.Transport = t
	return &cp
}

// noRedirect makes an http.Client hand back a redirect as the response. A
// redirect from WDT's address means WDT_URL is wrong; following it would send
// the signed request (salt and signature in the query) to another host, and a
// POST turned into a GET by a 302 would be a different call.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// withoutRedirects returns a shallow copy of h that never follows redirects.
// The copy shares h's Transport, so its connection pool, and leaves the
// caller's client as it was.
func withoutRedirects(h *http.Client) *http.Client {
	if h == nil {
		h = DefaultHTTPClient()
	}
	cp := *h
	cp.CheckRedirect = noRedirect
	rt := cp.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if _, ok := rt.(redirectGuard); !ok {
		cp.Transport = redirectGuard{rt}
	}
	return &cp
}

// redirectGuard takes the Location header off every 3xx response before
// http.Client sees it, handing it to the call through the request context.
// http.Client parses a Location before it asks CheckRedirect, and fails the
// whole call when it cannot, which would turn a redirect (a configuration
// fault) into a transport error (an unknown outcome), with the Location, and
// any query string a gateway echoed into it, in the error text.
type redirectGuard struct{ rt http.RoundTripper }

// locationKey is the context key of the *string that receives a redirect's
// Location.
type locationKey struct{}

func (g redirectGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.rt.RoundTrip(req)
	if err == nil && resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		if p, ok := req.Context().Value(locationKey{}).(*string); ok {
			*p = resp.Header.Get("Location")
		}
		resp.Header.Del("Location")
	}
	return resp, err
}

// CloseIdleConnections passes http.Client.CloseIdleConnections through.
func (g redirectGuard) CloseIdleConnections() {
	if c, ok := g.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// APIPath is the path of the open API on every WDT host.
const APIPath = "/openapi"

// ParseEndpoint checks a WDT URL. The error names both official URLs because
// the usual mistake is mixing up the test and production environments. The
// path must be exactly APIPath: the vendor's SDKs take the base URL and add
// it themselves, so a pasted base URL is the other usual mistake, and it
// would otherwise only show up as a 404 (or a redirect) on the first call.
func ParseEndpoint(endpoint string) (*url.URL, error) {
	hint := fmt.Sprintf("set WDT_URL or --wdt-url to %s (test) or %s (production), or a sandbox's http://HOST:PORT/openapi", TestURL, ProductionURL)
	if strings.TrimSpace(endpoint) == "" {
		return nil, fmt.Errorf("%w: WDT URL is empty: %s", ErrConfig, hint)
	}
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: WDT URL %q is not an http(s) URL: %s", ErrConfig, endpoint, hint)
	}
	if u.RawQuery != "" || u.ForceQuery || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%w: WDT URL must carry no query, fragment or user info: %s", ErrConfig, hint)
	}
	if u.EscapedPath() != APIPath {
		return nil, fmt.Errorf("%w: WDT URL %s://%s%s has the path %q, but the path must be exactly %s: WDT_URL is the full API URL, not the base URL the vendor's PHP SDKs take (such as http://wdt.wangdian.cn): %s",
			ErrConfig, u.Scheme, u.Host, u.EscapedPath(), u.EscapedPath(), APIPath, hint)
	}
	return u, nil
}

// Clock is the client's clock; its Offset is exported as a metric.
func (c *Client) Clock() *Clock { return c.clock }

// Credentials returns the account (its String is redacted).
func (c *Client) Credentials() Credentials { return c.creds }

// Endpoint is the API URL without any query: safe to show.
func (c *Client) Endpoint() string { return c.endpoint.String() }

// CancelPreStockin cancels one return pre-stockin order. nil means WDT
// answered status 0; any error is an *Error (see CategoryOf).
func (c *Client) CancelPreStockin(ctx context.Context, preStockinNo string) error {
	_, err := c.Call(ctx, MethodCancelPreStockin, preStockinNo)
	return err
}

// Call invokes method with positional arguments, encoded as the compact JSON
// array WDT expects. Each call is signed afresh with the corrected clock, so
// a retry never reuses a timestamp or a signature.
func (c *Client) Call(ctx context.Context, method string, args ...any) (*Response, error) {
	if args == nil {
		args = []any{}
	}
	body, err := marshalArgs(args)
	if err != nil {
		return nil, &Error{Category: Config, Method: method, Status: NoStatus, Message: "cannot encode arguments", Err: err}
	}
	return c.CallRaw(ctx, method, body)
}

// marshalArgs encodes without HTML escaping: WDT signs the exact bytes, and
// "<" in an argument must stay "<", not become "\u003c".
func marshalArgs(args []any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(args); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// CallRaw sends body (already a JSON array) as method's arguments.
func (c *Client) CallRaw(ctx context.Context, method string, body []byte) (*Response, error) {
	ts := Timestamp(c.clock.Now())
	params := requestParams(c.creds, method, ts, string(body))
	sign := Sign(c.creds.Secret, params)

	// The query string, built directly: url.Values would allocate a map
	// and sort it again on every call.
	var qb strings.Builder
	qb.Grow(256)
	for _, p := range params {
		if p.Name == "body" {
			continue
		}
		qb.WriteString(p.Name)
		qb.WriteByte('=')
		qb.WriteString(url.QueryEscape(p.Value))
		qb.WriteByte('&')
	}
	qb.WriteString("sign=")
	qb.WriteString(sign)
	u := *c.endpoint
	u.RawQuery = qb.String()
	urlStr := u.String()

	// Whatever comes back may echo the request: every *Error is scrubbed of
	// the secrets and of the signed query string before it is returned. The
	// redactor is built only when a call fails.
	red := lazyRedactor{values: []string{c.creds.Secret, c.creds.Salt, sign, u.RawQuery, urlStr}}
	out, e := c.send(ctx, method, urlStr, body, red.redact)
	if e != nil {
		redactError(e, red.get())
		return nil, e
	}
	return out, nil
}

// send makes the HTTP exchange of one signed call and reads the answer.
// redact is applied to response text before it is cut to size, so a secret
// cannot survive half-cut at the end of an excerpt.
func (c *Client) send(ctx context.Context, method, urlStr string, body []byte, redact func(string) string) (*Response, *Error) {
	// written flips once the whole request has gone out: from then on WDT may
	// have acted on it, and a failure is an unknown outcome, not a network one.
	var written bool
	var mu sync.Mutex
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		mu.Lock()
		written = written || i.Err == nil // once written, a retry on another connection cannot unsend it
		mu.Unlock()
	}}
	var location string // a redirect's Location, from redirectGuard
	ctx = context.WithValue(httptrace.WithClientTrace(ctx, trace), locationKey{}, &location)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, urlStr, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Category: Config, Method: method, Status: NoStatus, Message: "cannot build request", Err: stripURL(err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wdtcancel")
	// One call, one connection: Connection: close tells the server (and
	// any gateway) the connection ends with this answer, and makes even a
	// RoundTripper of the caller's close it after reading.
	req.Close = !c.reuse

	sent := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		mu.Lock()
		w := written
		mu.Unlock()
		return nil, transportError(method, w, err, 0)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	received := time.Now()
	c.clock.Observe(resp.Header, sent, received)
	if err != nil {
		// Headers arrived, so the request certainly reached WDT.
		return nil, transportError(method, true, err, resp.StatusCode)
	}
	truncated := len(raw) > MaxBodyBytes
	if truncated {
		raw = raw[:MaxBodyBytes]
	}
	out, e := parseResponse(method, resp.StatusCode, raw, truncated, redact)
	if e != nil {
		if e.Category == Config && resp.StatusCode >= 300 && resp.StatusCode <= 399 {
			e.Message += redirectTarget(resp.Request.URL, location)
		}
		return nil, e
	}
	return out, nil
}

// lazyRedactor builds the redactor of one call on first use: a successful
// call never needs it.
type lazyRedactor struct {
	values []string
	r      *redactor
}

func (l *lazyRedactor) get() *redactor {
	if l.r == nil {
		l.r = newRedactor(l.values...)
	}
	return l.r
}

func (l *lazyRedactor) redact(s string) string { return l.get().redact(s) }

// redirectTarget names where a redirect points, as " to scheme://host": the
// path and the query are left out, since a gateway may echo the request's
// query string (salt and signature) into the Location.
func redirectTarget(from *url.URL, location string) string {
	if location == "" {
		return " with no usable Location"
	}
	loc, err := from.Parse(location)
	if err != nil || loc.Host == "" {
		return " with no usable Location"
	}
	return " to " + clipTo(loc.Scheme+"://"+loc.Host, 120)
}

// transportError classifies a failure with no usable response. If the
// request was written, WDT may have acted on it: UnknownOutcome. If not (dial
// refused, DNS, a TLS handshake cut, cancelled before sending) it surely did
// not: Network. A TLS certificate that does not verify, or plain HTTP on an
// https:// URL, will not heal by retrying: Config.
func transportError(method string, written bool, err error, httpStatus int) *Error {
	cat, msg := Network, "request not sent"
	switch {
	case written:
		cat, msg = UnknownOutcome, "request sent, no complete response"
	case tlsVerifyFailed(err):
		cat, msg = Config, "the TLS certificate of the WDT endpoint did not verify"
	case errors.Is(err, http.ErrSchemeMismatch):
		cat, msg = Config, "the WDT endpoint does not speak TLS"
	}
	return &Error{Category: cat, Method: method, Status: NoStatus, Message: msg, HTTPStatus: httpStatus, Err: stripURL(err)}
}

// stripURL removes the request URL from net/http's *url.Error: it carries the
// salt and the signature in its query string.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &redactedError{op: ue.Op, err: ue.Err}
	}
	return err
}

// scrubURLs drops any query string from text that may quote a URL (some
// transport errors embed it a second time).
func scrubURLs(s string) string { return queryPattern.ReplaceAllString(s, "?"+Redacted) }

var queryPattern = regexp.MustCompile(`\?[^\s"']*`)

// StatusText renders a WDT status for logs: "-" when there was none.
func StatusText(status int) string {
	if status == NoStatus {
		return "-"
	}
	return strconv.Itoa(status)
}

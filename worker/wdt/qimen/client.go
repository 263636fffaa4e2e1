package qimen

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// MethodPreStockinSearch is wms.stockin.PreStockin.search as the Qimen
// custom route names it.
const MethodPreStockinSearch = "wdt.wms.stockin.prestockin.search"

// Defaults of Config.
const (
	// DefaultWindow is how far back the lookup searches by modified time
	// (mt_from = now - window, mt_to = now + windowSlack). Any change a
	// cancel of ours made is newer than the task, and tasks are kept 7 days
	// (tasks.DefaultOptions); a month covers them with room to spare, so an
	// order our cancel touched is always inside. docs/wdt-api.md says why
	// the window is by modified time.
	DefaultWindow = 30 * 24 * time.Hour
	// DefaultPageSize is the pager's page_size. A number matches one order,
	// so one page normally answers; paging is there in case WDT matches
	// stockin_no loosely.
	DefaultPageSize = 20
	// MaxPageSize is the largest page_size the client sends.
	MaxPageSize = 100
	// DefaultMaxPages bounds one lookup's paging.
	DefaultMaxPages = 10
)

// windowSlack extends mt_to past our clock, so that an order modified just
// now on a server whose clock is ahead of ours is still inside.
const windowSlack = 10 * time.Minute

// Credentials are the Qimen side of a lookup: the Qimen app's key and
// secret and WDT's app key on Qimen (target_app_key). The type formats
// itself without the secret.
type Credentials struct {
	AppKey       string
	AppSecret    string
	TargetAppKey string
}

// NewCredentials validates the three Qimen values. Errors name what is
// missing, never the secret.
func NewCredentials(appKey, appSecret, targetAppKey string) (Credentials, error) {
	c := Credentials{AppKey: strings.TrimSpace(appKey), AppSecret: strings.TrimSpace(appSecret), TargetAppKey: strings.TrimSpace(targetAppKey)}
	switch {
	case c.AppKey == "":
		return Credentials{}, fmt.Errorf("%w: Qimen appkey is empty: set WDT_QIMEN_APPKEY or --qimen-appkey to the Qimen app's key", wdt.ErrConfig)
	case c.AppSecret == "":
		return Credentials{}, fmt.Errorf("%w: Qimen appsecret is empty: set WDT_QIMEN_APPSECRET or --qimen-appsecret to the Qimen app's secret", wdt.ErrConfig)
	case wdt.HasUnprintable(c.AppSecret):
		return Credentials{}, fmt.Errorf("%w: Qimen appsecret holds white space, a control or an invisible character (a zero-width space U+200B, a byte-order mark U+FEFF) inside it: copy WDT_QIMEN_APPSECRET (or --qimen-appsecret) again; white space around the whole value is trimmed", wdt.ErrConfig)
	case c.TargetAppKey == "":
		return Credentials{}, fmt.Errorf("%w: Qimen target appkey is empty: set WDT_QIMEN_TARGET_APPKEY or --qimen-target-appkey to WDT's app key on Qimen", wdt.ErrConfig)
	}
	return c, nil
}

// String shows which app this is without the secret.
func (c Credentials) String() string {
	return fmt.Sprintf("qimen.Credentials{appkey=%q target_appkey=%q appsecret=[REDACTED]}", c.AppKey, c.TargetAppKey)
}

// GoString keeps %#v from printing the fields one by one.
func (c Credentials) GoString() string { return c.String() }

// Config is one seller's lookup.
type Config struct {
	// URL is the Qimen gateway (WDT_QIMEN_URL): http(s), no query.
	URL string
	// Qimen are the Qimen app's credentials.
	Qimen Credentials
	// WDT are the seller's WDT credentials, the ones the cancel uses:
	// wdt_appkey is their AppKey, wdt_salt their Salt, wdt_sign is signed
	// with their Secret, and wdt3_customer_id is their SID unless
	// CustomerID says otherwise.
	WDT        wdt.Credentials
	CustomerID string
	// Method defaults to MethodPreStockinSearch; an app-key prefix
	// ("<key>.wdt.…") is sent as given and not signed into wdt_sign.
	Method   string
	Window   time.Duration // default DefaultWindow
	PageSize int           // default DefaultPageSize, at most MaxPageSize
	MaxPages int           // default DefaultMaxPages
	// HTTP is the client to use (a copy that never follows redirects);
	// default wdt.DefaultHTTPClient().
	HTTP *http.Client
	// Clock signs with the server's time as last learned; default a new
	// one. Pass the seller's cancel client's clock to share its offset.
	Clock *wdt.Clock
}

// Client looks orders up for one seller. It is safe for concurrent use.
type Client struct {
	cfg      Config
	endpoint *url.URL
	http     *http.Client
	clock    *wdt.Clock
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Client, error) {
	u, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if err := cfg.checkCredentials(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := cfg.HTTP
	if h == nil {
		h = wdt.DefaultHTTPClient()
	}
	clk := cfg.Clock
	if clk == nil {
		clk = wdt.NewClock(nil)
	}
	return &Client{cfg: cfg, endpoint: u, http: noRedirects(h), clock: clk}, nil
}

// checkCredentials refuses a lookup that could not sign: both the Qimen
// app's credentials and the seller's WDT ones are signed into every call,
// and a customer ID is needed (the SID unless CustomerID is given).
func (cfg Config) checkCredentials() error {
	if _, err := NewCredentials(cfg.Qimen.AppKey, cfg.Qimen.AppSecret, cfg.Qimen.TargetAppKey); err != nil {
		return err
	}
	w := cfg.WDT
	if w.AppKey == "" || w.Secret == "" || w.Salt == "" || (w.SID == "" && cfg.CustomerID == "") {
		return fmt.Errorf("%w: incomplete WDT credentials %s for the Qimen lookup: use wdt.NewCredentials", wdt.ErrConfig, w)
	}
	return nil
}

// withDefaults fills every zero field with its default, in one place; a
// negative value stays, for validate to refuse.
func (cfg Config) withDefaults() Config {
	cfg.CustomerID = cmp.Or(cfg.CustomerID, cfg.WDT.SID)
	cfg.Method = cmp.Or(cfg.Method, MethodPreStockinSearch)
	cfg.Window = cmp.Or(cfg.Window, DefaultWindow)
	cfg.PageSize = cmp.Or(cfg.PageSize, DefaultPageSize)
	cfg.MaxPages = cmp.Or(cfg.MaxPages, DefaultMaxPages)
	return cfg
}

// validate refuses sizes that cannot be meant, after withDefaults.
func (cfg Config) validate() error {
	switch {
	case cfg.Window < 0:
		return fmt.Errorf("%w: Qimen lookup window %s is negative", wdt.ErrConfig, cfg.Window)
	case cfg.PageSize < 1 || cfg.PageSize > MaxPageSize:
		return fmt.Errorf("%w: Qimen page size %d is outside 1..%d", wdt.ErrConfig, cfg.PageSize, MaxPageSize)
	case cfg.MaxPages < 1:
		return fmt.Errorf("%w: Qimen max pages %d: use 1 or more", wdt.ErrConfig, cfg.MaxPages)
	}
	return nil
}

// noRedirects is a copy of h that never follows a redirect: a redirect
// from the gateway is a wrong URL to report, and following it would send
// the signed request somewhere else.
func noRedirects(h *http.Client) *http.Client {
	cp := *h
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// ParseURL checks a Qimen gateway URL. Unlike WDT_URL it takes any path:
// Qimen gateways differ by region and environment.
func ParseURL(raw string) (*url.URL, error) {
	hint := "set WDT_QIMEN_URL or --qimen-url to the Qimen gateway URL of the Qimen console (for the sandbox, http://HOST:PORT" + SandboxPath + ")"
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, fmt.Errorf("%w: Qimen URL is empty: %s", wdt.ErrConfig, hint)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: Qimen URL is not an http(s) URL: %s", wdt.ErrConfig, hint)
	}
	if u.RawQuery != "" || u.ForceQuery || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%w: Qimen URL must carry no query, fragment or user info: %s", wdt.ErrConfig, hint)
	}
	return u, nil
}

// SandboxPath is where the sandbox serves the Qimen route, modelled on the
// Qimen gateway's own /router/qm.
const SandboxPath = "/router/qm"

// Endpoint is the gateway URL (no query): safe to show.
func (c *Client) Endpoint() string { return c.endpoint.String() }

// Clock is the client's clock.
func (c *Client) Clock() *wdt.Clock { return c.clock }

// OrderStatus is a pre-stockin order's state in WDT.
type OrderStatus int

// The states WDT documents for pre-stockin orders and their siblings.
const (
	StatusPending      OrderStatus = -2 // 待处理
	StatusCancelled    OrderStatus = 10 // 已取消
	StatusEditing      OrderStatus = 20 // 编辑中
	StatusReview       OrderStatus = 30 // 待审核
	StatusAwaitingQC   OrderStatus = 37 // 待质检
	StatusQCConfirming OrderStatus = 40 // 质检待确认
	StatusCompleted    OrderStatus = 80 // 已完成
)

var statusNames = map[OrderStatus]string{
	StatusPending: "pending", StatusCancelled: "cancelled", StatusEditing: "editing", StatusReview: "awaiting_review",
	StatusAwaitingQC: "awaiting_qc", StatusQCConfirming: "qc_confirming", StatusCompleted: "completed",
}

// String is "10 cancelled", or the bare number of a state WDT has not
// documented.
func (s OrderStatus) String() string {
	if n, ok := statusNames[s]; ok {
		return strconv.Itoa(int(s)) + " " + n
	}
	return strconv.Itoa(int(s))
}

// Known reports whether WDT documents the state.
func (s OrderStatus) Known() bool { _, ok := statusNames[s]; return ok }

// Cancellable reports whether a cancel could still succeed from the state.
func (s OrderStatus) Cancellable() bool { return s == StatusEditing || s == StatusReview }

// Result is what a lookup found. Found is false when WDT knows no order of
// that number modified within the window; Status and the times are set only
// when it is true.
type Result struct {
	PreStockinNo string
	Found        bool
	Status       OrderStatus
	// Modified is the order's modified_date (China time): when its state
	// last changed, or any other edit. ModifiedText is it as WDT wrote it.
	Modified     time.Time
	ModifiedText string
	Created      time.Time // zero when WDT sent none
	// CheckedAt is when the lookup was signed, on the server's clock as
	// the client knows it: the answer describes the order no earlier.
	CheckedAt time.Time
	// From and To are the modified-time window searched.
	From, To time.Time
	Pages    int // pages read
}

// Lookup finds one order by its number (stockin_no), searching the orders
// modified within the window (Config.Window back from now), page by page
// until the number is found or every page is read. A failure is an *Error;
// the lookup is read-only, so the caller may retry it freely.
func (c *Client) Lookup(ctx context.Context, preStockinNo string) (Result, error) {
	now := c.clock.Now()
	return c.LookupWindow(ctx, preStockinNo, now.Add(-c.cfg.Window), now.Add(windowSlack))
}

// LookupWindow is Lookup over the modified-time window [from, to]. It
// stops at the first page that holds the number; on that page, two orders
// of the number in different states are an error, not a guess.
func (c *Client) LookupWindow(ctx context.Context, preStockinNo string, from, to time.Time) (Result, error) {
	res := Result{PreStockinNo: preStockinNo, From: from, To: to, CheckedAt: c.clock.Now()}
	if strings.TrimSpace(preStockinNo) == "" || !to.After(from) {
		return res, &Error{Kind: KindConfig, Category: wdt.Config, PreStockinNo: preStockinNo, Status: wdt.NoStatus,
			Message: "the lookup needs an order number and a window whose end is after its start"}
	}
	match, pages, err := c.findOnPages(ctx, preStockinNo, from, to)
	res.Pages = pages
	if err != nil {
		err.PreStockinNo = preStockinNo
		return res, err
	}
	if match != nil {
		res.Found, res.Status = true, OrderStatus(match.status)
		res.Modified, res.ModifiedText, res.Created = match.modified, match.raw, match.created
	}
	return res, nil
}

// findOnPages reads the window's pages from the first until one holds the
// number (further pages would only cost calls from WDT's quota) or every
// page is read. It returns the match (nil: not in the window) and how many
// pages answered.
func (c *Client) findOnPages(ctx context.Context, no string, from, to time.Time) (*pageOrder, int, *Error) {
	seen := 0
	var match *pageOrder
	for p := 1; p <= c.cfg.MaxPages; p++ {
		pg, err := c.searchPage(ctx, no, from, to, p)
		if err != nil {
			return nil, p - 1, err
		}
		if match, err = pickMatch(pg.orders, no, match); err != nil {
			return nil, p, err
		}
		seen += len(pg.orders)
		done, err := c.lastPage(pg, seen, p, match != nil, no)
		if err != nil || done {
			return match, p, err
		}
	}
	return match, c.cfg.MaxPages, nil
}

// pickMatch is the order of orders numbered no, or match when none is.
// Two of them in different states (or modified at different times) are
// garbled: a guess between them could file a cancel wrongly.
func pickMatch(orders []pageOrder, no string, match *pageOrder) (*pageOrder, *Error) {
	for i := range orders {
		o := orders[i]
		if o.no != no {
			continue
		}
		if match != nil && (match.status != o.status || !match.modified.Equal(o.modified)) {
			return nil, &Error{Kind: KindGarbled, Category: wdt.UnknownOutcome, Status: wdt.NoStatus,
				Message: fmt.Sprintf("WDT answered two orders numbered %q, in states %d and %d", no, match.status, o.status)}
		}
		match = &o
	}
	return match, nil
}

// lastPage reports whether page p ends the search: the number was found,
// the page came back short, or seen reached WDT's count. A short page
// before the count is reached, or a count MaxPages cannot cover, is
// garbled: "not found" would be a guess.
func (c *Client) lastPage(pg *page, seen, p int, found bool, no string) (bool, *Error) {
	short := len(pg.orders) < c.cfg.PageSize
	if short && seen < pg.total {
		return false, &Error{Kind: KindGarbled, Category: wdt.UnknownOutcome, Status: wdt.NoStatus,
			Message: fmt.Sprintf("WDT counts %d orders but its pages held %d (page %d came back short): are its pages numbered from 0 here?", pg.total, seen, p)}
	}
	if found || short || seen >= pg.total {
		return true, nil
	}
	if p == c.cfg.MaxPages {
		return false, &Error{Kind: KindGarbled, Category: wdt.UnknownOutcome, Status: wdt.NoStatus,
			Message: fmt.Sprintf("WDT counts %d orders matching %q; read %d pages of %d without settling it", pg.total, no, p, c.cfg.PageSize)}
	}
	return false, nil
}

// searchPage makes one signed call for one page.
func (c *Client) searchPage(ctx context.Context, no string, from, to time.Time, pageNo int) (*page, *Error) {
	ts := c.clock.Now().In(China).Format(TimeLayout)
	params, err := marshalCompact(map[string]string{
		"stockin_no": no,
		"mt_from":    from.In(China).Format(TimeLayout),
		"mt_to":      to.In(China).Format(TimeLayout),
	})
	if err != nil {
		return nil, &Error{Kind: KindConfig, Category: wdt.Config, Status: wdt.NoStatus, Message: "cannot encode params", Err: err}
	}
	pager := `{"page_no":` + strconv.Itoa(pageNo) + `,"page_size":` + strconv.Itoa(c.cfg.PageSize) + `}`
	api := map[string]string{
		"datetime":         ts,
		"params":           params,
		"pager":            pager,
		"wdt_appkey":       c.cfg.WDT.AppKey,
		"wdt_salt":         c.cfg.WDT.Salt,
		"wdt3_customer_id": c.cfg.CustomerID,
	}
	wdtSign, err := Sign(c.cfg.WDT.Secret, c.cfg.Method, api)
	if err != nil {
		return nil, &Error{Kind: KindConfig, Category: wdt.Config, Status: wdt.NoStatus, Message: "cannot sign the lookup", Err: err}
	}
	api["wdt_sign"] = wdtSign
	sys := map[string]string{
		"app_key":        c.cfg.Qimen.AppKey,
		"method":         c.cfg.Method,
		"format":         "json",
		"v":              "2.0",
		"sign_method":    "md5",
		"timestamp":      ts,
		"target_app_key": c.cfg.Qimen.TargetAppKey,
	}
	all := make(map[string]string, len(sys)+len(api))
	for k, v := range sys {
		all[k] = v
	}
	for k, v := range api {
		all[k] = v
	}
	sign := TopSign(c.cfg.Qimen.AppSecret, all)
	sys["sign"] = sign

	// System parameters in the query string, API parameters in a form
	// body, as the Qimen SDKs send them.
	q := url.Values{}
	for k, v := range sys {
		q.Set(k, v)
	}
	form := url.Values{}
	for k, v := range api {
		form.Set(k, v)
	}
	u := *c.endpoint
	u.RawQuery = q.Encode()
	body := form.Encode()
	pg, e := c.send(ctx, u.String(), body)
	if e != nil {
		// Built only for a failure: a successful call never needs it.
		scrub(e, wdt.NewRedactor(c.cfg.Qimen.AppSecret, c.cfg.WDT.Secret, c.cfg.WDT.Salt, sign, wdtSign, u.RawQuery, u.String(), body))
		return nil, e
	}
	return pg, nil
}

// send makes the HTTP exchange and reads the answer.
func (c *Client) send(ctx context.Context, urlStr, body string) (*page, *Error) {
	var mu sync.Mutex
	var written bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		mu.Lock()
		written = written || i.Err == nil
		mu.Unlock()
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, urlStr, strings.NewReader(body))
	if err != nil {
		return nil, &Error{Kind: KindConfig, Category: wdt.Config, Status: wdt.NoStatus, Message: "cannot build the request", Err: wdt.StripURL(err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wdtcancel")
	sent := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		mu.Lock()
		w := written
		mu.Unlock()
		kind, cat, msg := KindNotSent, wdt.Network, "request not sent"
		if w {
			kind, cat, msg = KindNoAnswer, wdt.UnknownOutcome, "request sent, no complete answer"
		}
		return nil, &Error{Kind: kind, Category: cat, Status: wdt.NoStatus, Message: msg, Err: wdt.StripURL(err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	c.clock.Observe(resp.Header, sent, time.Now())
	if err != nil {
		return nil, &Error{Kind: KindNoAnswer, Category: wdt.UnknownOutcome, Status: wdt.NoStatus, HTTPStatus: resp.StatusCode,
			Message: "answer cut short", Err: wdt.StripURL(err)}
	}
	truncated := len(raw) > MaxBodyBytes
	if truncated {
		raw = raw[:MaxBodyBytes]
	}
	return parseAnswer(resp.StatusCode, raw, truncated)
}

// scrub takes every secret out of what an error carries, then cuts the
// texts to size: redacting first, so no secret survives half-cut.
func scrub(e *Error, r wdt.Redactor) {
	e.Message, e.SubMessage = wdt.Clip(r.Redact(e.Message)), wdt.Clip(r.Redact(e.SubMessage))
	e.Code, e.SubCode = wdt.Clip(r.Redact(e.Code)), wdt.Clip(r.Redact(e.SubCode))
	e.Body = wdt.Excerpt(r.Redact(e.Body))
	if e.Err != nil {
		e.Err = &scrubbed{err: e.Err, r: r}
	}
}

// scrubbed shows a cause with its text redacted, keeping it reachable for
// errors.Is and errors.As.
type scrubbed struct {
	err error
	r   wdt.Redactor
}

func (s *scrubbed) Error() string { return s.r.Redact(s.err.Error()) }
func (s *scrubbed) Unwrap() error { return s.err }

// marshalCompact encodes a flat string map as compact JSON in key order,
// without HTML escaping (the signature covers the exact text).
func marshalCompact(m map[string]string) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

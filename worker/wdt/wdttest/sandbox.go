package wdttest

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/httpjson"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// Default credentials: what `wdtcancel sandbox` accepts unless told otherwise.
const (
	DefaultSID       = "sandbox"
	DefaultAppKey    = "sandbox"
	DefaultAppSecret = "sandbox:sandbox"
)

// The vendor's answers the sandbox gives. RejectNotCancellable keeps the
// trailing space of the vendor's own example.
const (
	MsgAuthFailed          = "验证失败"
	MsgAppAuthFail         = "app auth fail"
	MsgSIDNotExists        = "sid is not exists"
	MsgParamError          = "参数错误"
	MsgTimestampExpired    = "时间戳已过期,与服务器时间相差超过120秒"
	MsgBadVersion          = "版本号错误"
	MsgUnknownMethod       = "接口不存在"
	MsgRejectNotCancelable = "入库单状态不为待审核或编辑中 "
	MsgNoSuchDocument      = "单据不存在"
	MsgRateLimitCalls      = wdt.RateLimitCallsPrefix + "，请稍后重试"
	MsgRateLimitConcurrent = wdt.RateLimitConcurrencyPrefix + ",请稍后重试"
)

// TimestampWindow is how far a request's timestamp may be from the server's
// clock.
const TimestampWindow = 120

// Options configure a sandbox. The zero value is a sandbox with the default
// credentials, no orders (every number editing), no quota and no faults.
type Options struct {
	SID, AppKey, AppSecret string

	Orders  map[string]int // initial states by number
	Unknown Unknown        // what an unlisted number is

	ClockOffset time.Duration // the server's clock minus the real one

	RatePerMinute  int // accepted calls in any 60 s window; 0 = no quota
	MaxConcurrency int // calls in flight at once; 0 = no quota
	// QuotaWindow replaces WDT's one-minute quota window, to compress time
	// in demos (RatePerMinute calls per QuotaWindow). Default one minute.
	QuotaWindow time.Duration

	Latency          time.Duration // added to every API call
	FailRate         float64       // share of calls answered by a gateway fault
	LostResponseRate float64       // share of calls applied, then dropped
	Seed             int64         // makes the fault sequence reproducible

	Logger *zap.Logger
	Now    func() time.Time // the real clock; tests may fake it
	// OnCall, when set, is called with the number of every verified cancel
	// call as it arrives (benchmarks time pickup latency with it).
	OnCall func(preStockinNo string)
}

// Order is what the inspection endpoint shows of one order.
type Order struct {
	PreStockinNo string `json:"pre_stockin_no"`
	Status       int    `json:"status"`
	CancelCalls  int    `json:"cancel_calls"`
	// LostResponses counts calls for this order that the sandbox applied
	// (or answered) and then dropped without a response.
	LostResponses int  `json:"lost_responses"`
	Known         bool `json:"known"`
}

// Stats counts calls by the status answered and by the fault injected.
type Stats struct {
	Calls    int            `json:"calls"`
	ByStatus map[string]int `json:"by_status"`
	ByFault  map[string]int `json:"by_fault"`
	// Cancellations is the number of orders moved to state 10 by a call.
	Cancellations int `json:"cancellations"`
}

// Sandbox is the fake API as an http.Handler.
type Sandbox struct {
	secret, salt string
	opts         Options
	log          *zap.Logger

	mu          sync.Mutex
	orders      map[string]*order
	rng         *rand.Rand
	accepted    []time.Time // accept times within the last minute, for the quota
	stats       Stats
	clockOffset time.Duration

	inflight atomic.Int64
}

type order struct {
	state       int
	cancelCalls int
	lost        int
	known       bool
}

// New builds a sandbox. It fails only on a malformed AppSecret.
func New(opts Options) (*Sandbox, error) {
	if opts.SID == "" {
		opts.SID = DefaultSID
	}
	if opts.AppKey == "" {
		opts.AppKey = DefaultAppKey
	}
	if opts.AppSecret == "" {
		opts.AppSecret = DefaultAppSecret
	}
	if opts.Unknown == "" {
		opts.Unknown = UnknownEditing
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.QuotaWindow <= 0 {
		opts.QuotaWindow = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.FailRate < 0 || opts.FailRate > 1 || opts.LostResponseRate < 0 || opts.LostResponseRate > 1 {
		return nil, fmt.Errorf("sandbox: fail and lost-response rates must be within 0..1")
	}
	secret, salt, err := wdt.SplitAppSecret(opts.AppSecret)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s := &Sandbox{
		secret: secret, salt: salt, opts: opts, log: opts.Logger,
		orders:      make(map[string]*order, len(opts.Orders)),
		rng:         rand.New(rand.NewSource(opts.Seed)),
		stats:       Stats{ByStatus: map[string]int{}, ByFault: map[string]int{}},
		clockOffset: opts.ClockOffset,
	}
	for no, st := range opts.Orders {
		s.orders[no] = &order{state: st, known: true}
	}
	return s, nil
}

// Credentials are the ones the sandbox accepts, for clients under test.
func (s *Sandbox) Credentials() wdt.Credentials {
	return wdt.Credentials{SID: s.opts.SID, AppKey: s.opts.AppKey, Secret: s.secret, Salt: s.salt}
}

// SetClockOffset changes the simulated server clock while running.
func (s *Sandbox) SetClockOffset(d time.Duration) {
	s.mu.Lock()
	s.clockOffset = d
	s.mu.Unlock()
}

// SetFaults changes the fault rates while running.
func (s *Sandbox) SetFaults(failRate, lostResponseRate float64) {
	s.mu.Lock()
	s.opts.FailRate, s.opts.LostResponseRate = failRate, lostResponseRate
	s.mu.Unlock()
}

// SetOrder puts an order in a state.
func (s *Sandbox) SetOrder(no string, state int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookup(no).state = state
	s.orders[no].known = true
}

// Order reports one order; ok is false for an unlisted number under
// --unknown missing that no call has touched.
func (s *Sandbox) Order(no string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[no]
	if !ok {
		if s.opts.Unknown == UnknownMissing {
			return Order{PreStockinNo: no}, false
		}
		return Order{PreStockinNo: no, Status: StateEditing}, true
	}
	return Order{PreStockinNo: no, Status: o.state, CancelCalls: o.cancelCalls, LostResponses: o.lost, Known: o.known}, true
}

// Orders lists every order the sandbox holds, by number.
func (s *Sandbox) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, 0, len(s.orders))
	for no, o := range s.orders {
		out = append(out, Order{PreStockinNo: no, Status: o.state, CancelCalls: o.cancelCalls, LostResponses: o.lost, Known: o.known})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PreStockinNo < out[j].PreStockinNo })
	return out
}

// Stats returns a copy of the counters.
func (s *Sandbox) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.stats
	c.ByStatus = make(map[string]int, len(s.stats.ByStatus))
	for k, v := range s.stats.ByStatus {
		c.ByStatus[k] = v
	}
	c.ByFault = make(map[string]int, len(s.stats.ByFault))
	for k, v := range s.stats.ByFault {
		c.ByFault[k] = v
	}
	return c
}

// lookup returns the order, creating an unlisted one as editing. Caller
// holds mu.
func (s *Sandbox) lookup(no string) *order {
	o, ok := s.orders[no]
	if !ok {
		o = &order{state: StateEditing}
		s.orders[no] = o
	}
	return o
}

// ServeHTTP routes the API and the inspection endpoints.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/openapi":
		s.serveAPI(w, r)
	case r.URL.Path == "/_sandbox/stats" && r.Method == http.MethodGet:
		httpjson.Write(w, http.StatusOK, s.Stats())
	case r.URL.Path == "/_sandbox/orders" && r.Method == http.MethodGet:
		httpjson.Write(w, http.StatusOK, s.Orders())
	case strings.HasPrefix(r.URL.Path, "/_sandbox/orders/") && r.Method == http.MethodGet:
		no := strings.TrimPrefix(r.URL.Path, "/_sandbox/orders/")
		o, ok := s.Order(no)
		if !ok {
			httpjson.Write(w, http.StatusNotFound, map[string]any{"pre_stockin_no": no, "error": "no such order"})
			return
		}
		httpjson.Write(w, http.StatusOK, o)
	case r.URL.Path == "/healthz":
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	default:
		http.NotFound(w, r)
	}
}

// fault is what the sandbox decided to do to one call instead of, or after,
// answering it.
type fault string

const (
	faultNone  fault = ""
	fault502   fault = "http_502"
	faultHTML  fault = "html_page"
	faultEmpty fault = "empty_body"
	faultReset fault = "connection_reset"
	faultLost  fault = "lost_response"
)

func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	// One simulated server: every answer, gateway faults included, carries
	// its clock, or a client would learn two different offsets.
	w.Header().Set("Date", s.serverNow().UTC().Format(http.TimeFormat))
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	if d := s.opts.Latency; d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}

	gateway, lost := s.drawFaults()
	method := r.URL.Query().Get("method")
	if gateway != faultNone {
		s.count("", gateway)
		s.logCall(method, "", -1, gateway, start)
		writeFault(w, gateway)
		return
	}

	status, msg, no := s.answer(r, body)
	s.count(strconv.Itoa(status), lostIf(lost))
	s.logCall(method, no, status, lostIf(lost), start)
	if lost {
		if no != "" {
			s.mu.Lock()
			if o, ok := s.orders[no]; ok {
				o.lost++
			}
			s.mu.Unlock()
		}
		resetConnection(w)
		return
	}
	writeAnswer(w, status, msg)
}

func lostIf(lost bool) fault {
	if lost {
		return faultLost
	}
	return faultNone
}

// drawFaults decides, from the seeded generator, whether this call meets a
// gateway fault (and which) or loses its response after being applied.
func (s *Sandbox) drawFaults() (gateway fault, lost bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.FailRate == 0 && s.opts.LostResponseRate == 0 {
		return faultNone, false
	}
	if s.rng.Float64() < s.opts.FailRate {
		kinds := [...]fault{fault502, faultHTML, faultEmpty, faultReset}
		return kinds[s.rng.Intn(len(kinds))], false
	}
	return faultNone, s.rng.Float64() < s.opts.LostResponseRate
}

func (s *Sandbox) serverNow() time.Time {
	s.mu.Lock()
	off := s.clockOffset
	s.mu.Unlock()
	return s.opts.Now().Add(off)
}

// knownParams are the query parameters WDT accepts; any other is status 2.
var knownParams = map[string]bool{"sid": true, "key": true, "salt": true, "method": true, "v": true, "timestamp": true, "sign": true}

// answer verifies the request like WDT and runs the method. It returns the
// status, the message and the order number the call was about, if any.
func (s *Sandbox) answer(r *http.Request, body []byte) (int, string, string) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return 1, MsgParamError + ": Content-Type must be application/json", ""
		}
	}
	q := r.URL.Query()
	for name := range q {
		if !knownParams[name] {
			return 2, name, ""
		}
	}
	for _, name := range [...]string{"sid", "key", "salt", "method", "v", "timestamp", "sign"} {
		if q.Get(name) == "" {
			return 1, MsgParamError + ": missing " + name, ""
		}
	}
	switch {
	case q.Get("v") != wdt.APIVersion:
		return 8, MsgBadVersion, ""
	case q.Get("sid") != s.opts.SID:
		return 1, MsgSIDNotExists, ""
	case q.Get("key") != s.opts.AppKey:
		return 1, MsgAppAuthFail, ""
	}
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		return 1, fmt.Sprintf("For input string: %q", q.Get("timestamp")), ""
	}
	params := make([]wdt.Param, 1, len(q)+1)
	params[0] = wdt.Param{Name: "body", Value: string(body)}
	for name := range q {
		if name != "sign" {
			params = append(params, wdt.Param{Name: name, Value: q.Get(name)})
		}
	}
	if q.Get("salt") != s.salt || wdt.Sign(s.secret, params) != q.Get("sign") {
		return 1, MsgAuthFailed, ""
	}
	now := wdt.Timestamp(s.serverNow())
	if ts < now-TimestampWindow || ts > now+TimestampWindow {
		return 7, MsgTimestampExpired, ""
	}
	if msg := s.admit(); msg != "" {
		return 100, msg, ""
	}
	if q.Get("method") != wdt.MethodCancelPreStockin {
		return 1, MsgUnknownMethod + ": " + q.Get("method"), ""
	}
	var args []json.RawMessage
	var no string
	if json.Unmarshal(body, &args) != nil || len(args) != 1 || json.Unmarshal(args[0], &no) != nil || no == "" {
		return 1, MsgParamError + ": body must be [\"pre_stockin_no\"]", ""
	}
	if s.opts.OnCall != nil {
		s.opts.OnCall(no)
	}
	status, msg := s.cancel(no)
	return status, msg, no
}

// admit applies the quotas. Only calls that pass count towards the
// per-minute quota, as a sliding window (60 s unless QuotaWindow is set).
func (s *Sandbox) admit() string {
	if m := s.opts.MaxConcurrency; m > 0 && s.inflight.Load() > int64(m) {
		return MsgRateLimitConcurrent
	}
	if s.opts.RatePerMinute <= 0 {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	cut := 0
	for cut < len(s.accepted) && now.Sub(s.accepted[cut]) >= s.opts.QuotaWindow {
		cut++
	}
	s.accepted = s.accepted[cut:]
	if len(s.accepted) >= s.opts.RatePerMinute {
		return MsgRateLimitCalls
	}
	s.accepted = append(s.accepted, now)
	return ""
}

func (s *Sandbox) cancel(no string) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[no]
	if !ok && s.opts.Unknown == UnknownMissing {
		return 100, MsgNoSuchDocument
	}
	if !ok {
		o = s.lookup(no)
	}
	o.cancelCalls++
	if !Cancellable(o.state) {
		return 100, MsgRejectNotCancelable
	}
	o.state = StateCancelled
	s.stats.Cancellations++
	return 0, ""
}

func (s *Sandbox) count(status string, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Calls++
	if status != "" {
		s.stats.ByStatus[status]++
	}
	if f != faultNone {
		s.stats.ByFault[string(f)]++
	}
}

func (s *Sandbox) logCall(method, no string, status int, f fault, start time.Time) {
	if ce := s.log.Check(zap.InfoLevel, "sandbox call"); ce != nil {
		ce.Write(zap.String("method", method), zap.String("pre_stockin_no", no),
			zap.String("status", wdt.StatusText(status)), zap.String("fault", string(f)),
			zap.Duration("duration", time.Since(start)))
	}
}

func writeFault(w http.ResponseWriter, f fault) {
	switch f {
	case fault502:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "Bad Gateway")
	case faultHTML:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center><hr><center>nginx</center></body></html>")
	case faultEmpty:
		w.WriteHeader(http.StatusOK)
	case faultReset:
		resetConnection(w)
	}
}

// resetConnection drops the connection with a TCP reset and no response.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// writeAnswer writes WDT's answer: {"status":0} on success, else status and
// message.
func writeAnswer(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if status == 0 && msg == "" {
		io.WriteString(w, `{"status":0}`)
		return
	}
	httpjson.Write(w, http.StatusOK, struct {
		Status  int    `json:"status"`
		Message string `json:"message,omitempty"`
	}{status, msg})
}

// Server is a sandbox listening on a loopback port, for tests.
type Server struct {
	*Sandbox
	// URL is the base URL; the API is at URL + "/openapi".
	URL string
	srv *httptest.Server
}

// NewServer starts a sandbox on a free loopback port. Close it when done.
func NewServer(opts Options) (*Server, error) {
	sb, err := New(opts)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(sb)
	return &Server{Sandbox: sb, URL: srv.URL, srv: srv}, nil
}

// APIURL is the WDT URL a client should use.
func (s *Server) APIURL() string { return s.URL + "/openapi" }

// Close stops the server and closes its connections.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

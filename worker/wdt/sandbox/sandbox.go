package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/httpjson"
	"github.com/wdtcancel/wdtcancel/internal/httpserver"
	"github.com/wdtcancel/wdtcancel/internal/pause"
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
	// The vendor documents both endings of the rate-limit messages, with a
	// full-width and with an ASCII comma; the sandbox sends both (see
	// Faults for how the form is drawn).
	MsgRateLimitCalls               = wdt.RateLimitCallsPrefix + RateLimitSuffixFullWidth
	MsgRateLimitCallsASCII          = wdt.RateLimitCallsPrefix + RateLimitSuffixASCII
	MsgRateLimitConcurrent          = wdt.RateLimitConcurrencyPrefix + RateLimitSuffixASCII
	MsgRateLimitConcurrentFullWidth = wdt.RateLimitConcurrencyPrefix + RateLimitSuffixFullWidth
	RateLimitSuffixFullWidth        = "，请稍后重试"
	RateLimitSuffixASCII            = ",请稍后重试"
)

// TimestampWindow is how far a request's timestamp may be from the server's
// clock.
const TimestampWindow = 120

// Options configure a sandbox. The zero value is a sandbox with the default
// credentials, no orders (every number editing), no quota and no faults.
type Options struct {
	// Name is the seller's name in a multi-seller sandbox (NewMulti): the
	// key of its entry in the sellers file, which `?seller=` selects on the
	// inspection endpoints and the call log carries. A single sandbox
	// ignores it.
	Name string

	SID, AppKey, AppSecret string

	Orders  map[string]int // initial states by number
	Unknown Unknown        // what an unlisted number is

	ClockOffset time.Duration // the server's clock minus the real one

	RatePerMinute int // accepted calls in any 60 s window; 0 = no quota
	// MaxConcurrency is how many calls WDT holds at once; 0 = no quota. A
	// call is admitted or refused as it arrives: an admitted call holds its
	// slot through Latency until it answers, a refused one takes no slot
	// and is answered at once with the vendor's concurrency message.
	MaxConcurrency int
	// QuotaWindow replaces WDT's one-minute quota window, to compress time
	// in demos (RatePerMinute calls per QuotaWindow). Default one minute.
	QuotaWindow time.Duration

	// Latency is added to every API call except one refused for
	// concurrency.
	Latency time.Duration

	// Fault rates: shares of API calls, each within 0..1, adding up to at
	// most 1. Faults documents what each does and the order they are drawn
	// in; SetFaultRates changes them while running.
	FailRate         float64 // gateway fault in front of WDT; order untouched
	RedirectRate     float64 // 302 to DecoyPath with the signed query; order untouched
	LaxJSONRate      float64 // JSON only a lax parser takes for success; order untouched
	ApplyFailRate    float64 // applied, then answered with a gateway page or garbage
	LostResponseRate float64 // applied, then the connection is reset
	DesyncRate       float64 // applied, answered 504 first, the real answer late on the same connection
	ExtraAnswerRate  float64 // applied and answered, then an extra 200 {"status":0} on the same connection
	Seed             int64   // makes the fault sequence reproducible

	// Qimen configures the Qimen route (QimenPath): its credentials,
	// matching and faults (qimen.go).
	Qimen QimenOptions

	Logger *zap.Logger
	Now    func() time.Time // the real clock; tests may fake it
	// OnCall, when set, is called with the number of every verified cancel
	// call as it arrives (benchmarks time pickup latency with it).
	OnCall func(preStockinNo string)
	// Sleep waits out Latency for one call; it returns an error when ctx
	// (the client's request) ends first. Nil is a real timer. Tests replace
	// it to hold calls in flight until they say so.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Faults returns the options' fault rates.
func (o Options) Faults() Faults {
	return Faults{FailRate: o.FailRate, RedirectRate: o.RedirectRate, LaxJSONRate: o.LaxJSONRate,
		ApplyFailRate: o.ApplyFailRate, LostResponseRate: o.LostResponseRate,
		DesyncRate: o.DesyncRate, ExtraAnswerRate: o.ExtraAnswerRate}
}

// Order is what the inspection endpoint shows of one order.
type Order struct {
	PreStockinNo string `json:"pre_stockin_no"`
	Status       int    `json:"status"`
	CancelCalls  int    `json:"cancel_calls"`
	// LostResponses counts calls for this order that the sandbox applied
	// (or answered) and then dropped without a response.
	LostResponses int `json:"lost_responses"`
	// GarbledResponses counts calls for this order that the sandbox applied
	// (or answered) and then answered with a gateway page or garbage
	// (ApplyFailRate). Like a lost response, the caller cannot know.
	GarbledResponses int  `json:"garbled_responses"`
	Known            bool `json:"known"`
}

// Stats counts calls by the status answered and by the fault injected.
type Stats struct {
	// Calls counts requests to the API path, whatever their answer. The
	// decoy's requests are not calls: they count only as
	// ByFault["redirect_followed"].
	Calls int `json:"calls"`
	// ByStatus counts the WDT status of each call WDT processed, including
	// those whose answer was then lost or garbled.
	ByStatus map[string]int `json:"by_status"`
	// ByFault counts injected faults by name (FaultNames lists them).
	ByFault map[string]int `json:"by_fault"`
	// Cancellations is the number of orders moved to state 10 by a call.
	Cancellations int `json:"cancellations"`
}

// Sandbox is the fake API as an http.Handler.
type Sandbox struct {
	secret, salt string
	opts         Options
	log          *zap.Logger

	mux *http.ServeMux

	mu          sync.Mutex
	orders      map[string]*order
	faults      Faults
	rng         *rand.Rand  // the fault draws, and nothing else
	msgRng      *rand.Rand  // the rate-limit messages' punctuation
	accepted    []time.Time // accept times within the last minute, for the quota
	stats       Stats
	clockOffset time.Duration

	inflight atomic.Int64 // calls holding a concurrency slot

	conns hijacked    // connections taken over by the keep-alive faults
	q     *qimenState // the Qimen route (qimen.go)
}

type order struct {
	state       int
	cancelCalls int
	lost        int
	garbled     int
	known       bool

	// For the Qimen route's search: when the order was created and last
	// changed (server clock), and its state before that change (the stale
	// fault answers it).
	created, modified time.Time
	changed           bool
	prevState         int
	prevModified      time.Time
}

// setState changes an order's state at now, keeping the previous one for
// the Qimen route's stale answers. Caller holds mu.
func (o *order) setState(state int, now time.Time) {
	o.changed, o.prevState, o.prevModified = true, o.state, o.modified
	o.state, o.modified = state, now
}

// msgSeedMix derives the message generator's seed from Options.Seed, so
// the two generators do not replay each other.
const msgSeedMix = 0x5eed_4d5c

// New builds a sandbox. It fails on a malformed AppSecret or fault rates
// that are out of range.
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
	if opts.Sleep == nil {
		opts.Sleep = pause.For
	}
	if err := opts.Faults().Validate(); err != nil {
		return nil, err
	}
	secret, salt, err := wdt.SplitAppSecret(opts.AppSecret)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s := &Sandbox{
		secret: secret, salt: salt, opts: opts, log: opts.Logger,
		orders:      make(map[string]*order, len(opts.Orders)),
		faults:      opts.Faults(),
		rng:         rand.New(rand.NewSource(opts.Seed)),
		msgRng:      rand.New(rand.NewSource(opts.Seed ^ msgSeedMix)),
		stats:       Stats{ByStatus: map[string]int{}, ByFault: map[string]int{}},
		clockOffset: opts.ClockOffset,
	}
	if s.q, err = newQimenState(opts.Qimen, opts.Seed); err != nil {
		return nil, err
	}
	// The orders given at the start existed before the sandbox did: they
	// were last modified half an hour earlier, so the Qimen route shows an order
	// listed as cancelled as cancelled before any task of the run
	// (wdtcancel files it already_cancelled, not as its own cancel).
	before := s.nowLocked().Add(-ListedOrderAge)
	for no, st := range opts.Orders {
		s.orders[no] = &order{state: st, known: true, created: before, modified: before}
	}
	s.mux = s.routes()
	return s, nil
}

// ListedOrderAge is how long before the sandbox started the orders of
// Options.Orders were last modified.
const ListedOrderAge = 30 * time.Minute

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

// SetFaultRates changes every fault rate while running; the seeded
// sequence goes on from where it is. Invalid rates are refused and the
// current ones kept.
func (s *Sandbox) SetFaultRates(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
	return nil
}

// FaultRates returns the fault rates in force.
func (s *Sandbox) FaultRates() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetOrder puts an order in a state (PUT /_sandbox/orders/{no} does it over
// HTTP, for states ValidState accepts).
func (s *Sandbox) SetOrder(no string, state int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookup(no).setState(state, s.nowLocked())
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
	return o.view(no), true
}

func (o *order) view(no string) Order {
	return Order{PreStockinNo: no, Status: o.state, CancelCalls: o.cancelCalls,
		LostResponses: o.lost, GarbledResponses: o.garbled, Known: o.known}
}

// Orders lists every order the sandbox holds, by number.
func (s *Sandbox) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, 0, len(s.orders))
	for no, o := range s.orders {
		out = append(out, o.view(no))
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
		now := s.nowLocked()
		o = &order{state: StateEditing, created: now, modified: now}
		s.orders[no] = o
	}
	return o
}

// ServeHTTP routes the API and the inspection endpoints.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// serveAPI is POST /openapi: one call, as WDT and the gateway in front of it
// would answer it.
func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// One simulated server: every answer, gateway faults included, carries
	// its clock, or a client would learn two different offsets.
	w.Header().Set("Date", s.serverNow().UTC().Format(http.TimeFormat))
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	method := r.URL.Query().Get("method")
	shifted := shiftedOf(r)
	f := s.callFault(shifted)
	if f.kind.beforeWDT() {
		s.answerAsGateway(w, r, f, method, start)
		return
	}

	// WDT admits or refuses a call as it arrives; an admitted call holds
	// its slot until it answers, a refused one is answered at once.
	admitted := s.acquire()
	var released bool
	release := func() {
		if admitted && !released {
			released = true
			s.inflight.Add(-1)
		}
	}
	defer release()
	if admitted && !s.wait(r) {
		return
	}

	status, msg, no := s.answer(r, body, admitted)
	if shifted != nil {
		shifted.no = no
	}
	s.count(strconv.Itoa(status), f.name())
	s.logCall(method, no, status, msg, f.name(), start)
	s.markFault(no, f)
	// Free the slot before the answer leaves, so a call the client sends
	// after reading it finds the slot free.
	release()
	switch f.kind {
	case kindLost, kindGarbled:
		writeFault(w, r, f)
	case kindDesync, kindExtra:
		s.desync(w, f, status, msg)
	default:
		writeAnswer(w, status, msg)
	}
}

// callFault draws the fault this call meets, none for a call read off a
// desynced connection (it meets no fault of its own).
func (s *Sandbox) callFault(shifted *shiftedCall) fault {
	if shifted != nil {
		return fault{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drawFault()
}

// answerAsGateway answers a fault the gateway gives in WDT's stead, after
// the latency: no slot taken, no order touched.
func (s *Sandbox) answerAsGateway(w http.ResponseWriter, r *http.Request, f fault, method string, start time.Time) {
	if !s.wait(r) {
		return
	}
	s.count("", f.name())
	s.logCall(method, "", -1, "", f.name(), start)
	writeFault(w, r, f)
}

// markFault counts on order no an answer the fault f will lose or garble,
// so the inspection endpoints show which orders' answers never arrived
// intact.
func (s *Sandbox) markFault(no string, f fault) {
	if no == "" || f.kind == kindNone {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[no]
	if !ok {
		return
	}
	switch f.kind {
	case kindLost:
		o.lost++
	case kindGarbled, kindDesync:
		o.garbled++
	}
}

// wait waits out the latency; false means the client went away first.
func (s *Sandbox) wait(r *http.Request) bool {
	if s.opts.Latency <= 0 {
		return true
	}
	return s.opts.Sleep(r.Context(), s.opts.Latency) == nil
}

// acquire takes a concurrency slot if one is free. A refused call never
// holds one, not even for a moment, so it cannot crowd out another.
func (s *Sandbox) acquire() bool {
	m := int64(s.opts.MaxConcurrency)
	for {
		n := s.inflight.Load()
		if m > 0 && n >= m {
			return false
		}
		if s.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (s *Sandbox) serverNow() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

// nowLocked is serverNow for a caller that holds mu.
func (s *Sandbox) nowLocked() time.Time { return s.opts.Now().Add(s.clockOffset) }

// knownParams are the query parameters WDT accepts; any other is status 2.
var knownParams = map[string]bool{"sid": true, "key": true, "salt": true, "method": true, "v": true, "timestamp": true, "sign": true}

// answer verifies the request like WDT and runs the method. admitted says
// whether the call got a concurrency slot on arrival. It returns the status,
// the message and the order number the call was about, if any.
func (s *Sandbox) answer(r *http.Request, body []byte, admitted bool) (int, string, string) {
	if status, msg := s.verify(r, body); status != 0 {
		return status, msg, ""
	}
	if msg := s.admit(admitted); msg != "" {
		return 100, msg, ""
	}
	if m := r.URL.Query().Get("method"); m != wdt.MethodCancelPreStockin {
		return 1, MsgUnknownMethod + ": " + m, ""
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

// verify makes WDT's checks of who calls, in WDT's order: the form, the
// seller and app, the timestamp's syntax, the salt and signature, then the
// timestamp within TimestampWindow of the server's clock. Status 0 passes.
func (s *Sandbox) verify(r *http.Request, body []byte) (int, string) {
	if status, msg := checkForm(r); status != 0 {
		return status, msg
	}
	q := r.URL.Query()
	switch {
	case q.Get("sid") != s.opts.SID:
		return 1, MsgSIDNotExists
	case q.Get("key") != s.opts.AppKey:
		return 1, MsgAppAuthFail
	}
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		return 1, fmt.Sprintf("For input string: %q", q.Get("timestamp"))
	}
	if q.Get("salt") != s.salt || wdt.Sign(s.secret, signedParams(q, body)) != q.Get("sign") {
		return 1, MsgAuthFailed
	}
	now := wdt.Timestamp(s.serverNow())
	if ts < now-TimestampWindow || ts > now+TimestampWindow {
		return 7, MsgTimestampExpired
	}
	return 0, ""
}

// signedParams are what WDT's sign covers: the body and every query
// parameter but sign itself.
func signedParams(q url.Values, body []byte) []wdt.Param {
	params := make([]wdt.Param, 1, len(q)+1)
	params[0] = wdt.Param{Name: "body", Value: string(body)}
	for name := range q {
		if name != "sign" {
			params = append(params, wdt.Param{Name: name, Value: q.Get(name)})
		}
	}
	return params
}

// checkForm makes WDT's checks that come before it looks at the sid: the
// content type, the parameters' names and presence, the version. It returns
// status 0 when the call passes them. A multi-seller front makes the same
// checks before it says a sid does not exist, so both answer alike.
func checkForm(r *http.Request) (int, string) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return 1, MsgParamError + ": Content-Type must be application/json"
		}
	}
	q := r.URL.Query()
	for name := range q {
		if !knownParams[name] {
			return 2, name
		}
	}
	for _, name := range [...]string{"sid", "key", "salt", "method", "v", "timestamp", "sign"} {
		if q.Get(name) == "" {
			return 1, MsgParamError + ": missing " + name
		}
	}
	if q.Get("v") != wdt.APIVersion {
		return 8, MsgBadVersion
	}
	return 0, ""
}

// admit applies the quotas to a verified call: the concurrency decision
// taken on its arrival, then the per-minute quota. Only calls that pass count
// towards the per-minute quota, as a sliding window (60 s unless QuotaWindow
// is set).
func (s *Sandbox) admit(admitted bool) string {
	if !admitted {
		return s.rateLimitMsg(wdt.RateLimitConcurrencyPrefix)
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
		return s.rateLimitMsgLocked(wdt.RateLimitCallsPrefix)
	}
	s.accepted = append(s.accepted, now)
	return ""
}

// rateLimitMsg ends a rate-limit message with one of the two forms the
// vendor documents, drawn from the message generator.
func (s *Sandbox) rateLimitMsg(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimitMsgLocked(prefix)
}

func (s *Sandbox) rateLimitMsgLocked(prefix string) string {
	if s.msgRng.Intn(2) == 0 {
		return prefix + RateLimitSuffixFullWidth
	}
	return prefix + RateLimitSuffixASCII
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
	o.setState(StateCancelled, s.nowLocked())
	s.stats.Cancellations++
	return 0, ""
}

func (s *Sandbox) count(status, faultName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Calls++
	if status != "" {
		s.stats.ByStatus[status]++
	}
	if faultName != "" {
		s.stats.ByFault[faultName]++
	}
}

// logCall logs one call. The message is WDT's (a rate-limit answer is told
// from a rejection by it), never anything of the request's secrets.
func (s *Sandbox) logCall(method, no string, status int, msg, faultName string, start time.Time) {
	if ce := s.log.Check(zap.InfoLevel, "sandbox call"); ce != nil {
		fields := []zap.Field{zap.String("method", method), zap.String("pre_stockin_no", no),
			zap.String("status", wdt.StatusText(status)), zap.String("fault", faultName),
			zap.Duration("duration", time.Since(start))}
		if msg != "" {
			fields = append(fields, zap.String("message", msg))
		}
		ce.Write(fields...)
	}
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
	l   *listener
}

// NewServer starts a sandbox on a free loopback port, bounded like
// `wdtcancel sandbox`. Close it when done.
func NewServer(opts Options) (*Server, error) {
	sb, err := New(opts)
	if err != nil {
		return nil, err
	}
	l, err := listen(sb)
	if err != nil {
		return nil, err
	}
	return &Server{Sandbox: sb, URL: l.url, l: l}, nil
}

// APIURL is the WDT URL a client should use.
func (s *Server) APIURL() string { return s.URL + "/openapi" }

// Close stops the server and closes its connections at once, calls in
// flight and connections taken over by a keep-alive fault included.
func (s *Server) Close() {
	s.l.close()
	s.conns.closeAll()
}

// listener serves a handler on a free loopback port.
type listener struct {
	url  string
	srv  *http.Server
	done chan struct{}
}

func listen(h http.Handler) (*listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen: %w", err)
	}
	l := &listener{url: "http://" + ln.Addr().String(), done: make(chan struct{}),
		srv: httpserver.New(h, httpserver.Options{IdleTimeout: httpserver.SandboxIdleTimeout})}
	go func() { defer close(l.done); l.srv.Serve(ln) }()
	return l, nil
}

func (l *listener) close() {
	l.srv.Close()
	<-l.done
}

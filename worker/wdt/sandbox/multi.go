package sandbox

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/httpjson"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// Multi is a sandbox that serves several sellers on one address, as WDT
// serves every seller on one endpoint: each seller is a whole Sandbox (its
// own credentials, orders, quotas, latency, clock and seeded faults), and
// POST /openapi goes to the seller whose sid the call names. An unknown sid
// gets WDT's answer for it (status 1, MsgSIDNotExists). A call is verified
// with the secret of the seller its sid names, so a call signed with
// seller A's secret under seller B's sid fails B's signature check
// (MsgAuthFailed, or MsgAppAuthFail when the appkeys differ) and touches
// nothing. Order numbers are per seller: B's order X is not A's.
//
// The inspection endpoints take ?seller=NAME. Without it, the stats and the
// order list come as maps by seller, and a single order (GET or PUT
// /_sandbox/orders/{no}) is a 400 that names the sellers, since the number
// alone does not say whose order it is.
type Multi struct {
	sellers map[string]*Sandbox // by name
	bySID   map[string]*Sandbox
	names   []string // sorted
	log     *zap.Logger
	mux     *http.ServeMux

	mu         sync.Mutex
	unknownSID Stats // calls whose sid is no seller's
}

// MultiStats is GET /_sandbox/stats without ?seller= on a Multi.
type MultiStats struct {
	// Sellers holds each seller's counters, by seller name.
	Sellers map[string]Stats `json:"sellers"`
	// UnknownSID counts the API calls whose sid is no seller's (or that
	// failed WDT's checks before the sid), by the status answered.
	UnknownSID Stats `json:"unknown_sid"`
}

// NewMulti builds a sandbox serving one seller per Options. Each needs a
// Name (a seller name, as in the sellers file) and a sid of its own;
// everything else is as for New, seller by seller. The Logger of each
// seller's options logs its calls with a seller field.
func NewMulti(opts []Options) (*Multi, error) {
	if len(opts) == 0 {
		return nil, fmt.Errorf("sandbox: no seller: give at least one")
	}
	m := &Multi{sellers: map[string]*Sandbox{}, bySID: map[string]*Sandbox{}, log: zap.NewNop(),
		unknownSID: Stats{ByStatus: map[string]int{}, ByFault: map[string]int{}}}
	for _, o := range opts {
		if err := tasks.ValidateSeller(o.Name); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		if _, dup := m.sellers[o.Name]; dup {
			return nil, fmt.Errorf("sandbox: seller %q is given twice", o.Name)
		}
		if o.Logger != nil {
			m.log = o.Logger
			o.Logger = o.Logger.With(zap.String("seller", o.Name))
		}
		sb, err := New(o)
		if err != nil {
			return nil, fmt.Errorf("seller %q: %w", o.Name, err)
		}
		sid := sb.opts.SID
		if other, dup := m.bySID[sid]; dup {
			return nil, fmt.Errorf("sandbox: seller %q has the sid %q of seller %q: a sid names one seller", o.Name, sid, other.opts.Name)
		}
		m.sellers[o.Name] = sb
		m.bySID[sid] = sb
		m.names = append(m.names, o.Name)
	}
	sort.Strings(m.names)
	m.mux = buildMux([]route{
		{http.MethodPost, "/openapi", m.serveAPI},
		{http.MethodPost, QimenPath, m.serveQimen},
		{"", DecoyPath, m.serveDecoy},
		{http.MethodGet, "/_sandbox/stats", m.serveStats},
		{http.MethodGet, "/_sandbox/orders", m.serveOrders},
		{http.MethodGet, "/_sandbox/orders/{no}", m.serveOrder},
		{http.MethodPut, "/_sandbox/orders/{no}", m.servePutOrder},
		{http.MethodGet, "/healthz", serveHealth},
	})
	return m, nil
}

// Seller is one seller's sandbox, by name.
func (m *Multi) Seller(name string) (*Sandbox, bool) {
	sb, ok := m.sellers[name]
	return sb, ok
}

// Sellers lists the sellers' names, sorted.
func (m *Multi) Sellers() []string { return append([]string(nil), m.names...) }

// Stats returns every seller's counters and the unknown-sid calls.
func (m *Multi) Stats() MultiStats {
	out := MultiStats{Sellers: make(map[string]Stats, len(m.sellers))}
	for name, sb := range m.sellers {
		out.Sellers[name] = sb.Stats()
	}
	m.mu.Lock()
	out.UnknownSID = m.unknownSID
	out.UnknownSID.ByStatus = make(map[string]int, len(m.unknownSID.ByStatus))
	for k, v := range m.unknownSID.ByStatus {
		out.UnknownSID.ByStatus[k] = v
	}
	out.UnknownSID.ByFault = map[string]int{}
	m.mu.Unlock()
	return out
}

// ServeHTTP routes the API by sid and the inspection endpoints by ?seller=.
func (m *Multi) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mux.ServeHTTP(w, r)
}

// serveAPI hands the call to the seller its sid names. Any other call gets
// the answer WDT gives before it knows a seller: a malformed call its
// parameter error, a well-formed one "sid is not exists".
func (m *Multi) serveAPI(w http.ResponseWriter, r *http.Request) {
	if sb, ok := m.bySID[r.URL.Query().Get("sid")]; ok {
		sb.serveAPI(w, r)
		return
	}
	start := time.Now()
	w.Header().Set("Date", start.UTC().Format(http.TimeFormat))
	io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	status, msg := checkForm(r)
	if status == 0 {
		status, msg = 1, MsgSIDNotExists
	}
	m.mu.Lock()
	m.unknownSID.Calls++
	m.unknownSID.ByStatus[strconv.Itoa(status)]++
	m.mu.Unlock()
	if ce := m.log.Check(zap.InfoLevel, "sandbox call for no seller"); ce != nil {
		// The sid is the caller's, maybe mistyped; it is not a secret.
		ce.Write(zap.String("sid", r.URL.Query().Get("sid")), zap.String("method", r.URL.Query().Get("method")),
			zap.Int("status", status), zap.Duration("duration", time.Since(start)))
	}
	writeAnswer(w, status, msg)
}

// serveDecoy counts a followed redirect for the seller whose signed query
// the decoy received.
func (m *Multi) serveDecoy(w http.ResponseWriter, r *http.Request) {
	if sb, ok := m.bySID[r.URL.Query().Get("sid")]; ok {
		sb.serveDecoy(w, r)
		return
	}
	w.Header().Set("Content-Type", ctypeJSON)
	io.WriteString(w, `{"status":0}`)
}

// pick resolves ?seller=. It returns the seller's sandbox; nil with named
// false when the query names none; nil with named true after answering 404
// for a name that is no seller's.
func (m *Multi) pick(w http.ResponseWriter, r *http.Request) (sb *Sandbox, named bool) {
	name := r.URL.Query().Get("seller")
	if name == "" {
		return nil, false
	}
	if sb, ok := m.sellers[name]; ok {
		return sb, true
	}
	httpjson.Write(w, http.StatusNotFound, map[string]any{
		"error":   fmt.Sprintf("no seller %q in this sandbox: use ?seller= with one of %s", name, strings.Join(m.names, ", ")),
		"sellers": m.names})
	return nil, true
}

func (m *Multi) serveStats(w http.ResponseWriter, r *http.Request) {
	switch sb, named := m.pick(w, r); {
	case sb != nil:
		sb.serveStats(w, r)
	case !named:
		httpjson.Write(w, http.StatusOK, m.Stats())
	}
}

func (m *Multi) serveOrders(w http.ResponseWriter, r *http.Request) {
	switch sb, named := m.pick(w, r); {
	case sb != nil:
		sb.serveOrders(w, r)
	case !named:
		all := make(map[string][]Order, len(m.sellers))
		for name, sb := range m.sellers {
			all[name] = sb.Orders()
		}
		httpjson.Write(w, http.StatusOK, all)
	}
}

func (m *Multi) serveOrder(w http.ResponseWriter, r *http.Request) {
	if sb := m.pickForOrder(w, r); sb != nil {
		sb.serveOrder(w, r)
	}
}

func (m *Multi) servePutOrder(w http.ResponseWriter, r *http.Request) {
	if sb := m.pickForOrder(w, r); sb != nil {
		sb.servePutOrder(w, r)
	}
}

// pickForOrder is pick for one order, where a seller is required: numbers
// are per seller, so a number alone is ambiguous (400).
func (m *Multi) pickForOrder(w http.ResponseWriter, r *http.Request) *Sandbox {
	sb, named := m.pick(w, r)
	if !named {
		httpjson.Write(w, http.StatusBadRequest, map[string]any{
			"pre_stockin_no": r.PathValue("no"),
			"error": fmt.Sprintf("this sandbox serves several sellers and order numbers are per seller: add ?seller= with one of %s",
				strings.Join(m.names, ", ")),
			"sellers": m.names})
	}
	return sb
}

// MultiServer is a multi-seller sandbox listening on a loopback port, for
// tests.
type MultiServer struct {
	*Multi
	// URL is the base URL; the API is at URL + "/openapi".
	URL string
	l   *listener
}

// NewMultiServer starts a multi-seller sandbox on a free loopback port,
// bounded like `wdtcancel sandbox`. Close it when done.
func NewMultiServer(opts []Options) (*MultiServer, error) {
	m, err := NewMulti(opts)
	if err != nil {
		return nil, err
	}
	l, err := listen(m)
	if err != nil {
		return nil, err
	}
	return &MultiServer{Multi: m, URL: l.url, l: l}, nil
}

// APIURL is the WDT URL a client should use.
func (s *MultiServer) APIURL() string { return s.URL + "/openapi" }

// Close stops the server and closes its connections at once, those taken
// over by a keep-alive fault included.
func (s *MultiServer) Close() {
	s.l.close()
	for _, name := range s.names {
		sb, _ := s.Seller(name)
		sb.conns.closeAll()
	}
}

package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/httpjson"
	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
)

// QimenPath is where the sandbox serves the Qimen custom route, modelled on
// the Qimen gateway's /router/qm. It answers
// wdt.wms.stockin.prestockin.search from the same orders POST /openapi
// cancels, so an order cancelled there is state 10 here.
const QimenPath = qimen.SandboxPath

// Default Qimen credentials: what the sandbox accepts unless told
// otherwise (--qimen-appkey, --qimen-appsecret, --qimen-target-appkey).
const (
	DefaultQimenAppKey       = "qimen-sandbox"
	DefaultQimenAppSecret    = "qimen-sandbox-secret"
	DefaultQimenTargetAppKey = "wdt-sandbox"
)

// The Qimen gateway's answers the sandbox gives.
const (
	QimenCodeSignCheck     = "sign-check-failure"
	QimenMsgSignCheck      = "Illegal request"
	QimenCodeMissingParam  = "missing-parameter"
	QimenCodeInvalidParam  = "invalid-parameter"
	QimenCodeInvalidAppKey = "invalid-app-key"
	QimenCodeInvalidTarget = "invalid-target-app-key"
	QimenCodeInvalidMethod = "invalid-method"
	QimenCodeTimestamp     = "invalid-timestamp"
	QimenCodeRemoteTimeout = "isp.top-remote-connection-timeout"
	// MsgNeedTimeWindow is WDT's answer to a search without a time window.
	MsgNeedTimeWindow = "参数中必须包含起止时间"
)

// QimenTimestampWindow is how far the gateway's timestamp may be from the
// sandbox's clock (the TOP gateway allows ten minutes); WDT's own datetime
// must be within TimestampWindow, as on /openapi.
const QimenTimestampWindow = 10 * time.Minute

// QimenMaxPageSize is the largest page_size the sandbox serves.
const QimenMaxPageSize = 100

// QimenMatch says how the sandbox matches params.stockin_no.
type QimenMatch string

const (
	// QimenMatchExact matches the number exactly.
	QimenMatchExact QimenMatch = "exact"
	// QimenMatchPrefix matches every number that starts with it, as a
	// LIKE 'NO%' search would: RK1 finds RK1, RK10, RK11..., so a lookup
	// must page and pick its own number out.
	QimenMatchPrefix QimenMatch = "prefix"
)

// ParseQimenMatch validates --qimen-match.
func ParseQimenMatch(s string) (QimenMatch, error) {
	switch QimenMatch(s) {
	case "", QimenMatchExact:
		return QimenMatchExact, nil
	case QimenMatchPrefix:
		return QimenMatchPrefix, nil
	}
	return "", fmt.Errorf("qimen match %q: use exact or prefix", s)
}

// QimenOptions configure the sandbox's Qimen route. The zero value is the
// default credentials, exact matching and no faults.
type QimenOptions struct {
	AppKey, AppSecret, TargetAppKey string
	Match                           QimenMatch

	// Fault rates: shares of Qimen calls, each within 0..1, adding up to at
	// most 1, drawn in this order from a generator of their own seeded from
	// Options.Seed (so the cancel route's faults replay as without them).
	//
	// OutageRate: the lookup is down: 503 with a gateway page, 502 "Bad
	// Gateway", a connection reset, or the envelope failure
	// isp.top-remote-connection-timeout. by_fault: outage_*.
	OutageRate float64
	// GarbledRate: the envelope is garbled after a normal search: 200 with
	// an HTML page, an empty body, JSON cut short, a status key given twice,
	// a string status, or text after the object. by_fault: garbled_*.
	GarbledRate float64
	// StaleRate: the search answers an order's previous state and modified
	// time (as a lagging replica would), for orders that changed.
	// by_fault: stale.
	StaleRate float64
}

// Validate checks the fault rates and the match.
func (q QimenOptions) Validate() error {
	sum := 0.0
	for _, r := range []struct {
		name string
		v    float64
	}{{"qimen-outage-rate", q.OutageRate}, {"qimen-garbled-rate", q.GarbledRate}, {"qimen-stale-rate", q.StaleRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			return fmt.Errorf("sandbox: %s %v is outside 0..1", r.name, r.v)
		}
		sum += r.v
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("sandbox: Qimen fault rates add up to %v; a lookup meets at most one fault, so the sum must be at most 1", sum)
	}
	if _, err := ParseQimenMatch(string(q.Match)); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return nil
}

// QimenStats counts Qimen calls by result: "ok", "status_N" for a WDT
// status, the envelope code of a gateway failure, or the fault's name.
type QimenStats struct {
	Calls    int            `json:"calls"`
	ByResult map[string]int `json:"by_result"`
}

// qimenState is the Qimen route's part of a Sandbox.
type qimenState struct {
	opts  QimenOptions
	rng   *rand.Rand // the Qimen fault draws, and nothing else
	stats QimenStats
	reqID int
}

// qimenSeedMix derives the Qimen fault generator's seed from Options.Seed.
const qimenSeedMix = 0x71_6d_65_6e

func newQimenState(o QimenOptions, seed int64) (*qimenState, error) {
	if o.AppKey == "" {
		o.AppKey = DefaultQimenAppKey
	}
	if o.AppSecret == "" {
		o.AppSecret = DefaultQimenAppSecret
	}
	if o.TargetAppKey == "" {
		o.TargetAppKey = DefaultQimenTargetAppKey
	}
	if o.Match == "" {
		o.Match = QimenMatchExact
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &qimenState{opts: o, rng: rand.New(rand.NewSource(seed ^ qimenSeedMix)),
		stats: QimenStats{ByResult: map[string]int{}}}, nil
}

// QimenCredentials are the Qimen credentials the sandbox accepts.
func (s *Sandbox) QimenCredentials() qimen.Credentials {
	o := s.q.opts
	return qimen.Credentials{AppKey: o.AppKey, AppSecret: o.AppSecret, TargetAppKey: o.TargetAppKey}
}

// QimenStats returns a copy of the Qimen counters.
func (s *Sandbox) QimenStats() QimenStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.q.stats
	c.ByResult = make(map[string]int, len(s.q.stats.ByResult))
	for k, v := range s.q.stats.ByResult {
		c.ByResult[k] = v
	}
	return c
}

// SetQimenFaultRates changes the Qimen fault rates while running (the match
// and credentials stay). Invalid rates are refused and the current kept.
func (s *Sandbox) SetQimenFaultRates(outage, garbled, stale float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.q.opts
	o.OutageRate, o.GarbledRate, o.StaleRate = outage, garbled, stale
	if err := o.Validate(); err != nil {
		return err
	}
	s.q.opts = o
	return nil
}

// qimenFault is what the sandbox does to one Qimen call.
type qimenFault struct {
	kind   string // "", "outage", "garbled", "stale"
	answer canned
}

var (
	qimenOutageAnswers = [...]canned{
		{"outage_503_html", http.StatusServiceUnavailable, ctypeHTML, "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>\n"},
		{"outage_502_text", http.StatusBadGateway, ctypeText, "Bad Gateway"},
		{"outage_connection_reset", 0, "", ""},
		{"outage_remote_timeout", http.StatusOK, ctypeJSON, `{"response":{"flag":"failure","code":"` + QimenCodeRemoteTimeout + `","message":"Remote service timeout"}}`},
	}
	// Append only: reordering changes what a seed replays.
	qimenGarbledAnswers = [...]canned{
		{"garbled_200_html", http.StatusOK, ctypeHTML, busyPage},
		{"garbled_200_empty", http.StatusOK, "", ""},
		{"garbled_cut_json", http.StatusOK, ctypeJSON, `{"response":{"flag":"success","status":0,"data":{"total_count":1,"order":[{"stockin_no":`},
		{"garbled_duplicate_status", http.StatusOK, ctypeJSON, `{"response":{"flag":"success","status":100,"message":"x","status":0,"data":{"total_count":0,"order":[]}}}`},
		{"garbled_string_status", http.StatusOK, ctypeJSON, `{"response":{"flag":"success","status":"0","data":{"total_count":0,"order":[]}}}`},
		{"garbled_trailing_text", http.StatusOK, ctypeJSON, `{"response":{"flag":"success","status":0,"data":{"total_count":0,"order":[]}}} trailing`},
	}
)

// QimenFaultNames lists every fault name QimenStats.ByResult can hold.
func QimenFaultNames() []string {
	var out []string
	for _, a := range qimenOutageAnswers {
		out = append(out, a.name)
	}
	for _, a := range qimenGarbledAnswers {
		out = append(out, a.name)
	}
	return append(out, "stale")
}

// drawQimenFault decides one call's fault. Caller holds mu.
func (s *Sandbox) drawQimenFault() qimenFault {
	o := s.q.opts
	if o.OutageRate+o.GarbledRate+o.StaleRate == 0 {
		return qimenFault{}
	}
	u := s.q.rng.Float64()
	switch {
	case u < o.OutageRate:
		return qimenFault{"outage", qimenOutageAnswers[s.q.rng.Intn(len(qimenOutageAnswers))]}
	case u < o.OutageRate+o.GarbledRate:
		return qimenFault{"garbled", qimenGarbledAnswers[s.q.rng.Intn(len(qimenGarbledAnswers))]}
	case u < o.OutageRate+o.GarbledRate+o.StaleRate:
		return qimenFault{kind: "stale", answer: canned{name: "stale"}}
	}
	return qimenFault{}
}

// qimenCall is one received Qimen call: its query and its form body.
type qimenCall struct {
	query, form url.Values
	err         string // what was wrong with the request's shape
}

// readQimenCall reads the query and the form body, bounded.
func readQimenCall(w http.ResponseWriter, r *http.Request) qimenCall {
	c := qimenCall{query: r.URL.Query(), form: url.Values{}}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		c.err = "body too large or unreadable"
		return c
	}
	if len(raw) > 0 {
		ct := r.Header.Get("Content-Type")
		if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			c.err = "Content-Type must be application/x-www-form-urlencoded"
			return c
		}
		if c.form, err = url.ParseQuery(string(raw)); err != nil {
			c.err = "the form body is not url-encoded"
		}
	}
	return c
}

// params merges query and form; a name given twice, or in both, is an
// error.
func (c qimenCall) params() (map[string]string, string) {
	out := map[string]string{}
	for _, vs := range []url.Values{c.query, c.form} {
		for k, v := range vs {
			if _, dup := out[k]; dup || len(v) != 1 {
				return nil, "parameter " + k + " is given twice"
			}
			out[k] = v[0]
		}
	}
	return out, ""
}

func (c qimenCall) get(name string) string {
	if v := c.query.Get(name); v != "" {
		return v
	}
	return c.form.Get(name)
}

// serveQimen is POST QimenPath.
func (s *Sandbox) serveQimen(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.serverNow().UTC().Format(http.TimeFormat))
	s.handleQimen(w, readQimenCall(w, r))
}

// qimenAnswer is the envelope's response object.
type qimenAnswer struct {
	Flag      string          `json:"flag"`
	Code      string          `json:"code,omitempty"`
	Message   string          `json:"message,omitempty"`
	Status    *int            `json:"status,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	RequestID string          `json:"request_id"`
}

func (s *Sandbox) handleQimen(w http.ResponseWriter, call qimenCall) {
	start := time.Now()
	s.mu.Lock()
	f := s.drawQimenFault()
	s.q.stats.Calls++
	s.q.reqID++
	reqID := "sandbox-" + strconv.Itoa(s.q.reqID)
	s.mu.Unlock()

	if f.kind == "outage" {
		s.countQimen(f.answer.name, call, start)
		writeFault(w, nil, fault{kind: kindGateway, answer: f.answer})
		return
	}
	ans, no := s.qimenAnswer(call, f.kind == "stale")
	ans.RequestID = reqID
	result := "ok"
	switch {
	case ans.Flag == "failure" && ans.Status == nil:
		result = ans.Code
	case ans.Status != nil && *ans.Status != 0:
		result = "status_" + strconv.Itoa(*ans.Status)
	case f.kind == "stale":
		result = "stale"
	}
	if f.kind == "garbled" {
		result = f.answer.name
		s.countQimen(result, call, start)
		writeFault(w, nil, fault{kind: kindGarbled, answer: f.answer})
		return
	}
	s.countQimen(result, call, start)
	if ce := s.log.Check(zap.InfoLevel, "sandbox qimen call"); ce != nil {
		ce.Write(zap.String("method", call.get("method")), zap.String("stockin_no", no), zap.String("result", result),
			zap.String("message", ans.Message), zap.Duration("duration", time.Since(start)))
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"response": ans})
}

func (s *Sandbox) countQimen(result string, _ qimenCall, _ time.Time) {
	s.mu.Lock()
	s.q.stats.ByResult[result]++
	s.mu.Unlock()
}

// qimenSystemParams are the TOP system parameters; every other parameter
// is an API parameter, covered by wdt_sign.
var qimenSystemParams = map[string]bool{"app_key": true, "method": true, "format": true, "v": true, "sign_method": true,
	"timestamp": true, "target_app_key": true, "sign": true, "session": true, "partner_id": true}

// qimenAnswer verifies a call as the gateway, then WDT, would and runs the
// search. stale answers changed orders' previous states. It returns the
// answer and the number searched for, if any.
func (s *Sandbox) qimenAnswer(call qimenCall, stale bool) (qimenAnswer, string) {
	now := s.serverNow()
	all, refused := s.checkGateway(call, now)
	if refused != nil {
		return *refused, ""
	}
	q, refused := s.checkWDTSearch(all, now)
	if refused != nil {
		return *refused, ""
	}
	data := s.search(q, stale)
	raw, _ := json.Marshal(data)
	zero := 0
	return qimenAnswer{Flag: "success", Status: &zero, Data: raw}, q.no
}

// gatewayFailure is the Qimen gateway's own refusal: a code, no WDT status.
func gatewayFailure(code, msg string) *qimenAnswer {
	return &qimenAnswer{Flag: "failure", Code: code, Message: msg}
}

// wdtFailure is WDT's refusal behind the gateway: its status as the code.
func wdtFailure(status int, msg string) *qimenAnswer {
	return &qimenAnswer{Flag: "failure", Code: strconv.Itoa(status), Message: msg, Status: &status}
}

// qimenRequiredParams are the system parameters the gateway refuses a call
// without.
var qimenRequiredParams = [...]string{"app_key", "method", "format", "v", "sign_method", "timestamp", "target_app_key", "sign"}

// checkGateway verifies the call as the Qimen gateway does, in its order:
// the parameters are there and well-formed, the app and target app are
// this sandbox's, the timestamp is within QimenTimestampWindow of now, the
// TOP signature verifies, and the method is the search. It returns every
// parameter, or the gateway's refusal.
func (s *Sandbox) checkGateway(call qimenCall, now time.Time) (map[string]string, *qimenAnswer) {
	if call.err != "" {
		return nil, gatewayFailure(QimenCodeInvalidParam, call.err)
	}
	all, problem := call.params()
	if problem != "" {
		return nil, gatewayFailure(QimenCodeInvalidParam, problem)
	}
	for _, name := range qimenRequiredParams {
		if all[name] == "" {
			return nil, gatewayFailure(QimenCodeMissingParam, "Missing required arguments:"+name)
		}
	}
	if refused := s.checkGatewayApp(all); refused != nil {
		return nil, refused
	}
	ts, err := time.ParseInLocation(qimen.TimeLayout, all["timestamp"], qimen.China)
	if err != nil || ts.Sub(now) > QimenTimestampWindow || now.Sub(ts) > QimenTimestampWindow {
		return nil, gatewayFailure(QimenCodeTimestamp, "Invalid timestamp: more than 10 minutes from the server's clock, or not yyyy-MM-dd HH:mm:ss China time")
	}
	if qimen.TopSign(s.q.opts.AppSecret, all) != all["sign"] {
		return nil, gatewayFailure(QimenCodeSignCheck, QimenMsgSignCheck)
	}
	if qimen.WdtMethod(all["method"]) != qimen.MethodPreStockinSearch {
		return nil, gatewayFailure(QimenCodeInvalidMethod, "Invalid method: the sandbox serves "+qimen.MethodPreStockinSearch)
	}
	return all, nil
}

// checkGatewayApp refuses a format, version or signing method the sandbox
// does not speak, and an app or target app that is not its own.
func (s *Sandbox) checkGatewayApp(all map[string]string) *qimenAnswer {
	o := s.q.opts
	switch {
	case all["format"] != "json":
		return gatewayFailure(QimenCodeInvalidParam, "Invalid format: the sandbox answers json only")
	case all["v"] != "2.0":
		return gatewayFailure(QimenCodeInvalidParam, "Invalid version: v must be 2.0")
	case all["sign_method"] != "md5":
		return gatewayFailure(QimenCodeInvalidParam, "Invalid sign_method: the sandbox verifies md5")
	case all["app_key"] != o.AppKey:
		return gatewayFailure(QimenCodeInvalidAppKey, "Invalid app Key")
	case all["target_app_key"] != o.TargetAppKey:
		return gatewayFailure(QimenCodeInvalidTarget, "Invalid target app key")
	}
	return nil
}

// checkWDTSearch verifies the API parameters as WDT does behind the
// gateway (the seller, its wdt_sign and salt, its datetime within
// TimestampWindow) and parses the search, or returns WDT's refusal.
func (s *Sandbox) checkWDTSearch(all map[string]string, now time.Time) (searchQuery, *qimenAnswer) {
	api := apiParams(all)
	switch {
	case api["wdt3_customer_id"] != s.opts.SID:
		return searchQuery{}, wdtFailure(1, MsgSIDNotExists)
	case api["wdt_appkey"] != s.opts.AppKey:
		return searchQuery{}, wdtFailure(1, MsgAppAuthFail)
	}
	sign, err := qimen.Sign(s.secret, all["method"], api)
	if err != nil {
		return searchQuery{}, wdtFailure(1, MsgParamError+": "+err.Error())
	}
	if api["wdt_salt"] != s.salt || sign != api["wdt_sign"] {
		return searchQuery{}, wdtFailure(1, MsgAuthFailed)
	}
	dt, err := time.ParseInLocation(qimen.TimeLayout, api["datetime"], qimen.China)
	if err != nil || dt.Sub(now) > TimestampWindow*time.Second || now.Sub(dt) > TimestampWindow*time.Second {
		return searchQuery{}, wdtFailure(7, MsgTimestampExpired)
	}
	q, msg := parseSearch(api["params"], api["pager"])
	switch {
	case msg == MsgNeedTimeWindow:
		return q, wdtFailure(100, msg)
	case msg != "":
		return q, wdtFailure(1, MsgParamError+": "+msg)
	}
	return q, nil
}

// apiParams are the call's parameters other than the TOP system ones:
// what wdt_sign covers.
func apiParams(all map[string]string) map[string]string {
	api := map[string]string{}
	for k, v := range all {
		if !qimenSystemParams[k] {
			api[k] = v
		}
	}
	return api
}

// searchQuery is a parsed search.
type searchQuery struct {
	no               string
	status           *int
	mtFrom, mtTo     time.Time
	ctFrom, ctTo     time.Time
	byMT, byCT       bool
	pageNo, pageSize int
}

// parseSearch reads params and pager; it returns what is wrong with them.
func parseSearch(paramsText, pagerText string) (searchQuery, string) {
	var q searchQuery
	var p searchParams
	if err := json.Unmarshal([]byte(paramsText), &p); err != nil || p == nil {
		return q, "params must be a JSON object"
	}
	if v, ok := p.str("stockin_no"); ok {
		q.no = v
	}
	if raw, ok := p["status"]; ok {
		var st int
		if json.Unmarshal(raw, &st) != nil {
			return q, "status must be an integer"
		}
		q.status = &st
	}
	var msg string
	if q.mtFrom, q.mtTo, q.byMT, msg = p.window("mt_from", "mt_to"); msg != "" {
		return q, msg
	}
	if q.ctFrom, q.ctTo, q.byCT, msg = p.window("ct_from", "ct_to"); msg != "" {
		return q, msg
	}
	if !q.byMT && !q.byCT {
		return q, MsgNeedTimeWindow
	}
	q.pageNo, q.pageSize, msg = parsePager(pagerText)
	return q, msg
}

// searchParams are a search's params, each value as it was written.
type searchParams map[string]json.RawMessage

// str is the string value of k; false when k is absent or not a string.
func (p searchParams) str(k string) (string, bool) {
	raw, ok := p[k]
	if !ok {
		return "", false
	}
	var v string
	return v, json.Unmarshal(raw, &v) == nil
}

// window reads a time window from fromKey and toKey: ok is false when
// either is missing or empty (no such filter), and problem says what is
// wrong with a window that is given but unreadable or reversed.
func (p searchParams) window(fromKey, toKey string) (from, to time.Time, ok bool, problem string) {
	fs, okF := p.str(fromKey)
	ts, okT := p.str(toKey)
	if !okF || !okT || fs == "" || ts == "" {
		return time.Time{}, time.Time{}, false, ""
	}
	f, err1 := time.ParseInLocation(qimen.TimeLayout, fs, qimen.China)
	t, err2 := time.ParseInLocation(qimen.TimeLayout, ts, qimen.China)
	if err1 != nil || err2 != nil {
		return f, t, false, fromKey + "/" + toKey + " must be " + qimen.TimeLayout
	}
	if f.After(t) {
		return f, t, false, fromKey + " is after " + toKey
	}
	return f, t, true, ""
}

// parsePager reads {"page_no":N,"page_size":N}: pages count from 1 on the
// Qimen route, and a page holds at most QimenMaxPageSize orders.
func parsePager(text string) (pageNo, pageSize int, problem string) {
	var pager struct {
		PageNo   *int `json:"page_no"`
		PageSize *int `json:"page_size"`
	}
	if err := json.Unmarshal([]byte(text), &pager); err != nil || pager.PageNo == nil || pager.PageSize == nil {
		return 0, 0, `pager must be {"page_no":N,"page_size":N}`
	}
	pageNo, pageSize = *pager.PageNo, *pager.PageSize
	if pageNo < 1 {
		return pageNo, pageSize, "page_no starts at 1 on the Qimen route"
	}
	if pageSize < 1 || pageSize > QimenMaxPageSize {
		return pageNo, pageSize, fmt.Sprintf("page_size must be within 1..%d", QimenMaxPageSize)
	}
	return pageNo, pageSize, ""
}

// searchOrder is one order of a search answer.
type searchOrder struct {
	StockinNo    string `json:"stockin_no"`
	Status       int    `json:"status"`
	SrcOrderType int    `json:"src_order_type"`
	WarehouseNo  string `json:"warehouse_no"`
	ModifiedDate string `json:"modified_date"`
	CreatedDate  string `json:"created_date"`
	DetailList   []any  `json:"detail_list"`
}

type searchData struct {
	TotalCount int           `json:"total_count"`
	Order      []searchOrder `json:"order"`
}

// search runs a parsed search on the orders.
func (s *Sandbox) search(q searchQuery, stale bool) searchData {
	s.mu.Lock()
	defer s.mu.Unlock()
	// An unlisted number asked for exactly is, under --unknown editing, an
	// order in editing (first seen now), as the cancel route treats it.
	if _, ok := s.orders[q.no]; !ok && q.no != "" && s.opts.Unknown == UnknownEditing {
		s.lookup(q.no)
	}
	var hits []searchHit
	for no, o := range s.orders {
		if h, ok := s.searchMatch(q, no, o, stale); ok {
			hits = append(hits, h)
		}
	}
	return searchPage(hits, q)
}

// searchHit is an order a search matched, with the modified time it is
// sorted by.
type searchHit struct {
	searchOrder
	at time.Time
}

// searchMatch reports whether order no matches q by number (exactly, or
// as a prefix under QimenMatchPrefix), status and time windows, and how it
// is shown: with its previous state when stale and it changed.
func (s *Sandbox) searchMatch(q searchQuery, no string, o *order, stale bool) (searchHit, bool) {
	if q.no != "" && no != q.no && !(s.q.opts.Match == QimenMatchPrefix && strings.HasPrefix(no, q.no)) {
		return searchHit{}, false
	}
	state, modified := o.state, o.modified
	if stale && o.changed {
		state, modified = o.prevState, o.prevModified
	}
	switch {
	case q.status != nil && state != *q.status,
		q.byMT && (modified.Before(q.mtFrom) || modified.After(q.mtTo)),
		q.byCT && (o.created.Before(q.ctFrom) || o.created.After(q.ctTo)):
		return searchHit{}, false
	}
	return searchHit{searchOrder{StockinNo: no, Status: state, SrcOrderType: 22, WarehouseNo: "sandbox",
		ModifiedDate: modified.In(qimen.China).Format(qimen.TimeLayout), CreatedDate: o.created.In(qimen.China).Format(qimen.TimeLayout),
		DetailList: []any{}}, modified}, true
}

// searchPage is the page q asks for of every hit, oldest change first,
// then by number: a stable order for paging.
func searchPage(hits []searchHit, q searchQuery) searchData {
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].at.Equal(hits[j].at) {
			return hits[i].at.Before(hits[j].at)
		}
		return hits[i].StockinNo < hits[j].StockinNo
	})
	out := searchData{TotalCount: len(hits), Order: []searchOrder{}}
	for i := (q.pageNo - 1) * q.pageSize; i < len(hits) && i < q.pageNo*q.pageSize; i++ {
		out.Order = append(out.Order, hits[i].searchOrder)
	}
	return out
}

// serveQimenStats is GET /_sandbox/qimen/stats.
func (s *Sandbox) serveQimenStats(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, s.QimenStats())
}

// serveQimen on a Multi hands the call to the seller its wdt3_customer_id
// (the WDT sid) names.
func (m *Multi) serveQimen(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	call := readQimenCall(w, r)
	if sb, ok := m.bySID[call.get("wdt3_customer_id")]; ok {
		w.Header().Set("Date", sb.serverNow().UTC().Format(http.TimeFormat))
		sb.handleQimen(w, call)
		return
	}
	one := 1
	httpjson.Write(w, http.StatusOK, map[string]any{"response": qimenAnswer{Flag: "failure", Code: "1", Message: MsgSIDNotExists, Status: &one}})
}

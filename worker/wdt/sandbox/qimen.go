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
	gw := func(code, msg string) (qimenAnswer, string) {
		return qimenAnswer{Flag: "failure", Code: code, Message: msg}, ""
	}
	wdtFail := func(status int, msg string) (qimenAnswer, string) {
		return qimenAnswer{Flag: "failure", Code: strconv.Itoa(status), Message: msg, Status: &status}, ""
	}
	if call.err != "" {
		return gw(QimenCodeInvalidParam, call.err)
	}
	all, problem := call.params()
	if problem != "" {
		return gw(QimenCodeInvalidParam, problem)
	}
	for _, name := range [...]string{"app_key", "method", "format", "v", "sign_method", "timestamp", "target_app_key", "sign"} {
		if all[name] == "" {
			return gw(QimenCodeMissingParam, "Missing required arguments:"+name)
		}
	}
	o := s.q.opts
	switch {
	case all["format"] != "json":
		return gw(QimenCodeInvalidParam, "Invalid format: the sandbox answers json only")
	case all["v"] != "2.0":
		return gw(QimenCodeInvalidParam, "Invalid version: v must be 2.0")
	case all["sign_method"] != "md5":
		return gw(QimenCodeInvalidParam, "Invalid sign_method: the sandbox verifies md5")
	case all["app_key"] != o.AppKey:
		return gw(QimenCodeInvalidAppKey, "Invalid app Key")
	case all["target_app_key"] != o.TargetAppKey:
		return gw(QimenCodeInvalidTarget, "Invalid target app key")
	}
	now := s.serverNow()
	ts, err := time.ParseInLocation(qimen.TimeLayout, all["timestamp"], qimen.China)
	if err != nil || ts.Sub(now) > QimenTimestampWindow || now.Sub(ts) > QimenTimestampWindow {
		return gw(QimenCodeTimestamp, "Invalid timestamp: more than 10 minutes from the server's clock, or not yyyy-MM-dd HH:mm:ss China time")
	}
	if qimen.TopSign(o.AppSecret, all) != all["sign"] {
		return gw(QimenCodeSignCheck, QimenMsgSignCheck)
	}
	if qimen.WdtMethod(all["method"]) != qimen.MethodPreStockinSearch {
		return gw(QimenCodeInvalidMethod, "Invalid method: the sandbox serves "+qimen.MethodPreStockinSearch)
	}

	// WDT's side: the seller, its signature and clock, then the search.
	api := map[string]string{}
	for k, v := range all {
		if !qimenSystemParams[k] {
			api[k] = v
		}
	}
	switch {
	case api["wdt3_customer_id"] != s.opts.SID:
		return wdtFail(1, MsgSIDNotExists)
	case api["wdt_appkey"] != s.opts.AppKey:
		return wdtFail(1, MsgAppAuthFail)
	}
	sign, err := qimen.Sign(s.secret, all["method"], api)
	if err != nil {
		return wdtFail(1, MsgParamError+": "+err.Error())
	}
	if api["wdt_salt"] != s.salt || sign != api["wdt_sign"] {
		return wdtFail(1, MsgAuthFailed)
	}
	dt, err := time.ParseInLocation(qimen.TimeLayout, api["datetime"], qimen.China)
	if err != nil || dt.Sub(now) > TimestampWindow*time.Second || now.Sub(dt) > TimestampWindow*time.Second {
		return wdtFail(7, MsgTimestampExpired)
	}
	q, msg := parseSearch(api["params"], api["pager"])
	if msg != "" {
		if msg == MsgNeedTimeWindow {
			return wdtFail(100, msg)
		}
		return wdtFail(1, MsgParamError+": "+msg)
	}
	data := s.search(q, stale)
	raw, _ := json.Marshal(data)
	zero := 0
	return qimenAnswer{Flag: "success", Status: &zero, Data: raw}, q.no
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
	var p map[string]json.RawMessage
	if err := json.Unmarshal([]byte(paramsText), &p); err != nil || p == nil {
		return q, "params must be a JSON object"
	}
	str := func(k string) (string, bool) {
		raw, ok := p[k]
		if !ok {
			return "", false
		}
		var v string
		return v, json.Unmarshal(raw, &v) == nil
	}
	if v, ok := str("stockin_no"); ok {
		q.no = v
	}
	if raw, ok := p["status"]; ok {
		var st int
		if json.Unmarshal(raw, &st) != nil {
			return q, "status must be an integer"
		}
		q.status = &st
	}
	window := func(fromKey, toKey string) (time.Time, time.Time, bool, string) {
		fs, okF := str(fromKey)
		ts, okT := str(toKey)
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
	var msg string
	if q.mtFrom, q.mtTo, q.byMT, msg = window("mt_from", "mt_to"); msg != "" {
		return q, msg
	}
	if q.ctFrom, q.ctTo, q.byCT, msg = window("ct_from", "ct_to"); msg != "" {
		return q, msg
	}
	if !q.byMT && !q.byCT {
		return q, MsgNeedTimeWindow
	}
	var pager struct {
		PageNo   *int `json:"page_no"`
		PageSize *int `json:"page_size"`
	}
	if err := json.Unmarshal([]byte(pagerText), &pager); err != nil || pager.PageNo == nil || pager.PageSize == nil {
		return q, `pager must be {"page_no":N,"page_size":N}`
	}
	q.pageNo, q.pageSize = *pager.PageNo, *pager.PageSize
	if q.pageNo < 1 {
		return q, "page_no starts at 1 on the Qimen route"
	}
	if q.pageSize < 1 || q.pageSize > QimenMaxPageSize {
		return q, fmt.Sprintf("page_size must be within 1..%d", QimenMaxPageSize)
	}
	return q, ""
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
	type hit struct {
		searchOrder
		at time.Time
	}
	var hits []hit
	for no, o := range s.orders {
		if q.no != "" && no != q.no && !(s.q.opts.Match == QimenMatchPrefix && strings.HasPrefix(no, q.no)) {
			continue
		}
		state, modified := o.state, o.modified
		if stale && o.changed {
			state, modified = o.prevState, o.prevModified
		}
		if q.status != nil && state != *q.status {
			continue
		}
		if q.byMT && (modified.Before(q.mtFrom) || modified.After(q.mtTo)) {
			continue
		}
		if q.byCT && (o.created.Before(q.ctFrom) || o.created.After(q.ctTo)) {
			continue
		}
		hits = append(hits, hit{searchOrder{StockinNo: no, Status: state, SrcOrderType: 22, WarehouseNo: "sandbox",
			ModifiedDate: modified.In(qimen.China).Format(qimen.TimeLayout), CreatedDate: o.created.In(qimen.China).Format(qimen.TimeLayout),
			DetailList: []any{}}, modified})
	}
	// Oldest change first, then by number: a stable order for paging.
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

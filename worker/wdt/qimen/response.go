package qimen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// MaxBodyBytes bounds how much of an answer is read. A lookup by number
// answers one order in a few kilobytes; a page of MaxPageSize orders with
// their detail lines stays well under this.
const MaxBodyBytes = 1 << 20

// maxDepth bounds how deep an answer may nest: an order with its detail
// lines is five levels deep, and anything far deeper is garbage.
const maxDepth = 32

// TimeLayout is how WDT and Qimen write times: China time, to the second.
const TimeLayout = "2006-01-02 15:04:05"

// China is the zone of every time on the Qimen route (UTC+8, no daylight
// saving), fixed so that no tzdata is needed.
var China = time.FixedZone("CST", 8*3600)

// page is one decoded page of a successful search.
type page struct {
	total  int
	orders []pageOrder
}

// pageOrder is what the lookup reads of one order.
type pageOrder struct {
	no       string
	status   int
	modified time.Time
	created  time.Time // zero when the answer has none
	raw      string    // modified_date as WDT wrote it
}

// parseAnswer is the one boundary where an HTTP answer becomes a page or a
// typed *Error. Anything that is not clearly a well-formed success is an
// error; nothing odd ever becomes "not found".
func parseAnswer(httpStatus int, body []byte, truncated bool) (*page, *Error) {
	a := answer{httpStatus: httpStatus, body: body}
	if e := a.transportError(truncated); e != nil {
		return nil, e
	}
	resp, e := a.response()
	if e != nil {
		return nil, e
	}
	failure, e := a.flag(resp)
	if e != nil {
		return nil, e
	}
	if e := a.statusError(resp, failure); e != nil {
		return nil, e
	}
	if failure {
		return nil, a.fail(KindGarbled, wdt.UnknownOutcome, "response.flag is failure but status is 0")
	}
	pg, problem := parseData(resp["data"])
	if problem != "" {
		return nil, a.fail(KindGarbled, wdt.UnknownOutcome, problem)
	}
	return pg, nil
}

// answer is one HTTP answer being read by parseAnswer's steps, each of
// which returns the *Error that ends the reading, or nil to go on.
type answer struct {
	httpStatus int
	body       []byte
}

// fail is an *Error about this answer, its body's head kept for the log.
func (a answer) fail(kind Kind, cat wdt.Category, msg string) *Error {
	return &Error{Kind: kind, Category: cat, HTTPStatus: a.httpStatus, Status: wdt.NoStatus, Message: msg, Body: head(a.body)}
}

// transportError refuses what HTTP already says is no answer: a redirect,
// 404 or 405 (a wrong URL: Config, so an operator fixes it), any other
// non-2xx (the outcome is unknown), or a body cut at MaxBodyBytes.
func (a answer) transportError(truncated bool) *Error {
	switch {
	case a.httpStatus >= 300 && a.httpStatus <= 399:
		return a.fail(KindHTTP, wdt.Config, fmt.Sprintf("the Qimen URL answered a redirect (HTTP %d)", a.httpStatus))
	case a.httpStatus == http.StatusNotFound || a.httpStatus == http.StatusMethodNotAllowed:
		return a.fail(KindHTTP, wdt.Config, fmt.Sprintf("the Qimen URL answered HTTP %d", a.httpStatus))
	case a.httpStatus < 200 || a.httpStatus > 299:
		return a.fail(KindHTTP, wdt.UnknownOutcome, "non-2xx HTTP status")
	case truncated:
		return a.fail(KindGarbled, wdt.UnknownOutcome, fmt.Sprintf("answer larger than %d bytes", MaxBodyBytes))
	}
	return nil
}

// response opens the envelope: well-formed JSON with exactly one key,
// error_response (TOP's gateway error, returned as an *Error) or response
// (returned as its object).
func (a answer) response() (map[string]json.RawMessage, *Error) {
	if problem := checkJSON(a.body); problem != "" {
		return nil, a.fail(KindGarbled, wdt.UnknownOutcome, problem)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(a.body, &top); err != nil {
		return nil, a.fail(KindGarbled, wdt.UnknownOutcome, "answer is not a JSON object")
	}
	if len(top) != 1 {
		return nil, a.fail(KindGarbled, wdt.UnknownOutcome, fmt.Sprintf("answer has %d top-level keys; the envelope has exactly one, response or error_response", len(top)))
	}
	if raw, ok := top["error_response"]; ok {
		return nil, a.gatewayError(raw)
	}
	raw, ok := top["response"]
	if !ok {
		return nil, a.fail(KindGarbled, wdt.UnknownOutcome, "answer has neither response nor error_response")
	}
	resp, ok := object(raw)
	if !ok {
		return nil, a.fail(KindGarbled, wdt.UnknownOutcome, "response is not an object")
	}
	return resp, nil
}

// gatewayError is TOP's own error,
// {"error_response":{"code","msg","sub_code","sub_msg"}}, classified by its
// codes and messages.
func (a answer) gatewayError(raw json.RawMessage) *Error {
	obj, ok := object(raw)
	if !ok {
		return a.fail(KindGarbled, wdt.UnknownOutcome, "error_response is not an object")
	}
	e := a.fail(KindEnvelope, "", "")
	e.Code, e.Message = text(obj["code"]), text(obj["msg"])
	e.SubCode, e.SubMessage = text(obj["sub_code"]), text(obj["sub_msg"])
	e.Category = classifyEnvelope(e.Code, e.SubCode, e.Message, e.SubMessage)
	return e
}

// flag reads response.flag, which may be absent: "failure" reports true,
// "success" false, anything else (or not a string) is garbled.
func (a answer) flag(resp map[string]json.RawMessage) (failure bool, e *Error) {
	flag, hasFlag := resp["flag"]
	if !hasFlag {
		return false, nil
	}
	switch text(flag) {
	case "success":
	case "failure":
		failure = true
	default:
		return false, a.fail(KindGarbled, wdt.UnknownOutcome, "response.flag is neither success nor failure")
	}
	if !isString(flag) {
		return false, a.fail(KindGarbled, wdt.UnknownOutcome, "response.flag is not a string")
	}
	return failure, nil
}

// statusError reads response.status: a failure without one is the Qimen
// envelope's own error, a missing or non-canonical status is garbled, and
// a status other than 0 is WDT's error, classified. Status 0 is nil.
func (a answer) statusError(resp map[string]json.RawMessage, failure bool) *Error {
	rawStatus, hasStatus := resp["status"]
	if hasStatus && string(rawStatus) == "null" {
		hasStatus = false
	}
	switch {
	case failure && !hasStatus:
		e := a.fail(KindEnvelope, "", text(resp["message"]))
		e.Code, e.SubCode, e.SubMessage = text(resp["code"]), text(resp["sub_code"]), text(resp["sub_message"])
		e.Category = classifyEnvelope(e.Code, e.SubCode, e.Message, e.SubMessage)
		e.Body = ""
		return e
	case !hasStatus:
		return a.fail(KindGarbled, wdt.UnknownOutcome, "response has no status")
	}
	status, ok := parseInt(rawStatus, false)
	if !ok {
		return a.fail(KindGarbled, wdt.UnknownOutcome, "response.status is not a canonical non-negative integer")
	}
	if status == 0 {
		return nil
	}
	e := a.fail(KindStatus, classifyStatus(status, text(resp["message"])), text(resp["message"]))
	e.Status = status
	e.Code, e.SubCode, e.SubMessage = text(resp["code"]), text(resp["sub_code"]), text(resp["sub_message"])
	e.Body = ""
	return e
}

// parseData reads a successful search's data: total_count and order.
func parseData(raw json.RawMessage) (*page, string) {
	data, ok := object(raw)
	if !ok {
		return nil, "response.data is missing or not an object"
	}
	total, ok := parseInt(data["total_count"], false)
	if !ok {
		return nil, "response.data.total_count is missing or not a canonical non-negative integer"
	}
	pg := &page{total: total}
	rawOrders, has := data["order"]
	if !has || string(rawOrders) == "null" {
		if total != 0 {
			return nil, fmt.Sprintf("response.data counts %d orders but has no order list", total)
		}
		return pg, ""
	}
	var list []json.RawMessage
	if err := json.Unmarshal(rawOrders, &list); err != nil {
		return nil, "response.data.order is not a list"
	}
	for i, r := range list {
		o, problem := parseOrder(r)
		if problem != "" {
			return nil, fmt.Sprintf("response.data.order[%d]: %s", i, problem)
		}
		pg.orders = append(pg.orders, o)
	}
	return pg, ""
}

func parseOrder(raw json.RawMessage) (pageOrder, string) {
	var o pageOrder
	obj, ok := object(raw)
	if !ok {
		return o, "not an object"
	}
	if !isString(obj["stockin_no"]) || text(obj["stockin_no"]) == "" {
		return o, "stockin_no is missing or not a string"
	}
	o.no = text(obj["stockin_no"])
	st, ok := parseInt(obj["status"], true)
	if !ok {
		return o, "status is missing or not a canonical integer"
	}
	o.status = st
	if !isString(obj["modified_date"]) {
		return o, "modified_date is missing or not a string"
	}
	o.raw = text(obj["modified_date"])
	t, err := time.ParseInLocation(TimeLayout, o.raw, China)
	if err != nil {
		return o, fmt.Sprintf("modified_date %q is not %s", wdt.Clip(o.raw), TimeLayout)
	}
	o.modified = t
	if c, ok := obj["created_date"]; ok && isString(c) && text(c) != "" {
		if t, err := time.ParseInLocation(TimeLayout, text(c), China); err == nil {
			o.created = t
		}
	}
	return o, ""
}

// object decodes a JSON object into its members, matched case-sensitively.
func object(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	return m, true
}

func isString(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '"' }

// text renders a JSON value for an error: a string unquoted, null as "",
// anything else as its JSON. The client redacts, then clips it.
func text(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// head keeps the start of an odd body for the error's excerpt; the client
// redacts it, then cuts it to wdt.Excerpt's size.
func head(body []byte) string {
	if len(body) > 4096 {
		body = body[:4096]
	}
	return string(body)
}

// parseInt accepts an integer only as WDT writes it: no fraction, exponent,
// plus sign, leading zero or quotes; a minus only when negative is true
// (order states include -2).
func parseInt(raw json.RawMessage, negative bool) (int, bool) {
	s := string(raw)
	if negative && strings.HasPrefix(s, "-") && s != "-0" {
		n, ok := parseInt(json.RawMessage(s[1:]), false)
		return -n, ok && n != 0
	}
	if s == "0" {
		return 0, true
	}
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n <= 1<<31
}

// checkJSON reads body as exactly one JSON object through the token
// stream, so that a key given twice at any depth, trailing data and
// absurd nesting are seen (json.Unmarshal keeps the last duplicate and
// matches keys case-insensitively). It returns what is wrong, or "".
func checkJSON(body []byte) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return "empty answer"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return "answer is not a JSON object"
	}
	if problem := checkObject(dec, 1); problem != "" {
		return problem
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "answer has data after the JSON object"
	}
	return ""
}

// checkObject checks the members of an object whose '{' was read.
func checkObject(dec *json.Decoder, depth int) string {
	if depth > maxDepth {
		return "answer nests too deep"
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "answer is not valid JSON"
		}
		key, ok := tok.(string)
		if !ok {
			return "answer is not valid JSON"
		}
		if seen[key] {
			return "answer repeats the key " + strconv.Quote(wdt.Clip(key))
		}
		seen[key] = true
		if problem := checkValue(dec, depth); problem != "" {
			return problem
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return "answer is not valid JSON"
	}
	return ""
}

func checkValue(dec *json.Decoder, depth int) string {
	tok, err := dec.Token()
	if err != nil {
		return "answer is not valid JSON"
	}
	switch tok {
	case json.Delim('{'):
		return checkObject(dec, depth+1)
	case json.Delim('['):
		if depth+1 > maxDepth {
			return "answer nests too deep"
		}
		for dec.More() {
			if problem := checkValue(dec, depth+1); problem != "" {
				return problem
			}
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
			return "answer is not valid JSON"
		}
	}
	return ""
}

// classifyEnvelope says what a Qimen gateway failure means. The gateway's
// codes are not published as a closed list; these are the families the TOP
// and Qimen documentation name. What is not recognised is treated as
// transient (retry), never as an answer about the order.
func classifyEnvelope(fields ...string) wdt.Category {
	all := strings.ToLower(strings.Join(fields, " "))
	switch {
	case strings.Contains(all, "limit"), strings.Contains(all, "flow-control"), strings.Contains(all, "frequency"):
		return wdt.RateLimited
	case strings.Contains(all, "timestamp"):
		return wdt.ClockSkew
	case strings.Contains(all, "sign"), strings.Contains(all, "app-key"), strings.Contains(all, "appkey"), strings.Contains(all, "app_key"),
		strings.Contains(all, "permission"), strings.Contains(all, "auth"), strings.Contains(all, "target"),
		strings.Contains(all, "illegal"), strings.Contains(all, "invalid-method"), strings.Contains(all, "missing"):
		return wdt.Config
	}
	return wdt.UnknownOutcome
}

// classifyStatus maps a WDT status inside the envelope. A status 100 that
// is not a rate limit refuses the lookup itself (the request or the grant
// is wrong, as "参数中必须包含起止时间" is): Config, never a rejection, since
// a read says nothing about the order when it fails.
func classifyStatus(status int, message string) wdt.Category {
	switch c := wdt.Classify(status, message); c {
	case wdt.Rejected:
		return wdt.Config
	default:
		return c
	}
}

package wdt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes bounds how much of a response is read. A cancel answer is a
// few dozen bytes; anything near this size is a gateway page or garbage.
const MaxBodyBytes = 64 << 10

// excerptBytes is how much of an odd body an error keeps for diagnosis.
const excerptBytes = 120

// The rate-limit messages of status 100. WDT follows them with "，请稍后重试"
// or ",请稍后重试", so only the prefix is matched.
const (
	RateLimitCallsPrefix       = "超过每分钟最大调用频率限制"
	RateLimitConcurrencyPrefix = "超过每分钟最大并发次数限制"
	PermissionDeniedPrefix     = "权限不足"
)

// Response is a decoded WDT answer with status 0.
type Response struct {
	Status  int             `json:"status"`
	Message string          `json:"message,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// ParseResponse is the one boundary where an HTTP answer becomes a result or
// a typed *Error (in the manner of go-github's CheckResponse). truncated
// reports that the body was cut at MaxBodyBytes. Anything not clearly a WDT
// answer is UnknownOutcome: never success. The exceptions are answers that
// prove the request hit something other than the API and cannot heal by
// themselves: a redirect (3xx) or HTTP 404 or 405 is Config.
//
// "Clearly a WDT answer" is read strictly, because a lax reading can turn
// garbage into a success: the body must be exactly one JSON object, with
// nothing but JSON white space after it and no top-level key twice, whose
// "status" key (spelt exactly so) holds an integer written canonically: 0,
// not 0.0, 1e0, -0, 00 or "0".
//
// ParseResponse does not know the request, so it cannot take an echoed
// salt or signature out of the text it keeps; a Client's errors are scrubbed
// of them.
func ParseResponse(method string, httpStatus int, body []byte, truncated bool) (*Response, error) {
	resp, e := parseResponse(method, httpStatus, body, truncated, nil)
	if e != nil {
		return nil, e
	}
	return resp, nil
}

// parseResponse is ParseResponse with redact (nil: none) applied to the text
// taken from the body before it is cut to size.
func parseResponse(method string, httpStatus int, body []byte, truncated bool, redact func(string) string) (*Response, *Error) {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	fail := func(cat Category, status int, msg string) *Error {
		return &Error{Category: cat, Method: method, Status: status, Message: msg, HTTPStatus: httpStatus, Body: excerpt(redact(string(body)))}
	}
	switch {
	case httpStatus >= 300 && httpStatus <= 399:
		// A redirect comes from in front of the API (http to https, a moved
		// host) and the client never follows one: the URL is wrong.
		return nil, fail(Config, NoStatus, fmt.Sprintf("WDT answered a redirect (HTTP %d)", httpStatus))
	case httpStatus == http.StatusNotFound || httpStatus == http.StatusMethodNotAllowed:
		// The path is not the API: nothing there could cancel an order.
		return nil, fail(Config, NoStatus, fmt.Sprintf("WDT answered HTTP %d on the API path", httpStatus))
	case httpStatus < 200 || httpStatus > 299:
		return nil, fail(UnknownOutcome, NoStatus, "non-2xx HTTP status")
	}
	if truncated {
		return nil, fail(UnknownOutcome, NoStatus, fmt.Sprintf("response body larger than %d bytes", MaxBodyBytes))
	}
	env, problem := decodeEnvelope(body)
	if problem != "" {
		return nil, fail(UnknownOutcome, NoStatus, redact(problem))
	}
	if env.status == nil || string(env.status) == "null" {
		return nil, fail(UnknownOutcome, NoStatus, "response has no status")
	}
	status, ok := parseStatus(env.status)
	if !ok {
		return nil, fail(UnknownOutcome, NoStatus, "response status is not a canonical non-negative integer: "+clip(redact(string(env.status))))
	}
	msg := jsonText(env.message)
	if status == 0 {
		return &Response{Status: 0, Message: clip(msg), Data: env.data}, nil
	}
	e := fail(Classify(status, msg), status, clip(redact(msg)))
	e.Code = clip(redact(jsonText(env.code)))
	return nil, e
}

// envelope is the top level of a WDT answer: the raw JSON of the keys the
// client reads. A nil field means the key was absent.
type envelope struct {
	status, message, code, data json.RawMessage
}

// decodeEnvelope reads body as exactly one JSON object through the token
// stream, so that duplicate top-level keys and trailing data are seen (a
// plain json.Unmarshal keeps the last duplicate, matches keys
// case-insensitively and would need a second pass for trailing data). It
// returns what is wrong with the body, or "".
func decodeEnvelope(body []byte) (envelope, string) {
	var env envelope
	if isJSONSpace(body) {
		return env, "empty response body"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return env, "response is not a JSON object"
	}
	if problem := env.readMembers(dec); problem != "" {
		return env, problem
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return env, "response is not valid JSON"
	}
	if !isJSONSpace(body[dec.InputOffset():]) {
		return env, "response has data after the JSON object"
	}
	return env, ""
}

// readMembers reads the object's members up to its closing brace, keeping
// the keys the client reads; a key given twice is a problem, since which
// copy counts would be a guess.
func (env *envelope) readMembers(dec *json.Decoder) string {
	seen := make(map[string]bool, 4)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "response is not valid JSON"
		}
		key, ok := tok.(string)
		if !ok {
			return "response is not valid JSON"
		}
		if seen[key] {
			return "response repeats the top-level key " + strconv.Quote(clipTo(key, 40))
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "response is not valid JSON"
		}
		env.keep(key, v)
	}
	return ""
}

// keep stores v when key is one the client reads. Keys match
// case-sensitively: {"STATUS":0} carries no status.
func (env *envelope) keep(key string, v json.RawMessage) {
	switch key {
	case "status":
		env.status = v
	case "message":
		env.message = v
	case "code":
		env.code = v
	case "data":
		env.data = v
	}
}

// parseStatus accepts a status only in the form WDT writes it: a JSON
// integer with no sign, fraction, exponent or leading zero, within int.
func parseStatus(raw json.RawMessage) (int, bool) {
	s := string(raw)
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
	return n, err == nil
}

// isJSONSpace reports whether b holds only JSON white space (RFC 8259 §2),
// which is narrower than unicode.IsSpace.
func isJSONSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// Classify maps a non-zero WDT status and its message to a category, as the
// table in docs/wdt-api.md ("Statuses") says. Status 100 carries rate
// limits, a permission fault and business rejections, so its message decides.
func Classify(status int, message string) Category {
	switch status {
	case 0:
		return Cancelled
	case 7:
		return ClockSkew
	case 1, 2, 3, 6, 8:
		return Config
	case 100:
		m := strings.TrimSpace(message)
		switch {
		case strings.HasPrefix(m, RateLimitCallsPrefix), strings.HasPrefix(m, RateLimitConcurrencyPrefix):
			return RateLimited
		case strings.HasPrefix(m, PermissionDeniedPrefix):
			return Config
		}
		return Rejected
	}
	// 4, 5, 99 and any status the vendor has not documented.
	return UnknownOutcome
}

// jsonText renders a JSON value as text: a string unquoted, anything else as
// its JSON, so a numeric code or an object message is not lost. The caller
// clips it, after redacting.
func jsonText(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// clip bounds text that came from outside before it goes into an error.
func clip(s string) string { return clipTo(s, 300) }

// clipTo cuts s to at most max bytes on a rune boundary, marking the cut.
func clipTo(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// excerpt keeps the start of a body, valid UTF-8 and on one line.
func excerpt(body string) string {
	b := strings.TrimSpace(body)
	if len(b) > excerptBytes {
		cut := excerptBytes
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b = b[:cut]
	}
	s := strings.ToValidUTF8(b, "?")
	return strings.Join(strings.Fields(s), " ")
}

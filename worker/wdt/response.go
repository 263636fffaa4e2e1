package wdt

import (
	"bytes"
	"encoding/json"
	"fmt"
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
// answer is UnknownOutcome: never success.
func ParseResponse(method string, httpStatus int, body []byte, truncated bool) (*Response, error) {
	fail := func(cat Category, status int, msg string) *Error {
		return &Error{Category: cat, Method: method, Status: status, Message: msg, HTTPStatus: httpStatus, Body: excerpt(body)}
	}
	if httpStatus < 200 || httpStatus > 299 {
		return nil, fail(UnknownOutcome, NoStatus, "non-2xx HTTP status")
	}
	if truncated {
		return nil, fail(UnknownOutcome, NoStatus, fmt.Sprintf("response body larger than %d bytes", MaxBodyBytes))
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fail(UnknownOutcome, NoStatus, "empty response body")
	}
	var raw struct {
		Status  json.RawMessage `json:"status"`
		Message json.RawMessage `json:"message"`
		Code    json.RawMessage `json:"code"`
		Data    json.RawMessage `json:"data"`
	}
	if trimmed[0] != '{' || json.Unmarshal(trimmed, &raw) != nil {
		return nil, fail(UnknownOutcome, NoStatus, "response is not a JSON object")
	}
	if len(raw.Status) == 0 || string(raw.Status) == "null" {
		return nil, fail(UnknownOutcome, NoStatus, "response has no status")
	}
	status, err := strconv.Atoi(string(raw.Status))
	if err != nil {
		return nil, fail(UnknownOutcome, NoStatus, "response status is not an integer: "+clip(string(raw.Status)))
	}
	msg := jsonText(raw.Message)
	if status == 0 {
		return &Response{Status: 0, Message: msg, Data: raw.Data}, nil
	}
	e := fail(Classify(status, msg), status, msg)
	e.Code = jsonText(raw.Code)
	return nil, e
}

// Classify maps a non-zero WDT status and its message to a category, as the
// table in wdt-api.md says. Status 100 carries rate limits, a permission fault
// and business rejections, so its message decides.
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
// its JSON, so a numeric code or an object message is not lost.
func jsonText(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return clip(s)
	}
	return clip(string(v))
}

// clip bounds text that came from outside before it goes into an error.
func clip(s string) string {
	const max = 300
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
func excerpt(body []byte) string {
	b := bytes.TrimSpace(body)
	if len(b) > excerptBytes {
		cut := excerptBytes
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b = b[:cut]
	}
	s := strings.ToValidUTF8(string(b), "?")
	return strings.Join(strings.Fields(s), " ")
}

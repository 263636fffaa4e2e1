package wdt

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Redacted replaces every secret this package takes out of text.
const Redacted = "[REDACTED]"

// minSecretLen is the shortest value replaced wherever it appears. A shorter
// one would garble every message it happens to occur in, and protects nothing.
const minSecretLen = 4

// redactor takes known secrets, in every encoding a server might echo them
// in, and anything shaped like the signed query string out of text that came
// from outside, before it reaches an *Error or a log line.
type redactor struct {
	needles []string // longest first, so a whole URL goes before the salt in it
}

// newRedactor returns a redactor for values (the secret, the salt, the
// signature, the query string, the URL of one request). Values shorter than
// minSecretLen are skipped.
func newRedactor(values ...string) *redactor {
	seen := make(map[string]bool)
	var needles []string
	for _, v := range values {
		if len(v) < minSecretLen {
			continue
		}
		for _, n := range encodings(v) {
			if len(n) >= minSecretLen && !seen[n] {
				seen[n] = true
				needles = append(needles, n)
			}
		}
	}
	sort.Slice(needles, func(i, j int) bool { return len(needles[i]) > len(needles[j]) })
	return &redactor{needles: needles}
}

// redact replaces the known values, then what still looks like the request's
// query string or one of its secret parameters.
func (r *redactor) redact(s string) string {
	if s == "" {
		return s
	}
	for _, n := range r.needles {
		s = strings.ReplaceAll(s, n, Redacted)
	}
	s = queryRun.ReplaceAllStringFunc(s, func(run string) string {
		if signedParam.MatchString(run) {
			return Redacted
		}
		return run
	})
	s = secretPair.ReplaceAllString(s, Redacted)
	s = secretJSONPair.ReplaceAllString(s, `"$1":"`+Redacted+`"`)
	return s
}

// encodings lists v as a server might echo it: raw, query- and
// path-escaped (upper- and lower-case hex, and escaped twice, as in a return
// URL), each of those HTML-escaped and JSON-escaped (with and without HTML
// escaping, and with "/" as "\/" as PHP writes it).
func encodings(v string) []string {
	bases := []string{v, url.QueryEscape(v), url.PathEscape(v), url.QueryEscape(url.QueryEscape(v))}
	for _, b := range bases[1:] {
		bases = append(bases, percentHex.ReplaceAllStringFunc(b, strings.ToLower))
	}
	out := make([]string, 0, len(bases)*6)
	for _, b := range bases {
		out = append(out, b, html.EscapeString(b))
		for _, j := range [...]string{jsonEscape(b, true), jsonEscape(b, false)} {
			out = append(out, j, strings.ReplaceAll(j, "/", `\/`))
		}
	}
	return out
}

// jsonEscape is s as it appears inside a JSON string.
func jsonEscape(s string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if enc.Encode(s) != nil {
		return s
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return string(b[1 : len(b)-1])
}

var (
	percentHex = regexp.MustCompile(`%[0-9A-F]{2}`)

	// queryRun is two or more name=value pairs joined by "&" (raw,
	// HTML-escaped, percent-escaped or JSON-escaped): the shape of the
	// request's query string, in any order.
	queryRun = regexp.MustCompile(`(?i)[a-z_]+(?:=|%3d)[^\s&"'<>]*(?:(?:&amp;|&|%26|\\u0026)[a-z_]+(?:=|%3d)[^\s&"'<>]*)+`)
	// signedParam finds, in a queryRun, a parameter only the signed request
	// carries.
	signedParam = regexp.MustCompile(`(?i)(?:^|&|;|%26|\\u0026)(?:sid|salt|sign)(?:=|%3d)`)
	// secretPair is one secret parameter on its own: "sign=...", "salt=...".
	secretPair = regexp.MustCompile(`(?i)\b(?:sign|salt|appsecret)(?:=|%3d)[^\s&"'<>]*`)
	// secretJSONPair is one secret parameter as a JSON member.
	secretJSONPair = regexp.MustCompile(`(?i)"(sign|salt|appsecret|secret)"\s*:\s*"(?:[^"\\]|\\.)*"`)
)

// redactError scrubs everything e carries that came from outside or could
// quote the request: message, code, body excerpt and the transport cause.
func redactError(e *Error, r *redactor) {
	e.Message = r.redact(e.Message)
	e.Code = r.redact(e.Code)
	e.Body = r.redact(e.Body)
	if e.Err == nil {
		return
	}
	if re, ok := e.Err.(*redactedError); ok {
		re.redact = r.redact
	} else {
		e.Err = &redactedError{err: e.Err, redact: r.redact}
	}
}

// redactedError shows a transport cause without the request URL (op is the
// HTTP method of a *url.Error, whose URL is dropped) and with its text
// redacted. It keeps the cause reachable for errors.Is and errors.As
// (context.DeadlineExceeded, syscall.ECONNREFUSED, x509 errors).
type redactedError struct {
	op     string
	err    error
	redact func(string) string // nil: only query strings are dropped
}

func (e *redactedError) Error() string {
	s := e.err.Error()
	if e.redact != nil {
		s = e.redact(s) // before scrubURLs, which would cut a known URL in two
	}
	s = scrubURLs(s)
	if e.op != "" {
		// The URL is left out on purpose (it carries the salt and the
		// signature); say so, or "Post dial tcp ..." reads as cut short.
		s = e.op + " WDT_URL (URL withheld): " + s
	}
	return s
}

func (e *redactedError) Unwrap() error { return e.err }

// Timeout reports whether the cause was a timeout, as *url.Error does.
func (e *redactedError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}

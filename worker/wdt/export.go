package wdt

// Redactor takes known secrets, in every encoding a server might echo them
// in, and anything shaped like a signed query string out of text that came
// from outside. It is the cancel client's own redactor, exported so that
// sibling clients (the Qimen lookup, package qimen) scrub their errors by
// the same rules instead of a second, weaker copy.
type Redactor struct{ r *redactor }

// NewRedactor returns a Redactor for values (secrets, signatures, signed
// URLs and query strings). Values shorter than four bytes are skipped: they
// would garble every message and protect nothing.
func NewRedactor(values ...string) Redactor { return Redactor{newRedactor(values...)} }

// Redact replaces every known value, and what still looks like a signed
// query string or a secret parameter, with Redacted.
func (r Redactor) Redact(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.redact(s)
}

// Excerpt keeps the start of a response body for an error: at most 120
// bytes, valid UTF-8, on one line. Redact before, not after: a secret must
// not survive half-cut at the end.
func Excerpt(body string) string { return excerpt(body) }

// Clip bounds text that came from outside (a message, a code) to 300 bytes
// on a rune boundary, marking the cut.
func Clip(s string) string { return clip(s) }

// StripURL removes the request URL (with its signed query) from net/http's
// *url.Error, keeping the cause reachable for errors.Is and errors.As.
func StripURL(err error) error { return stripURL(err) }

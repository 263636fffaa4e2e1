package redisurl

import (
	"errors"
	"net/url"
	"strings"
	"unicode"
)

// usage is the shape of a Redis URL, for the end of every error about one.
const usage = "use redis://[user:password@]host:port/db, rediss://... or redis-sentinel://[user:password@]host:port[,host2:port2]/db?master=NAME" + encodeHint

// encodeHint is the usual cause of a URL that does not parse: a password
// with a character that ends the user:password part early.
const encodeHint = "; percent-encode special characters in the password (# as %23, / as %2F, ? as %3F, @ as %40, % as %25, a space as %20)"

// check refuses a Redis URL whose parts cannot be trusted to hold no piece
// of the password, and says why without quoting any of raw: url.Parse's
// own errors quote the part they choke on (`invalid port ":Pa55" after
// host` for redis://:Pa55#word@h), and a password with an unencoded
// # / or ? that still parses lands, in part, in the fragment, path or query
// (redis://:12#34@h is host ":12", fragment "34@h"). Only a URL that
// passes is ever printed (MaskURL), and then with the password masked.
func check(raw string) error {
	bad := func(why string) error {
		return errors.New("redis URL (not shown: it may hold the password): " + why + ": " + usage)
	}
	switch {
	case raw == "":
		return bad("it is empty")
	case strings.IndexFunc(raw, unicode.IsControl) >= 0:
		return bad("it holds a control character (a tab or line break, maybe pasted with it)")
	case !strings.Contains(raw, "://"):
		return bad("it does not start with a scheme and :// (redis://, rediss:// or redis-sentinel://)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad(parseReason(err))
	}
	switch {
	case u.Scheme == "":
		return bad("it does not start with a scheme and :// (redis://, rediss:// or redis-sentinel://)")
	case strings.Contains(raw, "#"):
		return bad("it holds a # (a Redis URL has no fragment: a # in the password must be written %23)")
	case strings.Contains(u.Path, "@") || strings.Contains(u.RawQuery, "@"):
		return bad("an @ follows the host (a / or ? in the password ends the host early: write them %2F and %3F)")
	case u.RawQuery != "" && u.Scheme != "redis-sentinel":
		return bad("it holds a ? (" + u.Scheme + ":// takes no ?options; a ? in the password must be written %3F)")
	}
	return nil
}

// parseReason names what url.Parse refused, in words of its own: the
// error's text quotes the offending part, which may be the password.
func parseReason(err error) string {
	var esc url.EscapeError
	var host url.InvalidHostError
	msg := err.Error()
	switch {
	case errors.As(err, &esc):
		return "a % is not followed by two hex digits (a % in the password must be written %25)"
	case errors.As(err, &host):
		return "the host holds a character a host name cannot"
	case strings.Contains(msg, "invalid port"):
		return "what follows the host's last : is not a port number (a # / or ? in the password ends the host early)"
	case strings.Contains(msg, "invalid userinfo"):
		return "the user:password part holds a character that must be percent-encoded"
	case strings.Contains(msg, "missing protocol scheme"), strings.Contains(msg, "first path segment"):
		return "it does not start with a scheme and :// (redis://, rediss:// or redis-sentinel://)"
	}
	return "it does not parse as a URL"
}

package qimen

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// Kind says what went wrong with a lookup, for logs, metrics and tests.
type Kind string

// The kinds of lookup failure.
const (
	// KindConfig: the settings are wrong (bad URL, incomplete
	// credentials), or the request could not be built. Nothing was sent.
	KindConfig Kind = "config"
	// KindNotSent: the request never left (no connection).
	KindNotSent Kind = "not_sent"
	// KindNoAnswer: the request was sent and no complete answer came back
	// (a reset, a timeout, a body cut short).
	KindNoAnswer Kind = "no_answer"
	// KindHTTP: an HTTP status other than 2xx.
	KindHTTP Kind = "http"
	// KindGarbled: a 2xx answer that is not a well-formed Qimen envelope
	// (not JSON, duplicate keys, a missing or non-canonical status, an order
	// without its number or state, pages that do not add up).
	KindGarbled Kind = "garbled"
	// KindEnvelope: the Qimen gateway answered failure (bad signature,
	// unknown app key, call limits, the target unreachable).
	KindEnvelope Kind = "envelope"
	// KindStatus: WDT answered with a status other than 0.
	KindStatus Kind = "status"
)

// Error is every failed lookup. It never holds a secret, a signature or the
// request URL: the client scrubs everything that came from outside.
//
// Category tells the worker what to do, in the terms of the cancel's
// outcome table: Config (hold until the settings are fixed), RateLimited
// (wait for the cooldown), ClockSkew (re-sign soon), Network or
// UnknownOutcome (retry with backoff). A lookup is read-only, so no failure
// of it ever says anything about the order: it must never be read as a
// rejection.
type Error struct {
	Kind         Kind
	Category     wdt.Category
	PreStockinNo string
	HTTPStatus   int    // 0 when no response arrived
	Status       int    // WDT's status, wdt.NoStatus when there was none
	Code         string // the envelope's code
	SubCode      string // the envelope's sub_code
	Message      string // the envelope's or WDT's message, or what was wrong with the answer
	SubMessage   string // the envelope's sub_message
	Body         string // a short excerpt of an odd body
	Err          error  // the transport cause, when there was one
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "qimen lookup of %q: %s (%s)", e.PreStockinNo, e.Kind, e.Category)
	if e.Status != wdt.NoStatus && e.Status != 0 {
		fmt.Fprintf(&b, ": status %d", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Code != "" || e.SubCode != "" {
		fmt.Fprintf(&b, " (code %q, sub_code %q", e.Code, e.SubCode)
		if e.SubMessage != "" {
			fmt.Fprintf(&b, ", sub_message %q", e.SubMessage)
		}
		b.WriteString(")")
	}
	if e.HTTPStatus != 0 && (e.Kind == KindHTTP || e.Kind == KindGarbled || e.Kind == KindConfig) {
		fmt.Fprintf(&b, " (HTTP %d", e.HTTPStatus)
		if e.Body != "" {
			fmt.Fprintf(&b, ", body %q", e.Body)
		}
		b.WriteString(")")
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if fix := e.fix(); fix != "" {
		b.WriteString(": ")
		b.WriteString(fix)
	}
	return b.String()
}

// fix says what to do about a failure that will not heal by retrying.
func (e *Error) fix() string {
	switch {
	case e.Kind == KindEnvelope && e.Category == wdt.Config:
		return "check WDT_QIMEN_APPKEY, WDT_QIMEN_APPSECRET and WDT_QIMEN_TARGET_APPKEY (or the seller's qimen: block) against the Qimen console"
	case e.Kind == KindStatus && e.Category == wdt.Config:
		return "WDT refused the lookup itself: check the seller's WDT credentials and that the Qimen custom app is granted wdt.wms.stockin.prestockin.search"
	case e.Kind == KindHTTP && e.Category == wdt.Config, e.Kind == KindConfig && e.HTTPStatus != 0:
		return "WDT_QIMEN_URL does not point at the Qimen gateway"
	}
	return ""
}

// Unwrap exposes the transport cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &qimen.Error{Kind: qimen.KindGarbled}) match any
// lookup error of that kind through any wrapping.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Category == "" && t.Message == "" && t.Err == nil
}

// KindOf is the kind of a lookup error, "" for nil or another error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// CategoryOf says what a lookup error means for the worker: the category
// of a wrapped *Error, else Network (the caller's own failure before
// sending). nil has no category ("").
func CategoryOf(err error) wdt.Category {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Category
	}
	return wdt.Network
}

package wdt

import (
	"errors"
	"fmt"
	"strings"
)

// Category is what an outcome means for the worker. The values are the
// category column of the outcome table (docs/architecture.md, "Outcome
// policy") and appear verbatim in dead-letter records, metrics labels and
// log lines.
type Category string

// The categories of the outcome table. Invalid, Exhausted and Redis are
// decided by the worker, not by a response; they live here so there is one
// list. Redis is trouble with Redis inside the worker (outcome memory,
// dead-letter store, limiter), not anything WDT said.
//
// There is no "server error" category on purpose: once the request was
// written, an answer that is not a well-formed WDT answer, or a WDT status
// that does not prove the order was left alone, is UnknownOutcome, because
// the cancel may have been applied.
const (
	Cancelled      Category = "cancelled"
	ClockSkew      Category = "clock_skew"
	RateLimited    Category = "rate_limited"
	Config         Category = "config"
	Rejected       Category = "rejected"
	Network        Category = "network"
	UnknownOutcome Category = "unknown_outcome"
	Invalid        Category = "invalid"
	Exhausted      Category = "exhausted"
	Redis          Category = "redis"
)

// Categories lists every category, in outcome-table order.
var Categories = []Category{Cancelled, ClockSkew, RateLimited, Config, Rejected, Network, UnknownOutcome, Invalid, Exhausted, Redis}

// NoStatus is Error.Status when the response carried no usable WDT status.
const NoStatus = -1

// Error is every failed call: a WDT status other than 0, an unusable
// response, or a transport failure. It never holds the secret, the salt, the
// signature or the request URL.
type Error struct {
	Category   Category
	Method     string // API method called
	Status     int    // WDT status, NoStatus when there was none
	Message    string // WDT message, or what was wrong with the response
	Code       string // WDT's optional string code, e.g. "right.required"
	HTTPStatus int    // 0 when no response arrived
	Body       string // a short excerpt of the response body
	Err        error  // the transport cause, when there was one
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wdt %s: %s", e.Method, e.Category)
	if e.Status != NoStatus {
		fmt.Fprintf(&b, ": status %d", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (code %s)", e.Code)
	}
	if e.HTTPStatus != 0 && e.Status == NoStatus {
		fmt.Fprintf(&b, " (HTTP %d", e.HTTPStatus)
		if e.Body != "" {
			fmt.Fprintf(&b, ", body %q", e.Body)
		}
		b.WriteString(")")
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap exposes the transport cause (context.DeadlineExceeded, a
// *net.OpError, ...) to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &wdt.Error{Category: wdt.Rejected}) match any error
// of that category, through any wrapping.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Category == e.Category && t.Status == 0 && t.Message == "" && t.Err == nil
}

// CategoryOf says what err means for the worker: Cancelled for nil, the
// category of a wrapped *Error, else Network for an error that never reached
// WDT (the caller's own failure to build the request).
func CategoryOf(err error) Category {
	if err == nil {
		return Cancelled
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Category
	}
	return Network
}

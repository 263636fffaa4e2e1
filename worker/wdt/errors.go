package wdt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wdtcancel/wdtcancel/tasks/outcome"
)

// Category is outcome.Category: the contract (tasks/outcome) owns the
// categories and their meanings; this package maps WDT's answers onto them.
// The names below let the client, its callers and their tests keep saying
// wdt.Rejected.
type Category = outcome.Category

// The categories of the outcome table (see package outcome).
const (
	Cancelled      = outcome.Cancelled
	ClockSkew      = outcome.ClockSkew
	RateLimited    = outcome.RateLimited
	Config         = outcome.Config
	Rejected       = outcome.Rejected
	Network        = outcome.Network
	UnknownOutcome = outcome.UnknownOutcome
	Invalid        = outcome.Invalid
	Exhausted      = outcome.Exhausted
	Redis          = outcome.Redis
	// Decided by the order lookup only (worker/wdt/qimen).
	AlreadyCancelled = outcome.AlreadyCancelled
	NotFound         = outcome.NotFound
)

// Categories lists every category, in outcome-table order.
var Categories = outcome.Categories

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

// ErrCategory is the sentinel of one category: errors.Is(err,
// wdt.ErrCategory(wdt.Rejected)) holds for any *Error of that category,
// through any wrapping. An *Error as the target matches only itself: its
// zero fields are values (status 0 is WDT's success), never wildcards.
func ErrCategory(c Category) error { return categoryError{c} }

// categoryError is ErrCategory's sentinel; comparable, so two sentinels of
// one category are equal.
type categoryError struct{ c Category }

func (e categoryError) Error() string { return "wdt: an error of category " + string(e.c) }

// Is matches ErrCategory(e.Category).
func (e *Error) Is(target error) bool {
	t, ok := target.(categoryError)
	return ok && t.c == e.Category
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

package wdt

import (
	"errors"
	"fmt"
	"testing"
)

// TestErrorIs: a category sentinel matches every error of its category
// through wrapping; an *Error target matches only itself, so a rejection
// (status 100) never matches a target with WDT's success status 0.
func TestErrorIs(t *testing.T) {
	t.Parallel()
	rejected := &Error{Category: Rejected, Status: 100, Message: "单据状态不正确"}
	wrapped := fmt.Errorf("task RK1: %w", rejected)
	tests := []struct {
		name   string
		target error
		want   bool
	}{
		{"its category", ErrCategory(Rejected), true},
		{"another category", ErrCategory(Config), false},
		{"itself", rejected, true},
		{"a status-0 target of the same category", &Error{Category: Rejected, Status: 0}, false},
		{"a target with the same fields", &Error{Category: Rejected, Status: 100, Message: "单据状态不正确"}, false},
		{"a bare status-0 target", &Error{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := errors.Is(wrapped, tt.target); got != tt.want {
				t.Errorf("errors.Is(status 100 rejection, %#v) = %v, want %v", tt.target, got, tt.want)
			}
		})
	}
	if !errors.Is(ErrCategory(Network), ErrCategory(Network)) {
		t.Error("two sentinels of one category are not equal")
	}
}

package tasks

import (
	"errors"
	"strings"
	"testing"
)

// A number made only of punctuation is no order number: "-" in particular
// is what a command line means by stdin, and once reached Redis as a task.
func TestNormalizeNoRefusesPunctuationOnly(t *testing.T) {
	for _, in := range []string{"-", ".", "..", "--", "_", "-._", " - "} {
		no, err := NormalizeNo(in)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no letter or digit") {
			t.Errorf("%q: %q, %v; want refused for having no letter or digit", in, no, err)
		}
	}
	for _, in := range []string{"RK-1", "1", "a", "-1", "._a", "2026.11.28"} {
		if _, err := NormalizeNo(in); err != nil {
			t.Errorf("%q refused: %v", in, err)
		}
	}
}

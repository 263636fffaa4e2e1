package testkit

import (
	"strings"
	"testing"
)

// Leaks returns the forbidden parts text contains, in the order given
// (empty parts are skipped). It is the one secret scanner of the tests:
// give it the appsecret's secret and salt parts, and whatever else must
// never be shown (a signature parameter, a Redis password).
func Leaks(text string, forbidden ...string) []string {
	var found []string
	for _, f := range forbidden {
		if f != "" && strings.Contains(text, f) {
			found = append(found, f)
		}
	}
	return found
}

// NoLeaks fails the test (without stopping it) for each forbidden part text
// contains, naming where the text came from, and reports whether there was
// none.
func NoLeaks(t testing.TB, where, text string, forbidden ...string) bool {
	t.Helper()
	found := Leaks(text, forbidden...)
	for _, f := range found {
		t.Errorf("%s leaks %q", where, f)
	}
	return len(found) == 0
}

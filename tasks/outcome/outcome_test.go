package outcome

import "testing"

// TestCategoriesAreByteIdentical pins every category to the string
// dead-letter records, task results and metrics labels already hold.
func TestCategoriesAreByteIdentical(t *testing.T) {
	want := []string{"cancelled", "clock_skew", "rate_limited", "config", "rejected", "network", "unknown_outcome", "invalid", "exhausted", "redis"}
	if len(Categories) != len(want) {
		t.Fatalf("%d categories, want %d: %q", len(Categories), len(want), Categories)
	}
	for i, c := range Categories {
		if string(c) != want[i] {
			t.Errorf("category %d is %q, want %q", i, c, want[i])
		}
	}
}

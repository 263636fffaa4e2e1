package enqueue_test

import (
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/enqueue"
)

// TestAPIOptions: zero limits take their defaults, negative ones are an
// error naming the flag, never silently the default.
func TestAPIOptions(t *testing.T) {
	t.Parallel()
	d := enqueue.APIOptions{}.WithDefaults()
	if d.MaxBodyBytes != enqueue.DefaultMaxBodyBytes || d.MaxNumbers != enqueue.DefaultMaxNumbers || d.Logger == nil {
		t.Fatalf("defaults %+v", d)
	}
	if kept := (enqueue.APIOptions{MaxNumbers: 7}).WithDefaults(); kept.MaxNumbers != 7 {
		t.Fatalf("a set limit became %d", kept.MaxNumbers)
	}
	tests := []struct {
		name string
		o    enqueue.APIOptions
		want string
	}{
		{"zero", enqueue.APIOptions{}, ""},
		{"positive", enqueue.APIOptions{MaxBodyBytes: 10, MaxNumbers: 1}, ""},
		{"negative body", enqueue.APIOptions{MaxBodyBytes: -1}, "--max-body-bytes"},
		{"negative count", enqueue.APIOptions{MaxNumbers: -5}, "--max-numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.o.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

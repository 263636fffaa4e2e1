package main

import "testing"

// TestOpsPortFallbackOnlyForTheDefault: the worker and the demo fall back to
// a free port only when --listen was left at its default; an address given
// on the command line or in WDTCANCEL_LISTEN is the operator's choice.
func TestOpsPortFallbackOnlyForTheDefault(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"worker"}, "", "127.0.0.1:0"},
		{[]string{"worker", "--listen", "127.0.0.1:8080"}, "", ""},
		{[]string{"worker"}, "127.0.0.1:8080", ""},
		{[]string{"demo"}, "", "127.0.0.1:0"},
		{[]string{"demo", "--listen", "127.0.0.1:9000"}, "", ""},
	} {
		t.Run(tt.env+" "+tt.args[len(tt.args)-1], func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("WDTCANCEL_LISTEN", tt.env)
			}
			flags, err := envFlagValues(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := opsListenFallback(flags["listen"]); got != tt.want {
				t.Fatalf("fallback %q, want %q", got, tt.want)
			}
		})
	}
}

package main

import (
	"context"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestEventsLsBeforeAnyEvent: a queue whose stream has no event yet (no
// worker finished a task of it) lists nothing and says so, exit 0; Redis
// answers "ERR no such key" to the consumer-group read, which is not a
// failure.
func TestEventsLsBeforeAnyEvent(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"base queue", []string{"events", "ls"}, "no events yet in wdtcancel:{wdt-cancel}:events"},
		{"a seller's queue", []string{"events", "ls", "--seller", "shop-7"}, "no events yet in wdtcancel:{wdt-cancel:shop-7}:events"},
		{"json", []string{"events", "ls", "--json"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCmd(t, context.Background(), "", append(tc.args, "--redis-url", r.URL())...)
			if code != exitOK || errOut != "" {
				t.Fatalf("exit %d, want 0; out %q err %q", code, out, errOut)
			}
			if tc.want == "" && out != "" || !strings.Contains(out, tc.want) {
				t.Fatalf("out %q, want %q", out, tc.want)
			}
		})
	}
}

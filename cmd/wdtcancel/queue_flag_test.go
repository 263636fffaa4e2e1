package main

import (
	"context"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestQueueWithASellerIsRefused: `--queue wdt-cancel:s2` is how an
// operator might try to reach seller s2 before reading about --seller; it
// would make queues (wdt-cancel:s2:acme) that no worker maps back, or put
// the default seller's tasks in s2's queue. Every command refuses it and
// says what to give instead. Found by the independent tester.
func TestQueueWithASellerIsRefused(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	ctx := context.Background()
	for _, args := range [][]string{
		{"enqueue", "RK1"},
		{"status", "RK1"},
		{"dlq", "ls"},
		{"retry", "--held"},
	} {
		all := append(args, "--queue", "wdt-cancel:s2", "--redis-url", r.URL())
		_, errOut, code := runCmd(t, ctx, "", all...)
		if code != exitUsage || !strings.Contains(errOut, "--queue wdt-cancel --seller s2") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming --seller", args, code, errOut, exitUsage)
		}
	}
}

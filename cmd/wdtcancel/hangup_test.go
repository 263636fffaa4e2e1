package main

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestHangup: SIGHUP never kills a serving command (Go's default would, and
// operators send it expecting a reload): it says that settings are read at
// start and goes on. A one-shot command stops as on Ctrl-C. Not parallel:
// the signal goes to the whole test process.
func TestHangup(t *testing.T) {
	for _, cmd := range []string{"worker", "api", "sandbox"} {
		var stderr testkit.SyncBuffer
		ctx, stop := onHangup(context.Background(), []string{cmd}, &stderr)
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if !testkit.Poll(func() bool { return strings.Contains(stderr.String(), "SIGHUP ignored") }) {
			t.Fatalf("%s: nothing said about SIGHUP: %q", cmd, stderr.String())
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: SIGHUP stopped the command", cmd)
		}
		if !strings.Contains(stderr.String(), "restart the process") {
			t.Fatalf("%s: the message does not say what to do: %q", cmd, stderr.String())
		}
		stop()
	}
	ctx, stop := onHangup(context.Background(), []string{"enqueue", "--file", "-"}, &testkit.SyncBuffer{})
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.Recv(t, ctx.Done(), "enqueue to stop on SIGHUP")
}

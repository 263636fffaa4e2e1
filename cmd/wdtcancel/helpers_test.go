package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// runCmd runs the CLI in-process with args, returning stdout, stderr and the
// exit code the binary would return.
func runCmd(t *testing.T, ctx context.Context, stdin string, args ...string) (string, string, int) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	code := exitCode(root.ExecuteContext(ctx), &errb)
	return out.String(), errb.String(), code
}

func freeAddr(t *testing.T) string { return testkit.FreeAddr(t) }

func waitListening(t *testing.T, addr string) { testkit.WaitListening(t, addr) }

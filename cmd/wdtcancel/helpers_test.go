package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
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

// logLine is one JSON log line a command wrote to stderr.
type logLine map[string]any

// exitedKey marks the event a background command's exit adds to its log
// lines, so a wait for a line that will never come ends at once.
const exitedKey = "(exited with code)"

// cmdOutput is what a command wrote to one stream: all of it, and each JSON
// line as an event to wait on. It is safe for concurrent use.
type cmdOutput struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	lines   *testkit.Log[logLine]
}

func newCmdOutput() *cmdOutput { return &cmdOutput{lines: testkit.NewLog[logLine]()} }

func (o *cmdOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all.Write(p)
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		var l logLine
		if json.Unmarshal(o.partial[:i], &l) == nil {
			o.lines.Add(l)
		}
		o.partial = o.partial[i+1:]
	}
	return len(p), nil
}

func (o *cmdOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.all.String()
}

// cmdRun is a command running in-process in the background, as a
// long-running subcommand (worker, api, sandbox) runs under a supervisor.
type cmdRun struct {
	args   []string
	stderr *cmdOutput
	cancel context.CancelFunc
	exited chan struct{}
	code   int
}

// startCmd runs the CLI with args in the background; the test's cleanup
// stops it if the test did not.
func startCmd(t *testing.T, args ...string) *cmdRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &cmdRun{args: args, stderr: newCmdOutput(), cancel: cancel, exited: make(chan struct{})}
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(io.Discard)
	root.SetErr(r.stderr)
	root.SetIn(strings.NewReader(""))
	go func() {
		r.code = exitCode(root.ExecuteContext(ctx), r.stderr)
		r.stderr.lines.Add(logLine{exitedKey: r.code})
		close(r.exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.exited
	})
	return r
}

// logged waits for the command's log line with message msg and returns it;
// it fails the test at once if the command exits first.
func (r *cmdRun) logged(t *testing.T, msg string) logLine {
	t.Helper()
	l := r.stderr.lines.Wait(t, fmt.Sprintf("%q to log %q", r.args[0], msg), 1, func(l logLine) bool {
		return l["msg"] == msg || l[exitedKey] != nil
	})[0]
	if l[exitedKey] != nil {
		t.Fatalf("%v exited with code %v before logging %q; stderr:\n%s", r.args, l[exitedKey], msg, r.stderr)
	}
	return l
}

// loggedFor waits for the command's log line with message msg about the
// order no (its pre_stockin_no field).
func (r *cmdRun) loggedFor(t *testing.T, msg, no string) logLine {
	t.Helper()
	return r.stderr.lines.Wait(t, fmt.Sprintf("%q to log %q for %s", r.args[0], msg, no), 1, func(l logLine) bool {
		return l["msg"] == msg && l["pre_stockin_no"] == no
	})[0]
}

// stop ends the command as SIGTERM does and returns its exit code once it
// has exited.
func (r *cmdRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	testkit.Recv(t, r.exited, fmt.Sprintf("%v to exit", r.args))
	return r.code
}

// listenAddr is the address a server logged it listens on, from the field
// that carries it (a URL's host, or a bare host:port).
func listenAddr(t *testing.T, l logLine, field string) string {
	t.Helper()
	v, _ := l[field].(string)
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		return u.Host
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		t.Fatalf("log line %v: %s is not an address", l, field)
	}
	return v
}

package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the Go package pkg (a path relative to the test's
// directory, e.g. "." or "../../cmd/wdtcancel") into dir as a static binary
// and returns its path. It takes no testing.TB so that TestMain can build
// once for a whole package.
func Build(dir, pkg string) (string, error) {
	bin := filepath.Join(dir, "wdtcancel")
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// SyncBuffer is a bytes.Buffer safe for a process writing while a test
// reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Proc is a process a test started.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Out  *SyncBuffer // stdout and stderr, interleaved as written
	done chan struct{}
	err  error
}

// Start starts bin with args, env added to the test's own environment,
// stdout and stderr captured in Out. When the test ends the process is
// killed if still running, and, if the test failed, the end of its output
// is logged.
func Start(t testing.TB, name, bin string, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &Proc{Name: name, Cmd: cmd, Out: &SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s (pid %d) output ends:\n%s", name, cmd.Process.Pid, tail(p.Out.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process exited (nil for exit code 0); valid once Done.
func (p *Proc) Err() error { return p.err }

// ExitCode is the process's exit code, -1 while it runs or when a signal
// ended it.
func (p *Proc) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) { p.Cmd.Process.Signal(sig) }

// Kill kills the process, if it still runs, and waits for it to exit.
func (p *Proc) Kill() {
	if !p.Exited() {
		p.Cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// Wait waits up to within for the process to exit; exited is false if it
// still runs, err is how it exited.
func (p *Proc) Wait(within time.Duration) (exited bool, err error) {
	select {
	case <-p.done:
		return true, p.err
	case <-time.After(within):
		return false, nil
	}
}

// Result is a finished command: what it printed and its exit code.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Output is everything the command printed, stdout then stderr.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// Run runs bin with args to completion, env added to the test's own
// environment, stdin as its input. It fails the test only when the command
// cannot run; a non-zero exit is in Result.Code.
func Run(t testing.TB, bin string, env []string, stdin string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s %s: %v", bin, strings.Join(args, " "), err)
	}
	return r
}

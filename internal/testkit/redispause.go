package testkit

import (
	"errors"
	"syscall"
	"testing"
)

// Pause stops a real server with SIGSTOP: its connections stay open and
// new ones are accepted by the kernel, but nothing answers (a Redis that
// stalls: swapping, a long fork, a frozen VM). The test's cleanup resumes
// it before it is closed; Resume does it sooner. An embedded Redis cannot
// pause: the test is skipped unless a real server is required.
func (r *Redis) Pause(t testing.TB) {
	t.Helper()
	if r.mini != nil {
		if RealRequired() {
			t.Fatal("an embedded redis cannot pause, and a real redis-server is required")
		}
		t.Skip("needs a real redis-server to pause (SIGSTOP)")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.stopped {
		t.Fatal("Pause: the redis-server is not running")
	}
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	t.Cleanup(func() { r.Resume() })
}

// Resume continues a paused server (SIGCONT); a running one is unchanged.
func (r *Redis) Resume() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.stopped {
		return errors.New("resume: the redis-server is not running")
	}
	return r.cmd.Process.Signal(syscall.SIGCONT)
}

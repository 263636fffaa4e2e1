package redisserver

import (
	"os"
	"os/exec"
	"testing"
)

func TestStartAnswersPing(t *testing.T) {
	r := startForTest(t, Options{})
	if err := Ping(r.Addr); err != nil {
		t.Fatal(err)
	}
	_, lookErr := exec.LookPath("redis-server")
	if r.Real != (lookErr == nil) {
		t.Fatalf("real=%v but redis-server on PATH: %v", r.Real, lookErr == nil)
	}
	if RealRequired() && !r.Real {
		t.Fatal("fallback used although it is forbidden")
	}
}

func TestEmbedded(t *testing.T) {
	r := startForTest(t, Options{Embedded: true})
	if r.Real || Ping(r.Addr) != nil {
		t.Fatalf("embedded redis not answering: %+v", r)
	}
}

// TestCloseRemovesData checks that a real server's data dir is gone after
// Close: the bench starts one per run and must leave nothing behind.
func TestCloseRemovesData(t *testing.T) {
	r, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Real {
		r.Close()
		t.Skip("a data dir needs a real redis-server")
	}
	r.Close()
	if Ping(r.Addr) == nil {
		t.Fatal("still answering after Close")
	}
	if _, err := os.Stat(r.dir); !os.IsNotExist(err) {
		t.Fatalf("data dir %s after Close: %v", r.dir, err)
	}
}

// startForTest starts a Redis stopped when the test ends (testkit cannot
// be used here: it imports this package).
func startForTest(t *testing.T, opts Options) *Redis {
	t.Helper()
	r, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

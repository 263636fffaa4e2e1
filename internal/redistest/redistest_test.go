package redistest

import (
	"os/exec"
	"testing"
)

func TestStartAnswersPing(t *testing.T) {
	r := New(t)
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

func TestRestartKeepsPort(t *testing.T) {
	r := New(t)
	if !r.Real {
		t.Skip("restart needs a real redis-server")
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if Ping(r.Addr) == nil {
		t.Fatal("still answering after Stop")
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := Ping(r.Addr); err != nil {
		t.Fatal(err)
	}
}

func TestEmbedded(t *testing.T) {
	r := NewWith(t, Options{Embedded: true})
	if r.Real || Ping(r.Addr) != nil {
		t.Fatalf("embedded redis not answering: %+v", r)
	}
}

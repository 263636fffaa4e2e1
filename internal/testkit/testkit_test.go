package testkit

import (
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLeaks(t *testing.T) {
	tests := []struct {
		text      string
		forbidden []string
		want      []string
	}{
		{"all clean", []string{"Sec", "Salt"}, nil},
		{"x Sec y Salt", []string{"Sec", "Salt", "sign="}, []string{"Sec", "Salt"}},
		{"a sign=abc", []string{"Sec", "sign="}, []string{"sign="}},
		{"anything", []string{""}, nil},
	}
	for _, tt := range tests {
		if got := Leaks(tt.text, tt.forbidden...); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Leaks(%q, %q) = %q, want %q", tt.text, tt.forbidden, got, tt.want)
		}
	}
	if !NoLeaks(t, "clean text", "nothing here", "Sec") {
		t.Fatal("clean text reported as a leak")
	}
}

func TestRun(t *testing.T) {
	r := Run(t, "/bin/sh", []string{"TESTKIT_X=42"}, "in", "-c", `read l; echo "$l $TESTKIT_X"; echo err >&2; exit 3`)
	if r.Stdout != "in 42\n" || r.Stderr != "err\n" || r.Code != 3 || r.Output() != "in 42\nerr\n" {
		t.Fatalf("%+v", r)
	}
}

func TestProc(t *testing.T) {
	p := Start(t, "sleeper", "/bin/sh", nil, "-c", "echo started; exec sleep 30")
	if exited, _ := p.Wait(100 * time.Millisecond); exited || p.Exited() || p.ExitCode() != -1 {
		t.Fatal("exited early")
	}
	p.Signal(syscall.SIGTERM)
	if exited, err := p.Wait(10 * time.Second); !exited || err == nil {
		t.Fatalf("exited %v, err %v", exited, err)
	}
	if !strings.Contains(p.Out.String(), "started") {
		t.Fatalf("output %q", p.Out.String())
	}
	q := Start(t, "quick", "/bin/sh", nil, "-c", "exit 2")
	<-q.Done()
	if q.ExitCode() != 2 || q.Err() == nil {
		t.Fatalf("exit %d %v", q.ExitCode(), q.Err())
	}
}

func TestNet(t *testing.T) {
	addr := FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	WaitListening(t, addr)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		w.Write([]byte(`{"a":1}`))
	}))
	defer srv.Close()
	var v struct{ A int }
	if code, b := GetJSON(t, srv.URL, &v); code != 201 || v.A != 1 || string(b) != `{"a":1}` {
		t.Fatalf("%d %s %+v", code, b, v)
	}
}

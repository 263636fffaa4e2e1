package httpserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// failsafe bounds every wait of these tests. It never decides an outcome:
// hitting it fails the test.
const failsafe = 20 * time.Second

func serve(t *testing.T, ln net.Listener, srv *http.Server) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), failsafe)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

// waitClosed reads until the server closes conn and fails if the failsafe
// deadline, not the server, ended the read.
func waitClosed(t *testing.T, conn net.Conn, r io.Reader) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(failsafe))
	_, err := io.Copy(io.Discard, r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("server kept the connection open for %v", failsafe)
	}
}

func TestDefaultsAreBounded(t *testing.T) {
	srv := New(http.NotFoundHandler(), Options{})
	if srv.ReadHeaderTimeout != DefaultReadHeaderTimeout || srv.ReadTimeout != DefaultReadTimeout ||
		srv.WriteTimeout != DefaultWriteTimeout || srv.IdleTimeout != DefaultIdleTimeout || srv.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Fatalf("defaults not applied: %+v", srv)
	}
	srv = New(http.NotFoundHandler(), Options{ReadHeaderTimeout: time.Second, IdleTimeout: 2 * time.Second})
	if srv.ReadHeaderTimeout != time.Second || srv.IdleTimeout != 2*time.Second || srv.ReadTimeout != DefaultReadTimeout {
		t.Fatalf("options not kept: %+v", srv)
	}
	ln, err := Listen("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := ln.(*limitListener); !ok || cap(l.sem) != DefaultMaxConns {
		t.Fatalf("default listener %T not capped at %d", ln, DefaultMaxConns)
	}
	ln.Close()
	ln, err = Listen("127.0.0.1:0", Options{MaxConns: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ln.(*limitListener); ok {
		t.Fatal("MaxConns -1 still capped")
	}
	ln.Close()
}

func TestSilentConnectionClosedByReadHeaderTimeout(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, New(http.HandlerFunc(ok), Options{ReadHeaderTimeout: 100 * time.Millisecond}))
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitClosed(t, conn, conn)
}

func TestIdleKeepAliveClosedByIdleTimeout(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, New(http.HandlerFunc(ok), Options{IdleTimeout: 100 * time.Millisecond}))
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first request: %d close=%v", resp.StatusCode, resp.Close)
	}
	waitClosed(t, conn, br)
}

func TestSlowBodyClosedByReadTimeout(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	serve(t, ln, New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}), Options{ReadTimeout: 200 * time.Millisecond}))
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a part")
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("a body that never came was read without error")
		}
	case <-time.After(failsafe):
		t.Fatal("handler still reading the body")
	}
	waitClosed(t, conn, conn)
}

func TestHeaderTooLarge(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, New(http.HandlerFunc(ok), Options{MaxHeaderBytes: 1 << 10}))
	req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestConnectionCapQueues holds the cap's two connections open, checks the
// listener then waits instead of accepting a third, and that the third is
// served as soon as one of the two closes.
func TestConnectionCapQueues(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(inner, 2).(*limitListener)
	waiting := make(chan struct{}, 16)
	ln.onWait = func() { waiting <- struct{}{} }
	accepted := make(chan net.Conn, 16)
	srv := New(http.HandlerFunc(ok), Options{ReadHeaderTimeout: time.Minute})
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted <- c
		}
	}
	serve(t, ln, srv)
	addr := ln.Addr().String()

	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
		select {
		case <-accepted:
		case <-time.After(failsafe):
			t.Fatalf("connection %d not accepted", i+1)
		}
	}
	select {
	case <-waiting:
	case <-time.After(failsafe):
		t.Fatal("listener did not wait for a free slot")
	}

	third, err := net.Dial("tcp", addr) // completes in the kernel's backlog
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	io.WriteString(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if n := len(accepted); n != 0 {
		t.Fatalf("%d connections accepted above the cap", n)
	}

	held[0].Close()
	third.SetReadDeadline(time.Now().Add(failsafe))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatalf("third connection not served after a slot freed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestCloseUnblocksWaitingAccept: shutting down a server whose listener is
// full and waiting must not hang.
func TestCloseUnblocksWaitingAccept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(inner, 1).(*limitListener)
	waiting := make(chan struct{}, 4)
	ln.onWait = func() { waiting <- struct{}{} }
	srv := New(http.HandlerFunc(ok), Options{ReadHeaderTimeout: time.Minute})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-waiting:
	case <-time.After(failsafe):
		t.Fatal("listener did not wait for a free slot")
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(failsafe):
		t.Fatal("Serve still blocked after Close")
	}
}

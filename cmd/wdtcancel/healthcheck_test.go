package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestHealthcheckExitCodes: 0 only for a 200, 1 for any other answer or
// none (Docker's "unhealthy"), 2 for a usage error, and the reason printed.
func TestHealthcheckExitCodes(t *testing.T) {
	t.Parallel()
	ops := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			rw.WriteHeader(http.StatusServiceUnavailable)
			rw.Write([]byte(`{"ready":false,"checks":[{"name":"redis","ok":false,"detail":"connection refused"}]}`))
		case "/healthz":
			rw.Write([]byte(`{"status":"ok"}`))
		case "/moved", "/found", "/temporary":
			// An outside tester: a 302 to another 200 page gave exit 0.
			code := map[string]int{"/moved": 301, "/found": 302, "/temporary": 307}[r.URL.Path]
			http.Redirect(rw, r, "/healthz", code)
		default:
			http.NotFound(rw, r)
		}
	}))
	t.Cleanup(ops.Close)
	_, port, _ := net.SplitHostPort(ops.Listener.Addr().String())

	// A listener that accepts and never answers: a hung worker.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		hung.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	refused := freeAddr(t) // nothing listens there

	cases := []struct {
		name   string
		args   []string
		code   int
		out    string // in stdout
		errOut string // in stderr
	}{
		{"healthz ok", []string{"--listen", ops.Listener.Addr().String(), "--path", "/healthz"}, 0, "200 OK", ""},
		{"all interfaces asked on loopback", []string{"--listen", "0.0.0.0:" + port, "--path", "/healthz"}, 0, "http://127.0.0.1:" + port + "/healthz", ""},
		{"empty host asked on loopback", []string{"--listen", ":" + port, "--path", "/healthz"}, 0, "200 OK", ""},
		{"url", []string{"--url", ops.URL + "/healthz"}, 0, "200 OK", ""},
		{"not ready", []string{"--listen", ops.Listener.Addr().String()}, 1, "", `503 Service Unavailable: {"ready":false`},
		{"not found", []string{"--url", ops.URL + "/nope"}, 1, "", "404 Not Found"},
		{"301 not followed", []string{"--url", ops.URL + "/moved"}, 1, "", "301 Moved Permanently, a redirect to /healthz"},
		{"302 not followed", []string{"--listen", ops.Listener.Addr().String(), "--path", "/found"}, 1, "", "302 Found, a redirect to /healthz"},
		{"307 not followed", []string{"--url", ops.URL + "/temporary"}, 1, "", "not followed"},
		{"hung", []string{"--listen", hung.Addr().String(), "--timeout", "200ms"}, 1, "", "no answer within 200ms"},
		{"refused", []string{"--listen", refused}, 1, "", "connection refused: is the worker running"},
		{"ops disabled", []string{"--listen", ""}, 2, "", "ops port is disabled"},
		{"bad listen", []string{"--listen", "8080"}, 2, "", "want host:port"},
		{"bad url", []string{"--url", "127.0.0.1:8080/readyz"}, 2, "", "want an http:// or https:// URL"},
		{"bad path", []string{"--listen", ops.Listener.Addr().String(), "--path", "readyz"}, 2, "", "want a path"},
		{"zero timeout", []string{"--timeout", "0s"}, 2, "", "--timeout must be positive"},
		{"argument", []string{"extra"}, 2, "", "unknown command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := runCmd(t, context.Background(), "", append([]string{"healthcheck"}, c.args...)...)
			if code != c.code || !strings.Contains(out, c.out) || !strings.Contains(errOut, c.errOut) {
				t.Errorf("healthcheck %q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					c.args, code, out, errOut, c.code, c.out, c.errOut)
			}
		})
	}
}

// TestHealthcheckAgainstWorker asks a real worker, found through
// WDTCANCEL_LISTEN as a container's HEALTHCHECK would.
func TestHealthcheckAgainstWorker(t *testing.T) {
	r := testkit.NewRedis(t)
	sb, err := sandbox.NewServer(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	wk := startCmd(t, "worker", "--listen", "127.0.0.1:0", "--wdt-url", sb.APIURL(),
		"--sid", "sandbox", "--appkey", "sandbox", "--appsecret", "sandbox:sandbox", "--redis-url", r.URL())
	ops := listenAddr(t, wk.logged(t, "worker started"), "ops")
	t.Setenv("WDTCANCEL_LISTEN", ops)
	out, errOut, code := runCmd(t, context.Background(), "", "healthcheck")
	if code != 0 || !strings.Contains(out, "http://"+ops+"/readyz: 200 OK") {
		t.Fatalf("healthcheck against a ready worker: exit %d, %q %q", code, out, errOut)
	}
	wk.stop(t)
	if _, errOut, code := runCmd(t, context.Background(), "", "healthcheck"); code != 1 || !strings.Contains(errOut, "is the worker running") {
		t.Errorf("healthcheck after the worker stopped: exit %d, %q", code, errOut)
	}
}

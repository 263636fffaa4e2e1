package testkit

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FreeAddr returns a loopback address with a port free a moment ago, for a
// process that takes its listen address as a flag.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WaitListening waits up to 15 s until addr accepts connections.
func WaitListening(t testing.TB, addr string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listening on %s", addr)
}

// client bounds every request, so a hung server fails the test instead of
// hanging it.
var client = &http.Client{Timeout: 30 * time.Second}

// Get fetches url and returns the status code and the body. It fails the
// test when no answer arrives.
func Get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b
}

// GetJSON is Get that decodes the body into into (unless nil), failing the
// test when it is not JSON.
func GetJSON(t testing.TB, url string, into any) (int, []byte) {
	t.Helper()
	code, b := Get(t, url)
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("GET %s: %d, not JSON (%v): %.300q", url, code, err, b)
		}
	}
	return code, b
}

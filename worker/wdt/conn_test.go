package wdt_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// rawAnswer is one HTTP/1.1 response, framed by Content-Length so that a
// keep-alive client would read the next one off the same connection.
func rawAnswer(code int, body string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}

// ownAnswer is what the misbehaving server answers a call about no: a
// rejection that names the number, so a call can tell its own answer from
// any other. WDT's real answers name nothing, which is the whole problem.
func ownAnswer(no string) []byte {
	return rawAnswer(200, fmt.Sprintf(`{"status":100,"message":"answer for %s"}`, no))
}

// lateSuccess is the answer that must never reach the wrong call: the
// status 0 a gateway delivers late or uninvited.
var lateSuccess = rawAnswer(200, `{"status":0}`)

// connScript decides what the server writes for one request: n counts the
// requests the server has read (from 1, over every connection), pending is
// what this connection still owes (a late or extra answer) and is written
// first when the next request arrives on it. A connection's goroutine owns
// its pending.
type connScript func(n int64, no string, pending *[]byte) []byte

// desyncScript: every odd request is answered 504 at once by a "gateway"
// that then delivers the real (late) answer, a status 0, on the same
// connection when the next request arrives there; an even request on a
// connection owing nothing gets its own answer.
func desyncScript(n int64, no string, pending *[]byte) []byte {
	if *pending != nil {
		out := *pending
		*pending = nil
		return out // the late answer, in the place of this request's own
	}
	if n%2 == 1 {
		*pending = lateSuccess
		return rawAnswer(504, `<html><body>504 Gateway Time-out</body></html>`)
	}
	return ownAnswer(no)
}

// extraScript: every request gets its own answer, followed by an
// unsolicited extra 200 {"status":0}. The extra goes out when the next
// request arrives on the connection, just before that request's own answer:
// a byte stream a keep-alive client cannot tell from a reply to its request
// (written at once, Go's transport would often see it on the idle
// connection, log "Unsolicited response" and close it; often is not always).
func extraScript(_ int64, no string, pending *[]byte) []byte {
	out := append(*pending, ownAnswer(no)...)
	*pending = lateSuccess
	return out
}

// rawServer is a bare TCP listener that speaks just enough HTTP/1.1 to
// misbehave as script says: httptest's server cannot write two answers to
// one request. It counts the connections it accepted.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int64
	reqs  atomic.Int64
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  map[net.Conn]bool
}

func newRawServer(t *testing.T, script connScript) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, open: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open[conn] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer conn.Close()
				s.serve(conn, script)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// serve reads requests off one connection until the client closes it. It
// ignores Connection: close on purpose: a misbehaving gateway may, and only
// the client closing its end must be what protects it.
func (s *rawServer) serve(conn net.Conn, script connScript) {
	br := bufio.NewReader(conn)
	var pending []byte
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		var args []string
		no := "?"
		if json.Unmarshal(body, &args) == nil && len(args) == 1 {
			no = args[0]
		}
		if _, err := conn.Write(script(s.reqs.Add(1), no, &pending)); err != nil {
			return
		}
	}
}

// One call, one connection: behind a gateway that delivers a late answer
// after its own 504, or an extra unsolicited answer, on the same
// connection, no call reads an answer meant for another. The server's
// answers name the order (WDT's do not), so a call that read anything but
// its own answer or the 504 shows up; the calls are sequential, so a
// keep-alive client would reuse the connection for every one of them (the
// control row proves the check catches it).
func TestOneCallOneConnection(t *testing.T) {
	keepAlive := func() *http.Client { return &http.Client{Transport: &http.Transport{}} }
	tests := []struct {
		name    string
		script  connScript
		opts    func() []wdt.Option
		control bool // reuses connections: must be caught
	}{
		{"late answer after 504, default client", desyncScript, func() []wdt.Option { return nil }, false},
		{"late answer after 504, caller's keep-alive client", desyncScript, func() []wdt.Option { return []wdt.Option{wdt.WithHTTPClient(keepAlive())} }, false},
		{"late answer after 504, NewHTTPClient", desyncScript, func() []wdt.Option { return []wdt.Option{wdt.WithHTTPClient(wdt.NewHTTPClient())} }, false},
		{"late answer after 504, deprecated connection close", desyncScript, func() []wdt.Option { return []wdt.Option{wdt.WithConnectionClose()} }, false},
		{"extra answer, default client", extraScript, func() []wdt.Option { return nil }, false},
		{"extra answer, caller's keep-alive client", extraScript, func() []wdt.Option { return []wdt.Option{wdt.WithHTTPClient(keepAlive())} }, false},
		{"control: late answer after 504, connection reuse", desyncScript, func() []wdt.Option {
			return []wdt.Option{wdt.WithConnectionReuse(), wdt.WithHTTPClient(wdt.NewKeepAliveHTTPClient())}
		}, true},
		{"control: extra answer, connection reuse", extraScript, func() []wdt.Option { return []wdt.Option{wdt.WithConnectionReuse()} }, true},
	}
	const calls = 8
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, tt.script)
			c := newClient(t, "http://"+srv.ln.Addr().String()+"/openapi", tt.opts()...)
			var wrong []string
			for i := 1; i <= calls; i++ {
				no := fmt.Sprintf("R%d", i)
				err := c.CancelPreStockin(context.Background(), no)
				switch cat := wdt.CategoryOf(err); {
				case cat == wdt.UnknownOutcome:
					// The gateway's own 504: the call may have been applied.
				case cat == wdt.Rejected && err.(*wdt.Error).Message == "answer for "+no:
					// Its own answer.
				default:
					wrong = append(wrong, fmt.Sprintf("%s read %s (%v)", no, cat, err))
				}
			}
			if tt.control {
				if len(wrong) == 0 {
					t.Fatalf("control: a client reusing connections read only its own answers over %d connections; the check proves nothing", srv.conns.Load())
				}
				return
			}
			if len(wrong) > 0 {
				t.Fatalf("calls read answers that were not theirs: %v", wrong)
			}
			if got := srv.conns.Load(); got != calls {
				t.Fatalf("%d calls went over %d connections, want one each", calls, got)
			}
		})
	}
}

// A keep-alive caller's client is left as it was: the Client uses a copy
// whose transport never keeps a connection alive.
func TestWithHTTPClientKeepsCallersTransport(t *testing.T) {
	tr := &http.Transport{}
	caller := &http.Client{Transport: tr}
	newClient(t, wdt.TestURL, wdt.WithHTTPClient(caller))
	if caller.Transport != tr || tr.DisableKeepAlives {
		t.Fatal("New changed the caller's http.Client or its transport")
	}
	if !wdt.DefaultHTTPClient().Transport.(*http.Transport).DisableKeepAlives || !wdt.NewHTTPClient().Transport.(*http.Transport).DisableKeepAlives {
		t.Fatal("the default HTTP clients keep connections alive")
	}
	if wdt.NewKeepAliveHTTPClient().Transport.(*http.Transport).DisableKeepAlives {
		t.Fatal("NewKeepAliveHTTPClient does not keep connections alive")
	}
}

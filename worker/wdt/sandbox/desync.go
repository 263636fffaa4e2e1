package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// LateAnswerWait is how long a desynced connection waits for the client's
// next request before it writes the answer it still owes anyway, as an
// unsolicited response on an idle connection, and closes. A client that
// closes the connection after each answer (wdtcancel's default) never sends
// one: the owed answer then has nowhere to go.
const LateAnswerWait = 2 * time.Second

// desyncWriteTimeout bounds each write on a desynced connection, so a
// client that stops reading cannot hold its goroutine.
const desyncWriteTimeout = 10 * time.Second

// Fault names in Stats.ByFault of the two keep-alive faults (Faults.DesyncRate,
// Faults.ExtraAnswerRate) and of their effect.
const (
	FaultDesync      = "desync"
	FaultExtraAnswer = "extra_answer"
	// FaultMisplacedAnswer counts answers a desynced connection delivered
	// as the reply to a later request: each one is a call that read an
	// answer meant for another (or for none), so a client that keeps
	// connections alive behind such a gateway shows up here.
	FaultMisplacedAnswer = "misplaced_answer"
)

var (
	desyncAnswer = canned{FaultDesync, http.StatusGatewayTimeout, ctypeHTML, nginx504Page}
	extraAnswer  = canned{FaultExtraAnswer, http.StatusOK, ctypeJSON, `{"status":0}`}
)

// shiftedKey marks a request read off a desynced connection: serveAPI draws
// no fault for it and reports the order number it was about.
type shiftedKey struct{}

type shiftedCall struct{ no string }

// shiftedOf returns the mark of a request read off a desynced connection,
// or nil.
func shiftedOf(r *http.Request) *shiftedCall {
	sc, _ := r.Context().Value(shiftedKey{}).(*shiftedCall)
	return sc
}

// desync plays a gateway that puts the answers of one kept-alive connection
// out of step with its requests. WDT has processed the call already (the
// order changed if the call would change it); status and msg are its
// answer.
//
// kindDesync: the gateway gave up on the slow upstream and answered 504
// first; WDT's real answer is owed. kindExtra: WDT's answer goes out, and
// an unsolicited extra 200 {"status":0} is owed after it.
//
// From then on the connection is shifted by one: each request the client
// sends on it is answered with what the connection owes, and is then
// forwarded to WDT (no fault drawn) whose answer becomes the new debt. When
// the client sends nothing for LateAnswerWait, the debt goes out
// unsolicited and the connection closes; when the client closes it, the
// debt is never delivered. net/http's server cannot write two answers for
// one request, hence the hijack. In a multi-seller sandbox the connection
// stays with the seller whose call desynced it (wdtcancel never sends two
// sellers' calls on one connection).
func (s *Sandbox) desync(w http.ResponseWriter, f fault, status int, msg string) {
	real := jsonAnswer(status, msg)
	first, owed := desyncAnswer, real
	if f.kind == kindExtra {
		first, owed = real, extraAnswer
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		// No connection to misbehave on (HTTP/2): answer like a plain
		// garbled or correct answer.
		writeFault(w, nil, fault{kindGarbled, first})
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	if !s.conns.add(conn) {
		conn.Close()
		return
	}
	defer s.conns.done(conn)
	conn.SetWriteDeadline(time.Now().Add(desyncWriteTimeout))
	if _, err := conn.Write(s.rawAnswer(first)); err != nil {
		return
	}
	for {
		conn.SetReadDeadline(time.Now().Add(LateAnswerWait))
		req, err := http.ReadRequest(brw.Reader)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				conn.SetWriteDeadline(time.Now().Add(desyncWriteTimeout))
				conn.Write(s.rawAnswer(owed))
			}
			return
		}
		conn.SetReadDeadline(time.Time{})
		// The gateway hands over what it owes the moment a request comes:
		// the client takes it for this request's answer.
		conn.SetWriteDeadline(time.Now().Add(desyncWriteTimeout))
		if _, err := conn.Write(s.rawAnswer(owed)); err != nil {
			return
		}
		sc := &shiftedCall{}
		rec := &recorder{header: http.Header{}}
		s.mux.ServeHTTP(rec, req.WithContext(context.WithValue(req.Context(), shiftedKey{}, sc)))
		req.Body.Close()
		s.mu.Lock()
		s.stats.ByFault[FaultMisplacedAnswer]++
		if o, ok := s.orders[sc.no]; ok && sc.no != "" {
			// This call read another's answer: like a garbled one, the
			// caller cannot know what its own call did.
			o.garbled++
		}
		s.mu.Unlock()
		owed = canned{code: rec.code(), ctype: rec.header.Get("Content-Type"), body: rec.body.String()}
	}
}

// jsonAnswer is WDT's answer as writeAnswer writes it.
func jsonAnswer(status int, msg string) canned {
	rec := &recorder{header: http.Header{}}
	writeAnswer(rec, status, msg)
	return canned{code: rec.code(), ctype: rec.header.Get("Content-Type"), body: rec.body.String()}
}

// rawAnswer frames an answer as HTTP/1.1 with the sandbox's Date and a
// Content-Length, so a keep-alive client reads it and waits for more.
func (s *Sandbox) rawAnswer(a canned) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nDate: %s\r\n", a.code, http.StatusText(a.code), s.serverNow().UTC().Format(http.TimeFormat))
	if a.ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", a.ctype)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(a.body), a.body)
	return b.Bytes()
}

// recorder is the smallest http.ResponseWriter that keeps what a handler
// wrote, for the requests served on a desynced connection.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}
func (r *recorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// hijacked tracks the connections the sandbox took over from net/http, which
// no longer knows them: closing the server must close them too.
type hijacked struct {
	mu     sync.Mutex
	open   map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// add registers conn; false once closeAll has run.
func (h *hijacked) add(conn net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if h.open == nil {
		h.open = map[net.Conn]bool{}
	}
	h.open[conn] = true
	h.wg.Add(1)
	return true
}

// done closes conn and forgets it.
func (h *hijacked) done(conn net.Conn) {
	conn.Close()
	h.mu.Lock()
	delete(h.open, conn)
	h.mu.Unlock()
	h.wg.Done()
}

// closeAll closes every hijacked connection and waits for their goroutines.
func (h *hijacked) closeAll() {
	h.mu.Lock()
	h.closed = true
	for c := range h.open {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// Package httpserver builds every HTTP server wdtcancel runs (the ops port,
// the producer API, the sandbox) with bounded timeouts, header size and,
// where asked, a cap on connections open at once, so that idle or slow
// clients cannot hold connections, goroutines and file descriptors
// indefinitely. It is a leaf: it knows nothing of what the servers serve.
package httpserver

import (
	"cmp"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of Options. They are generous for the slowest legitimate
// answer (an asynqmon listing or a /metrics scrape over a large queue, a
// 10,000-number enqueue) and still bounded.
//
// DefaultIdleTimeout keeps an idle kept-alive connection for 30 s: long
// enough for a scraper or an ERP job's connection pool, short enough that
// a flood of idle connections cannot hold the connection cap for long.
// SandboxIdleTimeout is longer than the 90 s IdleConnTimeout of Go's default
// transport (and of the WDT client, which talks to the sandbox), so that
// such a client, not the server, closes an idle connection: a server
// closing one just as a POST goes out leaves the POST's outcome unknown to
// the client, and the sandbox must not invent unknown outcomes.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 2 * time.Minute
	DefaultIdleTimeout       = 30 * time.Second
	SandboxIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConns          = 1024
)

// Options bound a server. Zero fields take the defaults above (withDefaults,
// the one place); a negative timeout means none, as it does to net/http,
// and a negative MaxHeaderBytes is net/http's own 1 MB.
type Options struct {
	// ReadHeaderTimeout is how long a new or kept-alive connection may
	// take to send a request's headers; a client that sends nothing is
	// closed after it.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the
	// end of the answer.
	WriteTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection waits for the next
	// request.
	IdleTimeout    time.Duration
	MaxHeaderBytes int
	// MaxConns caps the connections Listen's listener holds open at once;
	// the next one waits in the kernel's backlog until one closes.
	// Negative means no cap. New ignores it.
	MaxConns int
}

func (o Options) withDefaults() Options {
	o.ReadHeaderTimeout = cmp.Or(o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	o.ReadTimeout = cmp.Or(o.ReadTimeout, DefaultReadTimeout)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, DefaultWriteTimeout)
	o.IdleTimeout = cmp.Or(o.IdleTimeout, DefaultIdleTimeout)
	o.MaxHeaderBytes = cmp.Or(o.MaxHeaderBytes, DefaultMaxHeaderBytes)
	o.MaxConns = cmp.Or(o.MaxConns, DefaultMaxConns) // negative: no cap
	return o
}

// New is an http.Server for h with o's timeouts and header limit.
func New(h http.Handler, o Options) *http.Server {
	o = o.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
	}
}

// Listen listens on the TCP address addr with o.MaxConns as its cap.
func Listen(addr string, o Options) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if n := o.withDefaults().MaxConns; n > 0 {
		return LimitListener(ln, n), nil
	}
	return ln, nil
}

// LimitListener returns a listener that holds at most n accepted
// connections open at once: Accept waits for one of them to close before
// it takes the next from the kernel's backlog. (The same idea as
// golang.org/x/net/netutil.LimitListener, which this module does not
// otherwise need.)
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// onWait, for tests, is called when Accept finds every slot taken.
	onWait func()
}

func (l *limitListener) acquire() bool {
	select {
	case l.sem <- struct{}{}:
		return true
	default:
	}
	if l.onWait != nil {
		l.onWait()
	}
	select {
	case <-l.done:
		return false
	case l.sem <- struct{}{}:
		return true
	}
}

func (l *limitListener) release() { <-l.sem }

func (l *limitListener) Accept() (net.Conn, error) {
	if !l.acquire() {
		// Closed while waiting: the inner Accept returns its closed error
		// at once, which http.Server understands.
		c, err := l.Listener.Accept()
		if err == nil {
			c.Close()
			err = net.ErrClosed
		}
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.release()
		return nil, err
	}
	return &limitConn{Conn: c, release: l.release}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitConn struct {
	net.Conn
	releaseOnce sync.Once
	release     func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.releaseOnce.Do(c.release)
	return err
}

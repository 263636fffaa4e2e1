package wdt

import (
	"net/http"
	"sync/atomic"
	"time"
)

// Clock tracks how far the WDT server's clock is from ours. WDT refuses a
// timestamp more than 120 s off its own, and servers running our worker are
// not always on NTP, so the client signs with local time plus the offset it
// last saw in a response's Date header.
type Clock struct {
	now    func() time.Time
	offset atomic.Int64 // nanoseconds, server minus local
}

// NewClock returns a clock with no offset. now is the local clock (time.Now
// when nil); tests pass a fake.
func NewClock(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Now is the local time corrected by the learned offset: the best guess of
// the server's clock.
func (c *Clock) Now() time.Time { return c.now().Add(c.Offset()) }

// Offset is the current estimate of server time minus local time.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// Observe learns the offset from a response's Date header, which has whole
// second resolution. The header was stamped between sending and receipt, so
// the midpoint of that window plus half a second is the best single estimate.
// It returns false when the header is missing or unparsable.
func (c *Clock) Observe(h http.Header, sent, received time.Time) bool {
	d := h.Get("Date")
	if d == "" {
		return false
	}
	server, err := http.ParseTime(d)
	if err != nil {
		return false
	}
	mid := sent.Add(received.Sub(sent) / 2)
	off := server.Add(500 * time.Millisecond).Sub(mid)
	// Round to the second: the header cannot tell us more, and a stable value
	// keeps the metric from flickering.
	off = off.Round(time.Second)
	c.offset.Store(int64(off))
	return true
}

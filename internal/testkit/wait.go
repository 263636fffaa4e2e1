package testkit

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Failsafe bounds every wait. Reaching it fails the test; on a healthy
// machine no wait comes near it.
const Failsafe = 30 * time.Second

// pollEvery is how often Until checks its condition.
const pollEvery = 10 * time.Millisecond

// Recv returns the next value from c, failing the test after Failsafe.
func Recv[T any](t testing.TB, c <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(Failsafe)
	defer timer.Stop()
	select {
	case v := <-c:
		return v
	case <-timer.C:
		t.Fatalf("timed out after %s waiting for %s", Failsafe, what)
		panic("unreachable")
	}
}

// Until polls cond until it holds, failing the test after Failsafe. Use it
// only for state that announces no event.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Poll(cond) {
		t.Fatalf("timed out after %s waiting for %s", Failsafe, what)
	}
}

// Poll is Until without the test: it reports false when Failsafe passed
// first, for callers that fail with details of their own.
func Poll(cond func() bool) bool { return PollWithin(Failsafe, cond) }

// PollWithin is Poll with a deadline of its own, for waits that take
// longer than Failsafe on a healthy machine (a failover, a Prometheus
// scrape) or that say how late is too late.
func PollWithin(within time.Duration, cond func() bool) bool {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout.C:
			return false
		}
	}
	return true
}

// Log keeps every event of one kind in the order it happened and wakes
// waiters as each arrives. A waiter looks at the whole history, so an event
// that happened before the wait began is not missed, and Add never blocks
// the code under test. The zero value is not usable; use NewLog.
type Log[T any] struct {
	mu     sync.Mutex
	all    []T
	notify chan struct{} // closed and replaced by every Add
}

// NewLog returns an empty log.
func NewLog[T any]() *Log[T] { return &Log[T]{notify: make(chan struct{})} }

// Add records an event. It is safe for concurrent use.
func (l *Log[T]) Add(v T) {
	l.mu.Lock()
	l.all = append(l.all, v)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

// matching returns the events match accepts, and a channel closed by the
// next Add.
func (l *Log[T]) matching(match func(T) bool) ([]T, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var got []T
	for _, v := range l.all {
		if match(v) {
			got = append(got, v)
		}
	}
	return got, l.notify
}

// Wait blocks until n events match and returns the first n, failing the
// test after Failsafe with every event seen.
func (l *Log[T]) Wait(t testing.TB, what string, n int, match func(T) bool) []T {
	t.Helper()
	return l.WaitWithin(t, Failsafe, what, n, match)
}

// WaitWithin is Wait with another failsafe, for a test that runs longer
// than Failsafe by design.
func (l *Log[T]) WaitWithin(t testing.TB, limit time.Duration, what string, n int, match func(T) bool) []T {
	t.Helper()
	timeout := time.NewTimer(limit)
	defer timeout.Stop()
	for {
		got, next := l.matching(match)
		if len(got) >= n {
			return got[:n]
		}
		select {
		case <-next:
		case <-timeout.C:
			t.Fatalf("timed out after %s waiting for %s (%d of %d seen); every event:\n%s", limit, what, len(got), n, l.Dump())
		}
	}
}

// Count is how many events match so far.
func (l *Log[T]) Count(match func(T) bool) int {
	got, _ := l.matching(match)
	return len(got)
}

// All returns every event so far.
func (l *Log[T]) All() []T {
	got, _ := l.matching(func(T) bool { return true })
	return got
}

// Dump lists every event, one a line, for failure messages.
func (l *Log[T]) Dump() string {
	var b strings.Builder
	for _, v := range l.All() {
		fmt.Fprintf(&b, "  %v\n", v)
	}
	return b.String()
}

package testkit_test

import (
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

func TestLogWaitSeesPastAndFutureEvents(t *testing.T) {
	t.Parallel()
	l := testkit.NewLog[int]()
	l.Add(1)
	l.Add(2)
	// Already happened: no wait.
	if got := l.Wait(t, "an even number", 1, func(v int) bool { return v%2 == 0 }); got[0] != 2 {
		t.Fatalf("got %v", got)
	}
	// Happens later, from another goroutine.
	go func() {
		for v := 3; v <= 10; v++ {
			l.Add(v)
		}
	}()
	got := l.Wait(t, "three numbers above 5", 3, func(v int) bool { return v > 5 })
	if len(got) != 3 || got[0] != 6 || got[1] != 7 || got[2] != 8 {
		t.Fatalf("got %v", got)
	}
	l.Wait(t, "ten events", 10, func(int) bool { return true })
	if n := l.Count(func(v int) bool { return v%2 == 1 }); n != 5 {
		t.Fatalf("%d odd numbers", n)
	}
	if d := l.Dump(); d == "" || len(l.All()) != 10 {
		t.Fatalf("dump %q, all %v", d, l.All())
	}
}

func TestRecvAndUntil(t *testing.T) {
	t.Parallel()
	c := make(chan string, 1)
	go func() { c <- "hello" }()
	if v := testkit.Recv(t, c, "a greeting"); v != "hello" {
		t.Fatalf("got %q", v)
	}
	n := 0
	testkit.Until(t, "the third look", func() bool { n++; return n == 3 })
	if !testkit.Poll(func() bool { return true }) {
		t.Fatal("Poll of a condition that holds")
	}
}

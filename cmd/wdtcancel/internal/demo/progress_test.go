package demo

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/logging"
)

// TestLogLinesDoNotTearTheProgressLine: with --log-level warn the worker's
// warnings were written after the half-drawn progress line
// ("[ 3.5s] pending 12 ...2026-11-28T... WARN ..."). Through LogWriter a log
// line starts on a cleared line and the progress line is drawn again after.
func TestLogLinesDoNotTearTheProgressLine(t *testing.T) {
	var term bytes.Buffer // stdout and stderr on one terminal
	p := NewProgress(&term, true)
	log, err := logging.New(logging.Options{Format: "console", Level: "warn", Output: p.LogWriter(&term)})
	if err != nil {
		t.Fatal(err)
	}
	p.Draw("[  1.0s] queued 3")
	log.Warn("retrying RK1")
	p.Draw("[  1.5s] queued 2")
	p.End()
	out := term.String()
	for _, seg := range strings.Split(out, clearLine) {
		before, after, ok := strings.Cut(seg, "WARN")
		if !ok {
			continue
		}
		if strings.Contains(before, "queued") {
			t.Fatalf("log line torn into the progress line: %q", out)
		}
		if _, redraw, _ := strings.Cut(after, "\n"); redraw != "[  1.0s] queued 3" {
			t.Fatalf("progress line not redrawn after the log line: %q", out)
		}
		return
	}
	t.Fatalf("no log line: %q", out)
}

// TestLiveLineAndSummaryUseTheSameWords: the live line said "done" and
// "dead" while the summary said "cancelled" and "dead-lettered". The last
// live line's counts now carry the summary's words and agree with it.
func TestLiveLineAndSummaryUseTheSameWords(t *testing.T) {
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{Orders: 30, Listen: "127.0.0.1:0", SandboxListen: "127.0.0.1:0", Seed: 3, ExitWhenDone: true, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var last string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "[") {
			last = l
		}
	}
	count := func(word string) int {
		m := regexp.MustCompile(`  ` + word + ` (\d+)`).FindStringSubmatch(last)
		if m == nil {
			t.Fatalf("live line %q lacks %q", last, word)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if got := count(wordCancelled); got != sum.Done {
		t.Errorf("live %s %d, summary %d", wordCancelled, got, sum.Done)
	}
	if got := count(wordDead); got != sum.Dead {
		t.Errorf("live %s %d, summary %d", wordDead, got, sum.Dead)
	}
	for _, want := range []string{"  " + wordCancelled + " (WDT answered 0)", "  " + wordDead + " "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

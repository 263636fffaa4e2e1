package demo

import (
	"fmt"
	"io"
	"sync"
)

// The words the live line and the summary share for the same counts.
const (
	wordCancelled = "cancelled"
	wordDead      = "dead-lettered"
)

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\x1b[K"

// Progress owns the line the demo redraws in place on a terminal. Log lines
// written through LogWriter clear it first and redraw it after, so a warning
// never lands in the middle of the progress line.
type Progress struct {
	mu          sync.Mutex
	out         io.Writer
	interactive bool
	line        string // drawn and not yet ended
}

// NewProgress draws on out; interactive redraws one line in place,
// otherwise every update is a line of its own.
func NewProgress(out io.Writer, interactive bool) *Progress {
	if out == nil {
		out = io.Discard
	}
	return &Progress{out: out, interactive: interactive}
}

// Draw shows line.
func (p *Progress) Draw(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.interactive {
		fmt.Fprintln(p.out, line)
		return
	}
	p.line = line
	fmt.Fprint(p.out, clearLine+line)
}

// End finishes the drawn line, if any, so what follows starts on a line of
// its own.
func (p *Progress) End() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line != "" {
		fmt.Fprintln(p.out)
		p.line = ""
	}
}

// LogWriter wraps the logger's output w.
func (p *Progress) LogWriter(w io.Writer) io.Writer { return logWriter{p, w} }

type logWriter struct {
	p *Progress
	w io.Writer
}

func (l logWriter) Write(b []byte) (int, error) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	if l.p.line != "" {
		fmt.Fprint(l.p.out, clearLine)
	}
	n, err := l.w.Write(b)
	if l.p.line != "" {
		fmt.Fprint(l.p.out, l.p.line)
	}
	return n, err
}

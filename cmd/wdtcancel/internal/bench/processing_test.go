package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

// TestProcessingInProcesses runs the processing phase end to end with the
// real binary: a sandbox process, the no-op and the peers as `bench
// --child`, wdtcancel as `worker`, one warm-up and one measured round of
// tiny windows (the tests' knob). It asserts that every variant was
// measured over a window at least as long as asked, from outside its
// process, and that nothing is left behind: not how fast anything was.
func TestProcessingInProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts 10 processes")
	}
	bin, err := testkit.Build(t.TempDir(), "../..")
	if err != nil {
		t.Fatal(err)
	}
	// Only what a process needs to run: the test's own environment may
	// hold settings a wdtcancel command would read.
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	command := func(args, env []string) *exec.Cmd {
		c := exec.Command(bin, args...)
		c.Env = append(append([]string(nil), base...), env...)
		return c
	}
	var out bytes.Buffer
	const length = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Phases: []string{"processing"}, Rounds: 1, RoundTime: length, ShortRounds: true, Tasks: 300, Concurrency: 4,
		Command: command, WorkerCommand: func(args, env []string) *exec.Cmd { return command(append([]string{"worker"}, args...), env) }, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	p := res.Processing
	for name, rounds := range map[string][]float64{"noop": p.NoopPerSec, "peer": p.PeerPerSec, "peer_result": p.PeerResultPerSec, "peer_safe": p.PeerSafePerSec, "wdtcancel": p.RealPerSec} {
		if len(rounds) != 1 || rounds[0] <= 0 {
			t.Errorf("%s per round %v, want one measured round", name, rounds)
		}
	}
	for name, v := range map[string]float64{"peer_ratio": res.PeerRatio, "safe_peer_ratio": res.SafePeerRatio, "processing_ratio": res.ProcessingRatio,
		"safe_floor_ratio": p.SafeFloorRatio, "result_write_ratio": p.ResultWriteRatio} {
		if v <= 0 {
			t.Errorf("%s = %v", name, v)
		}
	}
	if !p.SeparateProcesses || p.RoundSeconds != length.Seconds() || p.WindowSecondsMin < length.Seconds() || p.WindowSecondsMax < p.WindowSecondsMin || p.CallsPerWindowMin < 1 {
		t.Errorf("processing %+v: want separate processes, windows of at least %s with calls", p, length)
	}
	if !strings.Contains(out.String(), "round 1: no-op") || !strings.Contains(out.String(), "(windows ") {
		t.Errorf("the rounds were not printed with their windows:\n%s", out.String())
	}
	if res.KeysLeft != 0 {
		t.Errorf("%d keys of the bench's queues left in Redis", res.KeysLeft)
	}
}

// TestRunChildRefuses: the child mode names what is wrong and that the
// bench starts children itself, before touching Redis.
func TestRunChildRefuses(t *testing.T) {
	tests := []struct {
		name string
		o    ChildOptions
		want string
	}{
		{"unknown kind", ChildOptions{Kind: "wdtcancel", Queue: "q", RedisURL: "redis://127.0.0.1:1/0"}, "not a handler the bench runs"},
		{"no queue", ChildOptions{Kind: "noop", RedisURL: "redis://127.0.0.1:1/0"}, "--child-queue"},
		{"a peer without the sandbox", ChildOptions{Kind: "peer", Queue: "q", RedisURL: "redis://127.0.0.1:1/0"}, "WDT_URL"},
		{"a bad Redis URL", ChildOptions{Kind: "noop", Queue: "q", RedisURL: "http://nothing"}, "REDIS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := RunChild(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

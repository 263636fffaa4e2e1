package sandbox_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// waitTimeout is how long a test waits for an event before failing; no test
// passes or fails by sleeping.
const waitTimeout = 10 * time.Second

func recvOrTimeout[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// holdLatency is an Options.Sleep that reports each call entering its
// latency and holds it there until release is called.
func holdLatency() (sleep func(context.Context, time.Duration) error, entered <-chan string, release func()) {
	in := make(chan string, 64)
	gate := make(chan struct{})
	sleep = func(ctx context.Context, _ time.Duration) error {
		in <- "entered"
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var released bool
	return sleep, in, func() {
		if !released {
			released = true
			close(gate)
		}
	}
}

type result struct {
	no, msg string
	status  int
	err     error
}

func goCall(base, no string, out chan<- result) {
	go func() {
		st, msg, err := post(base, no, 0, "")
		out <- result{no: no, msg: msg, status: st, err: err}
	}()
}

var concurrencyForms = []string{sandbox.MsgRateLimitConcurrent, sandbox.MsgRateLimitConcurrentFullWidth}

// TestSandboxConcurrencyAdmitsOnArrival: with one slot and a long latency,
// of two calls that arrive together exactly one is admitted; the other is
// refused at once and takes no slot, as are any more while the first holds
// it; once the first has answered, the next call is admitted.
func TestSandboxConcurrencyAdmitsOnArrival(t *testing.T) {
	sleep, entered, release := holdLatency()
	sb := start(t, sandbox.Options{MaxConcurrency: 1, Latency: time.Hour, Sleep: sleep})
	t.Cleanup(release)

	results := make(chan result, 2)
	goCall(sb.URL, "CC1", results)
	goCall(sb.URL, "CC2", results)
	// The admitted call is held in its latency, so the first answer is the
	// refusal, given without waiting.
	refused := recvOrTimeout(t, results, "the refused call")
	if refused.err != nil || refused.status != 100 || !slices.Contains(concurrencyForms, refused.msg) {
		t.Fatalf("first answer %+v, want the concurrency refusal", refused)
	}
	recvOrTimeout(t, entered, "the admitted call in its latency")

	// While it holds the slot every other call is refused at once: a
	// refused call holds no slot, so the next is refused for the same
	// reason and not for a leftover.
	for i := 0; i < 8; i++ {
		if st, msg := rawCall(t, sb.URL, fmt.Sprint("CCX", i), 0, ""); st != 100 || !slices.Contains(concurrencyForms, msg) {
			t.Fatalf("call %d while the slot is held: %d %q", i, st, msg)
		}
	}

	release()
	admitted := recvOrTimeout(t, results, "the admitted call")
	if admitted.err != nil || admitted.status != 0 || admitted.no == refused.no {
		t.Fatalf("admitted %+v, refused %+v", admitted, refused)
	}
	// The first has answered: its slot is free for the next call.
	if st, msg := rawCall(t, sb.URL, "CC3", 0, ""); st != 0 {
		t.Fatalf("call after the first finished: %d %q", st, msg)
	}
	recvOrTimeout(t, entered, "CC3 in its latency")
	if n := len(entered); n != 0 {
		t.Fatalf("%d refused calls waited out the latency", n)
	}
	if st := sb.Stats(); st.ByStatus["0"] != 2 || st.ByStatus["100"] != 9 || st.Cancellations != 2 {
		t.Fatalf("stats %+v", st)
	}
	for no, state := range map[string]int{admitted.no: sandbox.StateCancelled, refused.no: sandbox.StateEditing, "CC3": sandbox.StateCancelled} {
		if o, _ := sb.Order(no); o.Status != state {
			t.Errorf("%s: state %d, want %d", no, o.Status, state)
		}
	}
}

// TestSandboxRateLimitMessagesBothForms: both rate-limit messages come in
// both punctuations the vendor documents, drawn from the seed: two
// sandboxes with the same seed answer the same sequence.
func TestSandboxRateLimitMessagesBothForms(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	tests := []struct {
		name  string
		opts  func() (sandbox.Options, func(t *testing.T, sb *sandbox.Server))
		forms []string
	}{
		{
			name: "calls per minute",
			opts: func() (sandbox.Options, func(*testing.T, *sandbox.Server)) {
				return sandbox.Options{RatePerMinute: 1, Now: clock, Seed: 5}, func(t *testing.T, sb *sandbox.Server) {
					if st, msg := rawCall(t, sb.URL, "RL0", now.Sub(time.Now()), ""); st != 0 {
						t.Fatalf("first call: %d %q", st, msg)
					}
				}
			},
			forms: []string{sandbox.MsgRateLimitCalls, sandbox.MsgRateLimitCallsASCII},
		},
		{
			name: "concurrency",
			opts: func() (sandbox.Options, func(*testing.T, *sandbox.Server)) {
				sleep, entered, release := holdLatency()
				return sandbox.Options{MaxConcurrency: 1, Latency: time.Hour, Sleep: sleep, Now: clock, Seed: 5}, func(t *testing.T, sb *sandbox.Server) {
					held := make(chan result, 1)
					goCall(sb.URL, "RL0", held)
					recvOrTimeout(t, entered, "the call that holds the slot")
					t.Cleanup(func() {
						release()
						if r := recvOrTimeout(t, held, "the held call"); r.status != 0 {
							t.Errorf("held call %+v", r)
						}
					})
				}
			},
			forms: concurrencyForms,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var runs [2][]string
			for i := range runs {
				opts, setup := tt.opts()
				sb := start(t, opts)
				setup(t, sb)
				for j := 0; j < 16; j++ {
					st, msg := rawCall(t, sb.URL, fmt.Sprint("RL", j+1), now.Sub(time.Now()), "")
					if st != 100 || !slices.Contains(tt.forms, msg) {
						t.Fatalf("refusal %d: %d %q, want one of %q", j, st, msg, tt.forms)
					}
					runs[i] = append(runs[i], msg)
				}
			}
			if !slices.Equal(runs[0], runs[1]) {
				t.Fatalf("same seed, different messages:\n%q\n%q", runs[0], runs[1])
			}
			for _, f := range tt.forms {
				if !slices.Contains(runs[0], f) {
					t.Errorf("16 refusals never said %q", f)
				}
			}
		})
	}
}

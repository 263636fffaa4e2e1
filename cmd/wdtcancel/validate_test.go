package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestNonsenseNumbersAreRefused: `--concurrency 0` ran 10 workers and
// `--parallelism -5` ran 32 enqueues in flight, silently. Now each is a
// usage error (exit 2) naming the flag, before anything connects.
func TestNonsenseNumbersAreRefused(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"worker", "--concurrency", "0"}, "--concurrency (or WDTCANCEL_CONCURRENCY) must be positive, not 0"},
		{map[string]string{"WDTCANCEL_CONCURRENCY": "-1"}, []string{"worker"}, "WDTCANCEL_CONCURRENCY) must be positive, not -1"},
		{nil, []string{"worker", "--max-retry", "0"}, "--max-retry"},
		{nil, []string{"worker", "--backoff-base", "0s"}, "--backoff-base"},
		{nil, []string{"worker", "--rate-per-minute", "-5"}, "must be 0 (no limit) or positive, not -5"},
		{nil, []string{"enqueue", "--parallelism", "-5", "RK1"}, "--parallelism (or WDTCANCEL_PARALLELISM) must be positive, not -5"},
		{nil, []string{"api", "--max-numbers", "0"}, "--max-numbers"},
		{nil, []string{"api", "--max-body-bytes", "-1"}, "--max-body-bytes"},
		{nil, []string{"demo", "--orders", "0"}, "--orders must be positive"},
	} {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		root := newRoot()
		root.SetArgs(tt.args)
		var stderr bytes.Buffer
		code := exitCode(root.Execute(), &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v %v: exit %d %q, want 2 and %q", tt.env, tt.args, code, stderr.String(), tt.want)
		}
		for k := range tt.env {
			t.Setenv(k, "")
		}
	}
}

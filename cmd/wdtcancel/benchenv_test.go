package main

import (
	"slices"
	"testing"
)

// TestBenchWorkersIgnoreTheCallersEnvironment: the bench's worker processes
// inherited the shell's WDTCANCEL_* (a rate limit would throttle the
// measurement); they get only the bench's own settings.
func TestBenchWorkersIgnoreTheCallersEnvironment(t *testing.T) {
	got := benchWorkerEnv(
		[]string{"PATH=/bin", "HOME=/root", "WDTCANCEL_RATE_PER_MINUTE=60", "REDIS_URL=redis://prod:6379/0", "REDIS_CLUSTER=a:1", "WDT_APPSECRET=x:y"},
		[]string{"REDIS_URL=redis://127.0.0.1:7000/0", "WDT_SID=sandbox"})
	want := []string{"PATH=/bin", "HOME=/root", "REDIS_URL=redis://127.0.0.1:7000/0", "WDT_SID=sandbox"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLinksNoTestKit keeps test kits out of the shipped binary: the
// sandbox, the demo and the bench are products built on plain net/http and
// redisserver, never on testing, httptest or prometheus's testutil.
func TestBinaryLinksNoTestKit(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == "testing", dep == "net/http/httptest",
			strings.HasSuffix(dep, "/testutil"), strings.Contains(dep, "/internal/testkit"):
			t.Errorf("wdtcancel links the test kit %s", dep)
		}
	}
}

package sandbox_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// keep-alive faults take connections over from net/http, and closing the
// server must end them too.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

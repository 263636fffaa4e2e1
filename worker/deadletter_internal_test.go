package worker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hibiken/asynq"
)

// TestDeadLetterArchivesWithCleanText: asynq archives on
// errors.Is(err, asynq.SkipRetry) and stores err.Error() as the last error
// asynqmon shows, so the dead letter must match SkipRetry without carrying
// its text.
func TestDeadLetterArchivesWithCleanText(t *testing.T) {
	const text = "rejected: WDT status 100: 入库单状态不为待审核或编辑中"
	cause := errors.New(text)
	err := deadLetter(cause)
	if got := err.Error(); got != text {
		t.Errorf("Error() = %q, want %q", got, text)
	}
	for _, e := range []error{err, fmt.Errorf("middleware: %w", err)} {
		if !errors.Is(e, asynq.SkipRetry) {
			t.Errorf("%q: errors.Is(asynq.SkipRetry) = false; asynq would retry it", e)
		}
		if !errors.Is(e, cause) {
			t.Errorf("%q: does not unwrap to its cause", e)
		}
		if errors.Is(e, asynq.RevokeTask) {
			t.Errorf("%q: matches asynq.RevokeTask; asynq would drop it", e)
		}
	}
	if !IsFailure(err) {
		t.Error("a dead letter is a failure")
	}
}

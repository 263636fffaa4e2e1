// Package pause waits for a duration unless a context ends first: the one
// timer the limiter, the sandbox's latency and the bench share.
package pause

import (
	"context"
	"time"
)

// For waits d, or returns ctx's error as soon as ctx ends. d <= 0 returns at
// once.
func For(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

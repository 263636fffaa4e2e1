package enqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// ErrUnknownSeller matches (errors.Is) the error of an enqueue for a seller
// no worker has announced within store.AnnounceTTL (a day): most likely a
// typo, whose tasks would wait for nobody; also of an enqueue for the seller
// "default" of a base queue other than wdt-cancel that no worker has ever
// served a seller of (a typo'd --queue). Workers announce the sellers they
// serve at start and every hour. WithAllowUnknownSeller
// (--allow-unknown-seller) enqueues anyway, e.g. before the seller's first
// worker starts.
var ErrUnknownSeller = errors.New("no worker has announced this seller")

// WithAllowUnknownSeller enqueues for a seller no worker has announced
// (--allow-unknown-seller): for a seller whose workers are not started yet.
// Its tasks wait until a worker serves the seller.
func WithAllowUnknownSeller() ClientOption { return func(c *Client) { c.allowUnknown = true } }

// announcedFor is how long a seller found announced is not asked again.
const announcedFor = time.Minute

// announcements caches the sellers found announced, shared by every client
// ForSeller makes, so the API asks Redis once a minute per seller, not per
// request.
type announcements struct {
	mu   sync.Mutex
	seen map[string]time.Time // queue -> when found announced
}

// CheckSeller returns nil when a worker has announced the client's seller
// (every seller under WithAllowUnknownSeller, and the default seller of the
// base queue wdt-cancel, always pass; the default seller of another base
// queue passes once a worker has ever announced any seller of it, so a
// typo'd --queue is caught), an error matching ErrUnknownSeller when none
// has, and one matching
// ErrUnavailable when Redis does not answer. Cancel, Stream, CancelMany and
// CancelSlice call it before enqueuing anything.
func (c *Client) CheckSeller(ctx context.Context) error {
	if c.allowUnknown || c.queue == tasks.DefaultQueue {
		return nil
	}
	a := c.announced
	a.mu.Lock()
	at, ok := a.seen[c.queue]
	a.mu.Unlock()
	if ok && c.now().Sub(at) < announcedFor {
		return nil
	}
	if c.seller == tasks.DefaultSeller {
		// The seller "default" of a base queue other than wdt-cancel (a
		// --queue of its own): accepted once a worker has ever served a
		// queue of it, so a typo'd --queue is refused. The seller
		// "default" of wdt-cancel is always accepted, as before sellers
		// were checked: a first enqueue into a fresh Redis keeps working.
		ok, err := store.BaseKnown(ctx, c.rdb, c.queue)
		if err != nil {
			return unavailable(err)
		}
		if !ok {
			return fmt.Errorf("queue %q (seller %q): %w, nor any seller of this queue, ever: check --queue (WDTCANCEL_QUEUE; the workers' default is %s), start a worker first, or enqueue anyway with --allow-unknown-seller (enqueue.WithAllowUnknownSeller)",
				c.queue, c.seller, ErrUnknownSeller, tasks.DefaultQueue)
		}
	} else {
		ok, err := store.Announced(ctx, c.rdb, c.queue)
		if err != nil {
			return unavailable(err)
		}
		if !ok {
			return fmt.Errorf("seller %q: %w within %.0f h (queue %s): check the spelling, start a worker with the seller in its sellers file, or enqueue anyway with --allow-unknown-seller (enqueue.WithAllowUnknownSeller)",
				c.seller, ErrUnknownSeller, store.AnnounceTTL.Hours(), c.queue)
		}
	}
	a.mu.Lock()
	a.seen[c.queue] = c.now()
	a.mu.Unlock()
	return nil
}

// ForSource is a copy of c that labels its tasks with source (as
// WithSource), on c's connection: `wdtcancel strays move` keeps each moved
// task's label. An invalid label is an error wrapping tasks.ErrInvalid.
func (c *Client) ForSource(source string) (*Client, error) {
	if err := tasks.ValidateSource(source); err != nil {
		return nil, err
	}
	cc := *c
	cc.owner = false
	cc.source = source
	return &cc, nil
}

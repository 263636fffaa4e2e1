// Package enqueue is the producer side of wdtcancel: a Go client that hands
// cancellations to the queue one at a time or in bulk, and the HTTP endpoint
// that does the same for ERP jobs written in other languages. Every
// cancellation belongs to a seller (docs/sellers.md): a Client enqueues for
// one (WithSeller, ForSeller), the HTTP API for the one each request names.
//
// Open(ctx, url, opts...) makes a Client as `wdtcancel enqueue` does: the
// CLI's Redis URLs (ParseRedisURL), its replica wait (AutoReplicas) and its
// start-up checks (CheckRedis). A seller no worker has announced is refused
// (ErrUnknownSeller) unless WithAllowUnknownSeller.
//
// It only ever enqueues. It never re-drives a dead-lettered number (that is
// `wdtcancel dlq requeue`'s job) and never calls WDT.
package enqueue

package worker

import (
	"context"
	"sync/atomic"
	"time"
)

// Fetch by slot (issue 24, docs/sellers.md "Many sellers at their quota").
//
// A task waits for its seller's slot inside the asynq worker that fetched
// it. When asynq picked the seller queue at random, a seller whose slot
// came with no task of its own in hand lost the slot, and with 100 sellers
// on 10 workers the median seller reached 37 % of its rate. So a worker
// serving several sellers fetches by slot: the activity hook, which
// already decides which queue each of asynq's dequeues reaches, sends a
// dequeue only to a seller whose next free slot is due within fetchAhead,
// earliest first, and answers the others "no task" without Redis. A freed
// asynq worker thus goes to the seller that would otherwise lose a slot
// first, and a seller whose slots are taken by the tasks already in hand
// costs nothing.
//
// The process knows a seller's schedule from its own last reservation
// (rateBatcher.nextFree, a lower bound: other processes only push it
// later) and from the tasks it holds that have not had an answer from the
// schedule yet (Limiter.inHand). Both only decide which task is fetched
// when; the slot itself is still reserved in Redis by the one atomic
// script, so pacing can make a seller slower, never faster than its rate.
// Sellers without a rate, or with an in-flight limit (whose leases are per
// task), are not paced: they are fetched as before, in turn, after the
// paced sellers that are due.

// fetchAhead is how long before a seller's slot its task may be fetched:
// enough for the hold's timer, asynq's pause after an empty round (up to
// 1.5 × its 20 ms check interval), the dequeue and the reservation's round
// trip on a busy machine, so the task is in hand when its slot comes. An
// earlier fetch costs a worker held for the difference.
const fetchAhead = 50 * time.Millisecond

// emptyBackoff is how long a paced queue whose dequeue found no task is
// left out of the rounds (its tasks may all be in other processes' hands,
// or scheduled for later): as long as the quiet hold of an unpaced queue.
const emptyBackoff = activityQuietBlock

// claimExpiry bounds how long a fetched task may count as in hand without
// reaching the schedule: asynq can drop a fetched task before its handler
// runs (a deadline already past), and a count that never came down would
// slow its seller for good.
const claimExpiry = 10 * time.Second

// noteFetched counts a task of this limiter's queue that the activity hook
// just fetched: it is in hand until its reservation is answered.
func (l *Limiter) noteFetched() {
	l.inHand.Add(1)
	l.lastClaim.Store(time.Now().UnixNano())
}

// releaseClaim takes one task off the count in hand, never below zero (a
// count reset by claimExpiry), and tells the activity tracker, whose hold
// may be waiting for this seller's turn.
func (l *Limiter) releaseClaim() {
	for {
		n := l.inHand.Load()
		if n <= 0 || l.inHand.CompareAndSwap(n, n-1) {
			break
		}
	}
	l.lastClaim.Store(time.Now().UnixNano())
	if l.onClaimReleased != nil {
		l.onClaimReleased()
	}
}

// pacer is what the activity hook asks a paced queue (pacing.go): when its
// seller can next use a fetched task, and that it just fetched one.
type pacer interface {
	readyAtNanos(now int64) (at int64, paced bool)
	noteFetched()
}

// fetchReadyAt is the earliest time a task fetched for this limiter's
// queue could use a slot that no task this process holds is in line for:
// the next free slot as the last reservation left it, one interval later
// per task in hand, and not before a cooldown this process knows of ends.
// paced is false for a limiter that is not paced (no rate, or an in-flight
// limit): its tasks are fetched whenever a worker is free.
func (l *Limiter) fetchReadyAt(now time.Time) (at time.Time, paced bool) {
	ns, paced := l.readyAtNanos(now.UnixNano())
	if !paced {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// readyAtNanos is fetchReadyAt in UnixNano, without a lock: the hook asks
// it for every open queue in every round.
func (l *Limiter) readyAtNanos(now int64) (int64, bool) {
	if l.batch == nil {
		return 0, false
	}
	at := l.batch.nextFreeNs.Load()
	if at == 0 {
		at = now
	}
	n := l.inHand.Load()
	if n > 0 && now-l.lastClaim.Load() > int64(claimExpiry) {
		l.inHand.CompareAndSwap(n, 0)
		n = 0
	}
	at += max(n, 0) * int64(l.interval)
	return max(at, l.cooldownUntil.Load()), true
}

// fetchClaim is a fetched task's place in its limiter's count in hand. It
// travels in the task's context so that the limiter releases it when the
// task's reservation is answered, and the worker releases it when the task
// ends without one (an invalid payload, a task over its seller's share);
// whichever comes first, once.
type fetchClaim struct {
	l    *Limiter
	done atomic.Bool
}

type fetchClaimKey struct{}

// withFetchClaim gives ctx the claim of a task fetched for l.
func withFetchClaim(ctx context.Context, l *Limiter) (context.Context, *fetchClaim) {
	c := &fetchClaim{l: l}
	return context.WithValue(ctx, fetchClaimKey{}, c), c
}

// release gives the claim back; only its first call counts. Safe on nil.
func (c *fetchClaim) release() {
	if c != nil && c.done.CompareAndSwap(false, true) {
		c.l.releaseClaim()
	}
}

// releaseFetchClaim releases the claim ctx carries, if any.
func releaseFetchClaim(ctx context.Context) {
	c, _ := ctx.Value(fetchClaimKey{}).(*fetchClaim)
	c.release()
}

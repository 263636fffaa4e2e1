package worker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/tasks"
)

// Readiness is what /readyz reports: Redis reachable, not evicting,
// accepting writes, durable (or allowed not to be) with its replica wait
// met, not shutting down, no live configuration fault.
type Readiness struct {
	rdb          redis.UniversalClient
	shuttingDown atomic.Bool
	flights      readyFlights // readybound.go: /readyz's check in progress

	breakers []sellerBreaker // the sellers' breakers; none: no breaker to report
	// multi reports each faulted seller by name in ReadyReport.Sellers (a
	// worker started with several sellers, or a sellers file).
	multi bool
	// refresh re-runs the Redis guard's checks before a report, at most
	// once per refreshEvery, so /readyz turns red as soon as Redis refuses
	// writes, not at the guard's next period.
	refresh     func(context.Context) error
	refreshedAt atomic.Int64
	// lostWrites reports the Redis data losses known (lossguard.go), one
	// reason each; nil: none watched.
	lostWrites func() []string
	// notifyStuck names the sellers whose webhook delivery is behind
	// (notify.go): a detail only, never a reason to turn red, since
	// cancellations do not depend on it.
	notifyStuck func() []string

	mu sync.Mutex
	// Redis guard (redisguard.go): eviction policy and write probe.
	redisState   string   // RedisEvicting or RedisRefusesWrites, "" when fit
	redisReasons []string // each with its fix
	// durability is the durability guard's last verdict (durability.go);
	// nil before its first read.
	durability *DurabilityReport
	waitUnmet  []string
	// unknownSellers are the sellers whose queues hold tasks although this
	// worker does not serve them (sellerwatch.go).
	unknownSellers []string
}

// sellerBreaker is one seller's breaker as readiness reports it.
type sellerBreaker struct {
	seller  string
	breaker *Breaker
}

// setUnknownSellers records the sellers whose tasks wait with no worker.
func (r *Readiness) setUnknownSellers(names []string) {
	r.mu.Lock()
	r.unknownSellers = names
	r.mu.Unlock()
}

// UnknownSellers are the sellers whose queues hold tasks this worker does
// not serve, as last found.
func (r *Readiness) UnknownSellers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.unknownSellers...)
}

// setRedisGuard records what the Redis guard found (state "" clears it).
func (r *Readiness) setRedisGuard(state string, reasons []string) {
	r.mu.Lock()
	r.redisState, r.redisReasons = state, reasons
	r.mu.Unlock()
}

// setDurability records the durability guard's verdict.
func (r *Readiness) setDurability(rep DurabilityReport) {
	r.mu.Lock()
	r.durability = &rep
	r.mu.Unlock()
}

// setDurabilityUnmet records the masters whose replica waits are unmet
// beyond the bound.
func (r *Readiness) setDurabilityUnmet(unmet []string) {
	r.mu.Lock()
	r.waitUnmet = unmet
	r.mu.Unlock()
}

// durabilityReport is a copy of the last verdict with the unmet waits, nil
// before the first.
func (r *Readiness) durabilityReport() *DurabilityReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.durability == nil && len(r.waitUnmet) == 0 {
		return nil
	}
	rep := DurabilityReport{State: DurableUnknown}
	if r.durability != nil {
		rep = *r.durability
	}
	rep.WaitUnmet = r.waitUnmet
	return &rep
}

func (r *Readiness) redisGuard() (string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.redisState, r.redisReasons
}

// ReadyReport is the JSON body of /readyz.
type ReadyReport struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
	Redis   string   `json:"redis"`
	// Sellers names each faulted seller with its fault and fix; only a
	// worker serving several sellers (or started from a sellers file)
	// reports it.
	Sellers map[string]string `json:"sellers,omitempty"`
	// Notify names each seller whose webhook delivery is behind; it does
	// not make the worker unready.
	Notify []string `json:"notify,omitempty"`
	// Durability says whether Redis keeps writes across a crash and how
	// the replica wait fares (durability.go). A Redis allowed to be
	// volatile (--allow-volatile-redis) shows here and keeps readiness
	// green; an unmet wait beyond the bound turns it red.
	Durability *DurabilityReport `json:"durability,omitempty"`
	// UnknownSellers are the sellers whose queues hold tasks no running
	// worker serves (sellerwatch.go). Informational: they do not make
	// this worker not ready (see `wdtcancel strays`).
	UnknownSellers []string `json:"unknown_sellers,omitempty"`
}

// NewReadiness tracks readiness against rdb.
func NewReadiness(rdb redis.UniversalClient) *Readiness { return &Readiness{rdb: rdb} }

// ShuttingDown turns readiness red for good.
func (r *Readiness) ShuttingDown() { r.shuttingDown.Store(true) }

// WatchSellerBreaker makes a seller's open circuit breaker (a configuration
// fault, or an endpoint failing for every order) turn readiness red with
// its reason; the report names the seller.
func (r *Readiness) WatchSellerBreaker(seller string, b *Breaker) {
	r.breakers = append(r.breakers, sellerBreaker{seller, b})
}

// refreshEvery bounds how often /readyz re-runs the Redis guard.
const refreshEvery = time.Second

// Check builds the report, pinging Redis.
func (r *Readiness) Check(ctx context.Context) ReadyReport {
	rep := ReadyReport{Ready: true, Redis: "ok"}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if now := time.Now().UnixNano(); r.refresh != nil && now-r.refreshedAt.Load() >= int64(refreshEvery) {
		r.refreshedAt.Store(now)
		r.refresh(ctx)
	}
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		rep.Ready = false
		rep.Redis = "unreachable"
		rep.Reasons = append(rep.Reasons, "redis unreachable: "+err.Error())
	} else if state, reasons := r.redisGuard(); state != "" {
		rep.Ready = false
		rep.Redis = state
		rep.Reasons = append(rep.Reasons, reasons...)
	}
	r.addLostWrites(&rep)
	r.addDurability(&rep)
	if r.shuttingDown.Load() {
		rep.Ready = false
		rep.Reasons = append(rep.Reasons, "shutting down")
	}
	for _, sb := range r.breakers {
		st, err := sb.breaker.State(ctx)
		if err != nil || st == nil {
			continue
		}
		rep.Ready = false
		if !r.multi {
			rep.Reasons = append(rep.Reasons, st.Describe())
			continue
		}
		desc := st.Describe()
		if sb.seller != tasks.DefaultSeller {
			desc = strings.Replace(desc, "`wdtcancel retry --held`", "`wdtcancel retry --held --seller "+sb.seller+"`", 1)
		}
		rep.Reasons = append(rep.Reasons, fmt.Sprintf("seller %q: %s", sb.seller, desc))
		if rep.Sellers == nil {
			rep.Sellers = make(map[string]string)
		}
		rep.Sellers[sb.seller] = desc
	}
	rep.Notify = r.notifyDetail()
	// Tasks waiting for a seller no worker serves are a producer's or an
	// operator's problem, not this worker's: one stray enqueue must not
	// stall every rollout that waits for readiness. They are reported
	// (here, in wdtcancel_unknown_seller_queues and its alert) and removed
	// with `wdtcancel strays`.
	rep.UnknownSellers = r.UnknownSellers()
	return rep
}

// notifyDetail names the sellers whose webhook delivery is behind.
func (r *Readiness) notifyDetail() []string {
	if r.notifyStuck == nil {
		return nil
	}
	return r.notifyStuck()
}

// addLostWrites reports a known loss of writes (lossguard.go): not ready
// until an operator acknowledges it.
func (r *Readiness) addLostWrites(rep *ReadyReport) {
	if r.lostWrites == nil {
		return
	}
	reasons := r.lostWrites()
	if len(reasons) == 0 {
		return
	}
	rep.Ready = false
	if rep.Redis == "ok" {
		rep.Redis = RedisLostWrites
	}
	rep.Reasons = append(rep.Reasons, reasons...)
}

// addDurability reports the durability check (durability.go): the detail
// always, not ready when durability was lost after start or a replica
// wait has gone unmet beyond its bound.
func (r *Readiness) addDurability(rep *ReadyReport) {
	d := r.durabilityReport()
	if d == nil {
		return
	}
	rep.Durability = d
	if reasons := durabilityReasons(d); len(reasons) > 0 {
		rep.Ready = false
		rep.Reasons = append(rep.Reasons, reasons...)
	}
}

package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// DefaultUnknownSellerCheckInterval is how often a worker looks for queues
// holding tasks of sellers it does not serve.
const DefaultUnknownSellerCheckInterval = 15 * time.Second

// sellerWatch finds the queues "<base>:<name>" (and the base queue when the
// seller "default" is not served) that hold live tasks for a seller this
// worker does not serve and no other running worker does either (asynq's
// server records say which queues each live worker fetches from). Those tasks are never fetched, so they wait,
// pending, until the seller is added to the sellers file and the workers
// are restarted, or `wdtcancel strays` moves or drops them; the watch makes
// that visible on /readyz (informational: it does not make this worker not
// ready), in the wdtcancel_unknown_seller_queues gauge and once in the log.
// Each check also announces this worker's queues (store.Announce), so
// producers know which sellers some worker serves.
type sellerWatch struct {
	rdb      redis.UniversalClient
	served   []any    // this worker's queues, for SADD
	queues   []string // the same, to announce them (store.Announce)
	insp     *asynq.Inspector
	base     string
	known    map[string]bool
	interval time.Duration
	log      *zap.Logger
	ready    *Readiness

	mu      sync.Mutex // one check at a time; guards unknown
	unknown []string
	// announced is when every queue was last announced (register).
	announced time.Time

	loop periodic
}

// announceRefresh is how often the seller watch writes every
// announcement again (store.AnnounceTTL is a day).
const announceRefresh = time.Hour

func newSellerWatch(rdb redis.UniversalClient, insp *asynq.Inspector, base string, sellers []string, interval time.Duration, log *zap.Logger, ready *Readiness) *sellerWatch {
	if interval <= 0 {
		interval = DefaultUnknownSellerCheckInterval
	}
	known := make(map[string]bool, len(sellers))
	served := make([]any, 0, len(sellers))
	for _, s := range sellers {
		known[s] = true
		served = append(served, tasks.QueueFor(base, s))
	}
	queues := make([]string, 0, len(served))
	for _, q := range served {
		queues = append(queues, q.(string))
	}
	return &sellerWatch{rdb: rdb, served: served, queues: queues, insp: insp, base: base, known: known, interval: interval, log: log, ready: ready}
}

// check lists asynq's queues and records the unknown sellers with live
// tasks. A Redis error keeps the last finding.
func (s *sellerWatch) check() error {
	if err := s.register(); err != nil {
		return err
	}
	queues, err := s.insp.Queues()
	if err != nil {
		return fmt.Errorf("list queues: %w", err)
	}
	// A queue another running worker serves is not waiting for anyone: a
	// single-seller worker beside multi-seller ones (a migration), or
	// workers with different sellers files on one Redis.
	// The same definition of "served now" as `wdtcancel strays`: a live
	// worker's heartbeat, not the day-long announcement.
	servedElsewhere, err := store.ServedNow(s.insp)
	if err != nil {
		return err
	}
	var found []string
	for _, q := range queues {
		seller, ok := tasks.SellerOfQueue(s.base, q)
		if !ok || s.known[seller] || servedElsewhere[q] {
			continue
		}
		info, err := s.insp.GetQueueInfo(q)
		if errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read queue %s: %w", q, err)
		}
		if info.Pending+info.Active+info.Scheduled+info.Retry+info.Aggregating > 0 {
			found = append(found, seller)
		}
	}
	sort.Strings(found)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range found {
		if !slices.Contains(s.unknown, name) {
			s.log.Error("tasks wait for a seller no running worker serves: add it to a sellers file and restart the workers, or list, move or drop them with `wdtcancel strays`; this worker stays ready",
				zap.String("seller", name), zap.String("queue", tasks.QueueFor(s.base, name)))
		}
	}
	s.unknown = found
	s.ready.setUnknownSellers(found)
	return nil
}

// register adds this worker's queues back to asynq's set and announces
// them to producers.
func (s *sellerWatch) register() error {
	// asynq lists only the queues in its set, and its client adds a queue
	// only at a process's first enqueue: after Redis lost its data, a
	// queue still getting tasks would be missing from asynqmon, `status`
	// and the API's look-ups. Add this worker's queues back every check.
	if err := s.rdb.SAdd(context.Background(), store.AsynqQueuesKey, s.served...).Err(); err != nil {
		return fmt.Errorf("register queues: %w", err)
	}
	// Producers refuse a seller no worker has announced (a typo would
	// otherwise leave tasks waiting for nobody). The announcements last
	// store.AnnounceTTL; writing one per seller every check would cost
	// more than the rest of an idle worker at a thousand sellers. So they
	// are written again every announceRefresh, or at once when the first
	// queue's is gone (a Redis that lost its data).
	ctx := context.Background()
	if time.Since(s.announced) < announceRefresh && len(s.queues) > 0 {
		if n, err := s.rdb.Exists(ctx, store.ServedKey(s.queues[0])).Result(); err == nil && n > 0 {
			return nil
		}
	}
	if err := store.Announce(ctx, s.rdb, s.queues...); err != nil {
		return err
	}
	s.announced = time.Now()
	return nil
}

// count is the gauge's value.
func (s *sellerWatch) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.unknown)
}

// start checks at once, then every interval until stop.
func (s *sellerWatch) start() {
	s.loop.start(s.interval, true, func(ctx context.Context) {
		if err := s.check(); err != nil && ctx.Err() == nil {
			s.log.Debug("unknown-seller check failed", zap.Error(err))
		}
	})
}

// stop ends the loop and waits for it; safe before start and twice.
func (s *sellerWatch) stop() { s.loop.stop() }

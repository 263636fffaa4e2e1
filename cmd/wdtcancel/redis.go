package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/redisguard"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// openProducer connects an enqueue client and checks Redis answers, so an
// unreachable Redis is one clear line (password masked) and exit 2.
func openProducer(ctx context.Context, r *config.Redis, opts ...enqueue.ClientOption) (*enqueue.Client, error) {
	conn, err := r.ConnOpt()
	if err != nil {
		return nil, usageErr(err)
	}
	c, err := enqueue.New(conn, opts...)
	if err != nil {
		return nil, usageErr(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx); err != nil {
		c.Close()
		return nil, redisUnreachable(r, err)
	}
	return c, nil
}

// allowOptions are the client options of --allow-volatile-redis and
// --allow-unknown-seller.
func allowOptions(volatile, unknownSeller bool) []enqueue.ClientOption {
	var opts []enqueue.ClientOption
	if volatile {
		opts = append(opts, enqueue.WithAllowVolatileRedis())
	}
	if unknownSeller {
		opts = append(opts, enqueue.WithAllowUnknownSeller())
	}
	return opts
}

// redisChecks are the start-up checks of a command that writes: allowEvict
// and allowVolatile are --allow-eviction and --allow-volatile-redis; warn
// is told what was accepted because of them (once each).
type redisChecks struct {
	allowEvict    bool
	allowVolatile bool
	warnEvict     func(policy string)
	warnVolatile  func(problem error)
	warnPending   func(problem error) // a master whose replicas are re-attaching
}

// check refuses (exit 2), with the fix, a Redis whose maxmemory-policy
// evicts unless allowEvict, and one that does not keep writes across a
// crash (or will not say) unless allowVolatile; what it accepts is
// reported to the warn functions and it goes on. Last, the client's seller
// must have been announced by a worker (enqueue.Client.CheckSeller). The client must have been
// made WithAllowVolatileRedis when allowVolatile. It returns the policy
// read, "" when Redis does not report it.
func (rc redisChecks) check(ctx context.Context, c *enqueue.Client) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	policy, err := c.CheckRedis(cctx)
	switch {
	case err == nil:
	case errors.Is(err, enqueue.ErrReplicasPending):
		// A failover in progress: not a configuration error. Go on: each
		// write waits for the replicas and reports unknown (exit 1, safe
		// to repeat) until they are online.
		if rc.warnPending != nil {
			rc.warnPending(err)
		}
		return policy, nil
	case errors.Is(err, enqueue.ErrUnavailable), errors.Is(err, enqueue.ErrVolatile):
		return policy, usageErr(err)
	case rc.allowEvict && errors.Is(err, enqueue.ErrEviction):
		rc.warnEvict(policy)
	default:
		return policy, usageErr(err)
	}
	if d := c.Durability(); d.Allowed && rc.warnVolatile != nil {
		rc.warnVolatile(d.Problem)
	}
	// A seller no worker announced (a typo) is refused before any input is
	// read; the api's client is the default seller's, always accepted.
	if err := c.CheckSeller(cctx); err != nil {
		return policy, usageErr(err)
	}
	return policy, nil
}

// checkVolatile is the durability check of the commands that write
// without an enqueue client (dlq requeue and purge, retry): a Redis that
// does not keep writes across a crash is refused (exit 2) with the fix
// unless allow, and then a warning is printed to w.
func checkVolatile(ctx context.Context, rdb redis.UniversalClient, allow bool, w io.Writer) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := redisguard.CheckDurable(cctx, rdb, redisguard.Wait{Auto: true})
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, redisguard.ErrVolatile):
		return usageErr(fmt.Errorf("read Redis's persistence (INFO): %w", err))
	case allow || redisguard.IsEmbedded(rdb):
		fmt.Fprintf(w, "wdtcancel: warning: %v; going on because of --allow-volatile-redis\n", err)
		return nil
	default:
		return usageErr(err)
	}
}

// redisUnreachable is the usage error of a command whose first PING failed:
// a refused login says so and names the credentials (an ACL user or a
// password), not "start Redis", which is the fix only when nothing answered.
func redisUnreachable(where fmt.Stringer, err error) error {
	setting, form := "REDIS_URL / --redis-url", "redis://user:password@host:port/db"
	if r, ok := where.(*config.Redis); ok && len(r.Cluster) > 0 {
		// The cluster setting wins over the URL: name the one in use.
		setting, form = "REDIS_CLUSTER / --redis-cluster", "user:password@host:port,..."
	}
	if isAuthError(err) {
		return usageErr(fmt.Errorf("redis at %s refused the login: %v: check the user and password in %s (%s; the user needs +@all or at least the commands wdtcancel runs)", where, err, setting, form))
	}
	return usageErr(fmt.Errorf("cannot reach Redis at %s: %v: start Redis or point %s at it", where, err, setting))
}

// isAuthError tells Redis's answers to a bad or missing login.
func isAuthError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"NOAUTH", "WRONGPASS", "NOPERM", "AUTH <password> called without", "invalid password", "invalid username-password"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// openSellerQueue checks --seller and --queue, connects to Redis and pings
// it, and returns the client and the seller's queue: what every command
// that reads one seller's keys directly (events, redis-loss) does first.
func openSellerQueue(ctx context.Context, rf *config.Redis, queue, seller string) (redis.UniversalClient, string, error) {
	if err := checkSellerFlag(seller); err != nil {
		return nil, "", err
	}
	if err := tasks.ValidateBaseQueue(queue); err != nil {
		return nil, "", usageErr(fmt.Errorf("--queue: %w", err))
	}
	conn, err := rf.ConnOpt()
	if err != nil {
		return nil, "", usageErr(err)
	}
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, "", redisUnreachable(rf, err)
	}
	return rdb, tasks.QueueFor(queue, seller), nil
}

// Package redisurl parses the Redis addresses every command takes
// (--redis-url, --redis-cluster) into asynq's connection options: one
// parser for the CLI (internal/config) and the Go producer
// (enqueue.ParseRedisURL), so both read the same URLs the same way.
package redisurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Parse reads a --redis-url: redis://, rediss:// or redis-sentinel://.
// No error shows any part of raw but a URL that parsed, password masked:
// a password with an unencoded # / ? or @ splits where url.Parse cuts it,
// and the pieces land in the host, path, query or fragment (see check).
func Parse(raw string) (asynq.RedisConnOpt, error) {
	raw = strings.TrimSpace(raw)
	if err := check(raw); err != nil {
		return nil, err
	}
	if strings.HasPrefix(raw, "redis-sentinel://") {
		return sentinelConnOpt(raw)
	}
	opt, err := asynq.ParseRedisURI(raw)
	if err != nil {
		// After check, asynq's reasons (scheme, database number) hold no
		// piece of the password, and the URL parses, so it is masked.
		return nil, fmt.Errorf("redis URL %s: %w: %s", MaskURL(raw), unwrapURLErr(err), usage)
	}
	return withUsername(opt, raw), nil
}

// withUsername gives the URL's user name (an ACL user, redis://user:pw@...)
// to the connection. asynq's parser keeps only the password, so every
// command authenticated as the default user: refused where that user is
// off, and worse, run with the default user's rights where it is on, so
// the checks of a restricted user ran as someone else.
func withUsername(opt asynq.RedisConnOpt, raw string) asynq.RedisConnOpt {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.User == nil || u.User.Username() == "" {
		return opt
	}
	if o, ok := opt.(asynq.RedisClientOpt); ok {
		o.Username = u.User.Username()
		return o
	}
	return opt
}

// Cluster reads --redis-cluster's node addresses.
func Cluster(addrs []string) (asynq.RedisConnOpt, error) { return clusterConnOpt(addrs) }

// ClusterStateReload is how often a Cluster client re-reads the slot map
// (CLUSTER SLOTS) when nothing else made it. go-redis's default, 60 s, is
// how long a client keeps sending a dead master's slots to the dead master
// after its replica took over (a dead node answers no MOVED): in
// the test kit's TestClusterFailsOver the key stayed unreadable for the 30 s
// the test waited; with 1 s it was readable 3.4 s after the kill. One
// node's CLUSTER SLOTS a second per client costs next to nothing.
const ClusterStateReload = time.Second

// ClusterConnOpt is asynq's Cluster option with a client that notices a
// failover within ClusterStateReload (see there).
type ClusterConnOpt struct {
	asynq.RedisClusterClientOpt
}

// MakeRedisClient implements asynq.RedisConnOpt.
func (o ClusterConnOpt) MakeRedisClient() interface{} {
	opt := o.RedisClusterClientOpt
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                      opt.Addrs,
		MaxRedirects:               opt.MaxRedirects,
		Username:                   opt.Username,
		Password:                   opt.Password,
		DialTimeout:                opt.DialTimeout,
		ReadTimeout:                opt.ReadTimeout,
		WriteTimeout:               opt.WriteTimeout,
		TLSConfig:                  opt.TLSConfig,
		ClusterStateReloadInterval: ClusterStateReload,
	})
}

// sentinelConnOpt reads redis-sentinel://[[user]:password@]host:port[,host:port...][/db]?master=NAME[&sentinel_password=PW].
// The password is the data nodes' (the master's and replicas'), as in a
// redis:// URL; sentinels that require one of their own take
// sentinel_password. asynq's own parser gave the password to the sentinels
// only and dropped the database, so a Redis with a password answered every
// command NOAUTH. Errors never show a password.
func sentinelConnOpt(raw string) (asynq.RedisConnOpt, error) {
	bad := func(why string) error {
		return fmt.Errorf("redis URL %s: %s: use redis-sentinel://[:password@]host:port[,host2:port2]/db?master=NAME%s", MaskURL(raw), why, encodeHint)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, bad("not a URL")
	}
	q := u.Query()
	opt := asynq.RedisFailoverClientOpt{
		MasterName:       q.Get("master"),
		SentinelAddrs:    strings.Split(u.Host, ","),
		SentinelPassword: q.Get("sentinel_password"),
	}
	if opt.MasterName == "" {
		return nil, bad("no master name (?master=NAME, as in the sentinels' `sentinel monitor NAME ...`)")
	}
	for _, a := range opt.SentinelAddrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, bad(fmt.Sprintf("sentinel address %q is not host:port", a))
		}
	}
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if opt.DB, err = strconv.Atoi(db); err != nil || opt.DB < 0 {
			return nil, bad(fmt.Sprintf("database %q is not a number", db))
		}
	}
	return opt, nil
}

// clusterConnOpt reads --redis-cluster addresses, each [[user]:password@]host:port.
// A password on any of them is the Cluster's (every node's); two different
// ones are refused. Errors name an address by its place in the list and
// quote none: an address that is not host:port may be a piece of a
// password (a comma in it splits the list).
func clusterConnOpt(addrs []string) (asynq.RedisConnOpt, error) {
	opt := asynq.RedisClusterClientOpt{}
	for i, a := range addrs {
		a = strings.TrimSpace(a)
		which := fmt.Sprintf("redis cluster address %d of %d (not shown: it may hold the password)", i+1, len(addrs))
		host := a
		if at := strings.LastIndex(a, "@"); at >= 0 {
			cred := a[:at]
			host = a[at+1:]
			user, pw, hasPw := strings.Cut(cred, ":")
			if !hasPw {
				return nil, fmt.Errorf("%s: the part before @ is not [user]:password%s", which, clusterHint)
			}
			if (opt.Password != "" && pw != opt.Password) || (opt.Username != "" && user != opt.Username) {
				return nil, fmt.Errorf("%s: the addresses carry different credentials: give every node the same, or one on the first address only", which)
			}
			opt.Username, opt.Password = user, pw
		}
		if !isHostPort(host) {
			return nil, fmt.Errorf("%s: not [[user]:password@]host:port%s", which, clusterHint)
		}
		opt.Addrs = append(opt.Addrs, host)
	}
	return ClusterConnOpt{RedisClusterClientOpt: opt}, nil
}

// clusterHint is the usual cause of a cluster address that does not read.
const clusterHint = "; a comma in the password splits the list: put that address in double quotes (\":pass,word@host:port\"), and a \" inside them as \"\""

// isHostPort says a is host:port with a numeric port.
func isHostPort(a string) bool {
	h, port, err := net.SplitHostPort(a)
	if err != nil || h == "" && port == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}

// MaskClusterAddr hides the password of a [[user]:password@]host:port, and
// the whole of an address that is not host:port (it may be a piece of a
// password a comma split).
func MaskClusterAddr(a string) string {
	a = strings.TrimSpace(a)
	at := strings.LastIndex(a, "@")
	host := a[at+1:]
	if !isHostPort(host) {
		return "(an address that is not host:port, not shown)"
	}
	if at < 0 {
		return a
	}
	user, _, hasPw := strings.Cut(a[:at], ":")
	if !hasPw {
		return "xxxxx@" + host
	}
	return user + ":xxxxx@" + host
}

func unwrapURLErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	// asynq quotes the URL in some errors; keep only the reason.
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "://") {
		return errors.New(msg[i+2:])
	}
	return err
}

// MaskURL hides the password of a redis URL. A URL check refuses is not
// shown at all: what url.Parse takes for its host, path or fragment may
// be a piece of the password.
func MaskURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if check(raw) != nil {
		return "(a Redis URL that does not parse, not shown: it may hold the password)"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(a Redis URL that does not parse, not shown: it may hold the password)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	return u.Redacted()
}

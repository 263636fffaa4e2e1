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
func Parse(raw string) (asynq.RedisConnOpt, error) {
	if strings.HasPrefix(strings.TrimSpace(raw), "redis-sentinel://") {
		return sentinelConnOpt(strings.TrimSpace(raw))
	}
	opt, err := asynq.ParseRedisURI(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("redis URL %s: %w: use redis://[user:password@]host:port/db, rediss://... or redis-sentinel://[user:password@]host:port[,host2:port2]/db?master=NAME", MaskURL(raw), unwrapURLErr(err))
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
		return fmt.Errorf("redis URL %s: %s: use redis-sentinel://[:password@]host:port[,host2:port2]/db?master=NAME", MaskURL(raw), why)
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
// ones are refused.
func clusterConnOpt(addrs []string) (asynq.RedisConnOpt, error) {
	opt := asynq.RedisClusterClientOpt{}
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		host := a
		if at := strings.LastIndex(a, "@"); at >= 0 {
			cred := a[:at]
			host = a[at+1:]
			user, pw, _ := strings.Cut(cred, ":")
			if (opt.Password != "" && pw != opt.Password) || (opt.Username != "" && user != opt.Username) {
				return nil, fmt.Errorf("redis cluster %s: the addresses carry different credentials: give every node the same, or one on the first address only", MaskClusterAddr(a))
			}
			opt.Username, opt.Password = user, pw
		}
		if _, _, err := net.SplitHostPort(host); err != nil {
			return nil, fmt.Errorf("redis cluster address %s is not [:password@]host:port", MaskClusterAddr(a))
		}
		opt.Addrs = append(opt.Addrs, host)
	}
	return ClusterConnOpt{RedisClusterClientOpt: opt}, nil
}

// MaskClusterAddr hides the password of a [[user]:password@]host:port.
func MaskClusterAddr(a string) string {
	at := strings.LastIndex(a, "@")
	if at < 0 {
		return a
	}
	user, _, hasPw := strings.Cut(a[:at], ":")
	if !hasPw {
		return a
	}
	return user + ":xxxxx" + a[at:]
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

// MaskURL hides the password of a redis URL.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	return u.Redacted()
}

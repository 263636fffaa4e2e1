package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/internal/store"
)

// Environment variables with names of their own (docs/architecture.md,
// "Environment variables"). Every other flag --some-flag reads
// WDTCANCEL_SOME_FLAG.
var namedEnv = map[string]string{
	"redis-url":     "REDIS_URL",
	"redis-cluster": "REDIS_CLUSTER",
	"wdt-url":       "WDT_URL",
	"sid":           "WDT_SID",
	"appkey":        "WDT_APPKEY",
	"appsecret":     "WDT_APPSECRET",
	"token":         "WDTCANCEL_API_TOKEN",
	// The Qimen lookup (issue 22): named after WDT_*, since they belong to
	// the same seller account.
	"qimen-url":           "WDT_QIMEN_URL",
	"qimen-appkey":        "WDT_QIMEN_APPKEY",
	"qimen-appsecret":     "WDT_QIMEN_APPSECRET",
	"qimen-target-appkey": "WDT_QIMEN_TARGET_APPKEY",
}

// DefaultRedisURL is where every command looks for Redis by default.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// EnvName is the environment variable behind a flag of the long-running
// production commands (worker, enqueue, status, dlq, retry), ignoring the
// per-command exceptions of EnvNameFor.
func EnvName(flag string) string {
	if n, ok := namedEnv[flag]; ok {
		return n
	}
	return "WDTCANCEL_" + envSuffix(flag)
}

func envSuffix(flag string) string {
	return strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// SelfContained lists the commands that read no environment variable at
// all: the demo and the bench start their own Redis, sandbox and worker, and
// a REDIS_URL exported for production must never send them there.
var SelfContained = map[string]bool{"demo": true, "bench": true}

// SandboxEnvPrefix is the prefix of the sandbox's own variables: its
// --some-flag reads WDTCANCEL_SANDBOX_SOME_FLAG and nothing else, so the
// worker's WDT_SID, WDTCANCEL_RATE_PER_MINUTE or WDTCANCEL_LISTEN never
// configure the fake WDT.
const SandboxEnvPrefix = "WDTCANCEL_SANDBOX_"

// perCommandEnv names a flag whose meaning differs by command: the api's
// --listen is WDTCANCEL_API_LISTEN, while WDTCANCEL_LISTEN stays the worker's
// ops port (existing deployments set it).
var perCommandEnv = map[string]map[string]string{
	"api": {"listen": "WDTCANCEL_API_LISTEN"},
}

// invocationFlags say what one run of a command does, not how the
// deployment is configured; they are only ever read from the command line
// (an exported WDTCANCEL_ALL must not turn `dlq purge` into purge --all).
var invocationFlags = map[string]bool{
	"all": true, "held": true, "json": true, "file": true, "help": true, "version": true,
	"yes": true, "limit": true, "sort": true, "quiet": true, "all-sellers": true, "count": true,
}

// invocationOnly are flags that read no variable for one command only:
// healthcheck's --url, --path and --timeout say what one probe asks, and a
// WDTCANCEL_TIMEOUT meant for something else must not change it. Its
// --listen does read WDTCANCEL_LISTEN, the worker's ops port it probes.
var invocationOnly = map[string]map[string]bool{
	"healthcheck": {"url": true, "path": true, "timeout": true},
}

// EnvNameFor is the environment variable behind --flag of the top-level
// subcommand command, or "" when that flag reads none. One variable has one
// meaning across every command that reads it.
func EnvNameFor(command, flag string) string {
	switch {
	case SelfContained[command], invocationFlags[flag]:
		return ""
	case command == "sandbox":
		return SandboxEnvPrefix + envSuffix(flag)
	}
	if invocationOnly[command][flag] {
		return ""
	}
	if n, ok := perCommandEnv[command][flag]; ok {
		return n
	}
	return EnvName(flag)
}

// ApplyEnv sets every flag of the top-level subcommand command not given on
// the command line from its environment variable (EnvNameFor), so flags
// override the environment.
func ApplyEnv(command string, fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		name := EnvNameFor(command, f.Name)
		if f.Changed || name == "" {
			return
		}
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s: invalid value for --%s: %s", name, f.Name, explainErr(f.Name, err, v)))
		}
	})
	return errors.Join(errs...)
}

// secretFlags hold a secret, or may (a Redis URL carries its password):
// their values are never echoed.
var secretFlags = map[string]bool{"appsecret": true, "token": true, "redis-url": true, "redis-cluster": true, "qimen-appsecret": true}

// explainErr says what was wrong with an environment value: the value
// itself for an ordinary setting (so `WDTCANCEL_CONCURRENCY=ten` is easy to
// spot), masked for a secret.
func explainErr(flag string, err error, v string) string {
	if secretFlags[flag] {
		return strings.ReplaceAll(err.Error(), v, "[value]")
	}
	if strings.Contains(err.Error(), v) {
		return err.Error()
	}
	return fmt.Sprintf("%q: %v", v, err)
}

// Redis holds the connection flags shared by every command.
type Redis struct {
	URL     string
	Cluster []string
}

// AddFlags registers --redis-url and --redis-cluster.
func (r *Redis) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&r.URL, "redis-url", DefaultRedisURL, "Redis URL: redis://, rediss:// or redis-sentinel:// (env REDIS_URL)")
	fs.StringSliceVar(&r.Cluster, "redis-cluster", nil, "Redis Cluster node addresses host:port,... (env REDIS_CLUSTER); overrides --redis-url")
}

// AddAllowEvictionFlag registers --allow-eviction (env
// WDTCANCEL_ALLOW_EVICTION) on the commands that refuse a Redis whose
// maxmemory-policy evicts keys.
func AddAllowEvictionFlag(fs *pflag.FlagSet, allow *bool) {
	fs.BoolVar(allow, "allow-eviction", false, "go on although Redis's maxmemory-policy is not noeviction: under memory pressure it silently deletes tasks (env WDTCANCEL_ALLOW_EVICTION)")
}

// AddAllowVolatileFlag registers --allow-volatile-redis (env
// WDTCANCEL_ALLOW_VOLATILE_REDIS) on the commands that write to Redis and
// refuse one that does not keep writes across a crash (redisguard).
func AddAllowVolatileFlag(fs *pflag.FlagSet, allow *bool) {
	fs.BoolVar(allow, "allow-volatile-redis", false, "go on although Redis does not keep writes across a crash (no AOF with appendfsync always/everysec, and replicas not all waited for) or will not say (INFO restricted): a crash can lose acknowledged enqueues and file cancelled orders as clean rejections (env WDTCANCEL_ALLOW_VOLATILE_REDIS)")
}

// RedisWait holds --redis-wait-replicas and --redis-wait-timeout: how many
// replicas must acknowledge the writes a failover must not lose, and for how
// long to wait (store.Durable).
type RedisWait struct {
	// Replicas is "auto" or a count (0 = off); Count resolves it.
	Replicas string
	Timeout  time.Duration
}

// DefaultRedisWaitReplicas is the default of --redis-wait-replicas: "auto",
// which waits for every replica the master of each queue reports online
// (INFO replication), re-read with each wait and periodically: 0 on a
// Redis without replicas, whose AOF must then keep the writes. Waiting for
// fewer than all loses acknowledged writes when the replica Sentinel
// promotes was not among those that acknowledged (issue 20: 190 of 340
// enqueues with 1 of 2); the fault suite's scenario 12 is the test.
const DefaultRedisWaitReplicas = "auto"

// AddFlags registers --redis-wait-replicas and --redis-wait-timeout (env
// WDTCANCEL_REDIS_WAIT_REPLICAS, WDTCANCEL_REDIS_WAIT_TIMEOUT) for a
// command whose writes are critical: the worker, enqueue and the api.
func (w *RedisWait) AddFlags(fs *pflag.FlagSet, what string) {
	fs.StringVar(&w.Replicas, "redis-wait-replicas", DefaultRedisWaitReplicas, "replicas that must acknowledge "+what+" before it counts (Redis WAIT), so a failover cannot lose it: auto = every replica the master reports online (0 where it has none), or a count (0 = off) (env WDTCANCEL_REDIS_WAIT_REPLICAS)")
	fs.DurationVar(&w.Timeout, "redis-wait-timeout", store.DefaultWaitTimeout, "longest wait for --redis-wait-replicas; at most "+store.MaxWaitTimeout.String()+" (env WDTCANCEL_REDIS_WAIT_TIMEOUT)")
}

// Count is how many replicas to wait for: store.AutoReplicas for auto
// (resolved per master at run time), else the count given.
func (w *RedisWait) Count() (int, error) {
	v := strings.TrimSpace(w.Replicas)
	if v == "" || v == "auto" {
		return store.AutoReplicas, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--redis-wait-replicas %q: use auto, 0 (off) or a number of replicas", v)
	}
	return n, nil
}

// ConnOpt parses the flags into asynq's connection option.
func (r *Redis) ConnOpt() (asynq.RedisConnOpt, error) {
	if len(r.Cluster) > 0 {
		return clusterConnOpt(r.Cluster)
	}
	if strings.HasPrefix(strings.TrimSpace(r.URL), "redis-sentinel://") {
		return sentinelConnOpt(strings.TrimSpace(r.URL))
	}
	opt, err := asynq.ParseRedisURI(strings.TrimSpace(r.URL))
	if err != nil {
		return nil, fmt.Errorf("redis URL %s: %w: use redis://[user:password@]host:port/db, rediss://... or redis-sentinel://[user:password@]host:port[,host2:port2]/db?master=NAME", MaskURL(r.URL), unwrapURLErr(err))
	}
	return withUsername(opt, r.URL), nil
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

// ClusterStateReload is how often a Cluster client re-reads the slot map
// (CLUSTER SLOTS) when nothing else made it. go-redis's default, 60 s, is
// how long a client keeps sending a dead master's slots to the dead master
// after its replica took over (a dead node answers no MOVED): in
// redisserver's TestClusterFailsOver the key stayed unreadable for the 30 s
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

// String names the Redis for messages, password masked.
func (r *Redis) String() string {
	if len(r.Cluster) > 0 {
		addrs := make([]string, len(r.Cluster))
		for i, a := range r.Cluster {
			addrs[i] = maskClusterAddr(a)
		}
		return "redis cluster " + strings.Join(addrs, ",")
	}
	return MaskURL(r.URL)
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
				return nil, fmt.Errorf("redis cluster %s: the addresses carry different credentials: give every node the same, or one on the first address only", maskClusterAddr(a))
			}
			opt.Username, opt.Password = user, pw
		}
		if _, _, err := net.SplitHostPort(host); err != nil {
			return nil, fmt.Errorf("redis cluster address %s is not [:password@]host:port", maskClusterAddr(a))
		}
		opt.Addrs = append(opt.Addrs, host)
	}
	return ClusterConnOpt{RedisClusterClientOpt: opt}, nil
}

// maskClusterAddr hides the password of a [[user]:password@]host:port.
func maskClusterAddr(a string) string {
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

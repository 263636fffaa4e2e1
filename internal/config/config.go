package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/internal/redisurl"
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
	// strays' --seller names the typo to move or drop: an exported
	// WDTCANCEL_SELLER (a real seller) must never be taken for it.
	"strays": {"seller": true, "to": true},
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
		return MaskFlagValue(err, v)
	}
	if strings.Contains(err.Error(), v) {
		return err.Error()
	}
	return fmt.Sprintf("%q: %v", v, err)
}

// MaskFlagValue is pflag's error about the value v of a secret flag
// without v: pflag quotes it (`invalid argument "a\"b" for ...`, escaped, so
// a plain replace misses it), and a CSV list's reader says only where it
// choked, which is kept.
func MaskFlagValue(err error, v string) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "invalid argument ") {
		if i := strings.Index(msg, " flag: "); i >= 0 {
			msg = "the value (not shown: it may hold a secret) is invalid: " + msg[i+len(" flag: "):]
		}
	}
	for _, s := range []string{v, strconv.Quote(v), strings.Trim(strconv.Quote(v), `"`)} {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[value]")
		}
	}
	return msg
}

// MaskFlagError is a command-line flag error without the value when the
// flag holds a secret (for the root command's flag error function): pflag
// writes `invalid argument "VALUE" for "--redis-cluster" flag: ...`.
func MaskFlagError(err error) error {
	msg := err.Error()
	for f := range secretFlags {
		i := strings.Index(msg, `" for "--`+f+`" flag: `)
		if !strings.HasPrefix(msg, `invalid argument "`) || i < 0 {
			continue
		}
		return fmt.Errorf("--%s: the value (not shown: it may hold a secret) is invalid: %s", f, msg[i+len(`" for "--`+f+`" flag: `):])
	}
	return err
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

// AddAllowUnknownSellerFlag registers --allow-unknown-seller on a producer
// (enqueue, api): enqueue for a seller no worker has announced, or into a
// base queue no worker has ever served.
func AddAllowUnknownSellerFlag(fs *pflag.FlagSet, allow *bool) {
	fs.BoolVar(allow, "allow-unknown-seller", false, "enqueue for a seller no worker has announced within a day (workers announce their sellers at start and every hour), or into a --queue other than wdt-cancel no worker has ever served a seller of; without it such a seller or queue, most likely a typo, is refused and nothing is enqueued")
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

// ConnOpt parses the flags into asynq's connection option
// (internal/redisurl, which enqueue.ParseRedisURL shares).
func (r *Redis) ConnOpt() (asynq.RedisConnOpt, error) {
	if len(r.Cluster) > 0 {
		return redisurl.Cluster(r.Cluster)
	}
	return redisurl.Parse(r.URL)
}

// ClusterStateReload: see redisurl.ClusterStateReload.
const ClusterStateReload = redisurl.ClusterStateReload

// ClusterConnOpt: see redisurl.ClusterConnOpt.
type ClusterConnOpt = redisurl.ClusterConnOpt

// String names the Redis for messages, password masked.
func (r *Redis) String() string {
	if len(r.Cluster) > 0 {
		addrs := make([]string, len(r.Cluster))
		for i, a := range r.Cluster {
			addrs[i] = redisurl.MaskClusterAddr(a)
		}
		return "redis cluster " + strings.Join(addrs, ",")
	}
	return MaskURL(r.URL)
}

// MaskURL hides the password of a redis URL.
func MaskURL(raw string) string { return redisurl.MaskURL(raw) }

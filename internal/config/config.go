// Package config turns flags and environment variables into the settings
// the commands share: the Redis connection and the WDT client. Flags win over
// environment variables; which flag reads which variable is EnvNameFor.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/spf13/pflag"
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
	"yes": true, "limit": true, "sort": true, "quiet": true, "all-sellers": true,
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
var secretFlags = map[string]bool{"appsecret": true, "token": true, "redis-url": true, "redis-cluster": true}

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

// ConnOpt parses the flags into asynq's connection option.
func (r *Redis) ConnOpt() (asynq.RedisConnOpt, error) {
	if len(r.Cluster) > 0 {
		return asynq.RedisClusterClientOpt{Addrs: r.Cluster}, nil
	}
	opt, err := asynq.ParseRedisURI(strings.TrimSpace(r.URL))
	if err != nil {
		return nil, fmt.Errorf("redis URL %s: %w: use redis://[:password@]host:port/db, rediss://... or redis-sentinel://[:password@]host:port[,host2:port2]/db?master=NAME", MaskURL(r.URL), unwrapURLErr(err))
	}
	return opt, nil
}

// String names the Redis for messages, password masked.
func (r *Redis) String() string {
	if len(r.Cluster) > 0 {
		return "redis cluster " + strings.Join(r.Cluster, ",")
	}
	return MaskURL(r.URL)
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

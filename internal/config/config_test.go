package config

import (
	"context"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

func TestRedisConnOpt(t *testing.T) {
	tests := []struct {
		name    string
		r       Redis
		want    string // %T of the option
		wantErr string
	}{
		{"default", Redis{URL: DefaultRedisURL}, "asynq.RedisClientOpt", ""},
		{"password and db", Redis{URL: "redis://:pw@10.0.0.1:6380/3"}, "asynq.RedisClientOpt", ""},
		{"tls", Redis{URL: "rediss://redis.example:6380/0"}, "asynq.RedisClientOpt", ""},
		{"sentinel", Redis{URL: "redis-sentinel://:pw@s1:26379,s2:26379/0?master=mymaster"}, "asynq.RedisFailoverClientOpt", ""},
		{"cluster", Redis{URL: DefaultRedisURL, Cluster: []string{"n1:7000", "n2:7001"}}, "config.ClusterConnOpt", ""},
		{"wrong scheme", Redis{URL: "mysql://:pw123@x/0"}, "", "redis URL mysql://:xxxxx@x/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt, err := tt.r.ConnOpt()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "pw123") {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := typeName(opt); got != tt.want {
				t.Fatalf("%s, want %s", got, tt.want)
			}
		})
	}
	if o, _ := (&Redis{URL: "redis-sentinel://:pw@s1:26379,s2:26379/0?master=mymaster"}).ConnOpt(); o.(asynq.RedisFailoverClientOpt).MasterName != "mymaster" {
		t.Fatalf("sentinel master lost: %+v", o)
	}
}

func typeName(v any) string {
	switch v.(type) {
	case asynq.RedisClientOpt:
		return "asynq.RedisClientOpt"
	case asynq.RedisFailoverClientOpt:
		return "asynq.RedisFailoverClientOpt"
	case ClusterConnOpt:
		return "config.ClusterConnOpt"
	}
	return "other"
}

func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:secretpw@h:6379/0":     "redis://:xxxxx@h:6379/0",
		"redis://user:secretpw@h:6379/0": "redis://user:xxxxx@h:6379/0",
		"redis://h:6379/0":               "redis://h:6379/0",
	} {
		if got := MaskURL(in); got != want {
			t.Errorf("%s: %s", in, got)
		}
	}
}

// A bad value of a flag that holds a secret is never echoed.
func TestApplyEnvMasksBadSecretValues(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	var n int
	fs.IntVar(&n, "token", 0, "") // a secret flag whose value cannot parse
	t.Setenv("WDTCANCEL_API_TOKEN", "s3cretTok3n")
	err := ApplyEnv("api", fs)
	if err == nil || strings.Contains(err.Error(), "s3cretTok3n") || !strings.Contains(err.Error(), "WDTCANCEL_API_TOKEN") {
		t.Fatalf("bad secret value: %v", err)
	}
}

func TestApplyEnv(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	var r Redis
	r.AddFlags(fs)
	var conc int
	fs.IntVar(&conc, "concurrency", 10, "")
	var secret string
	fs.StringVar(&secret, "appsecret", "", "")
	t.Setenv("REDIS_URL", "redis://env:6379/1")
	t.Setenv("WDTCANCEL_CONCURRENCY", "notanumber")
	t.Setenv("WDT_APPSECRET", "a:b")
	if err := fs.Parse([]string{"--redis-url", "redis://flag:6379/2"}); err != nil {
		t.Fatal(err)
	}
	err := ApplyEnv("worker", fs)
	// An ordinary bad value is shown, so the operator sees what to fix.
	if err == nil || !strings.Contains(err.Error(), "WDTCANCEL_CONCURRENCY") || !strings.Contains(err.Error(), `"notanumber"`) {
		t.Fatalf("bad env value: %v", err)
	}
	if r.URL != "redis://flag:6379/2" {
		t.Fatalf("flag did not win over env: %s", r.URL)
	}
	if secret != "a:b" {
		t.Fatalf("WDT_APPSECRET not applied")
	}
	for flag, env := range map[string]string{"redis-url": "REDIS_URL", "sid": "WDT_SID", "rate-per-minute": "WDTCANCEL_RATE_PER_MINUTE", "token": "WDTCANCEL_API_TOKEN"} {
		if got := EnvName(flag); got != env {
			t.Errorf("%s -> %s, want %s", flag, got, env)
		}
	}
}

// TestSentinelAndClusterCredentials: the password of a redis-sentinel://
// URL is the data nodes' (asynq's parser gave it to the sentinels only and
// dropped the database: a Redis with a password answered NOAUTH), and a
// Cluster address may carry one; no error shows it. Found by an outside
// tester with a provider-style Sentinel and Cluster.
func TestSentinelAndClusterCredentials(t *testing.T) {
	const pw = "Dat4Pw-s3cr3t"
	o, err := (&Redis{URL: "redis-sentinel://app:" + pw + "@s1:26379,s2:26379/3?master=mymaster&sentinel_password=sent"}).ConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	f := o.(asynq.RedisFailoverClientOpt)
	if f.Password != pw || f.Username != "app" || f.SentinelPassword != "sent" || f.DB != 3 || f.MasterName != "mymaster" || len(f.SentinelAddrs) != 2 {
		t.Fatalf("sentinel options %+v", f)
	}
	c, err := (&Redis{Cluster: []string{":" + pw + "@n1:7000", "n2:7001"}}).ConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	co := c.(ClusterConnOpt)
	if co.Password != pw || strings.Join(co.Addrs, ",") != "n1:7000,n2:7001" {
		t.Fatalf("cluster options %+v", co.RedisClusterClientOpt)
	}
	for _, bad := range []Redis{
		{URL: "redis-sentinel://:" + pw + "@s1:26379/0"},             // no master
		{URL: "redis-sentinel://:" + pw + "@s1/0?master=m"},          // no port
		{URL: "redis-sentinel://:" + pw + "@s1:26379/x?master=m"},    // bad db
		{Cluster: []string{":" + pw + "@n1:7000", ":other@n2:7001"}}, // two passwords
		{Cluster: []string{":" + pw + "@n1"}},                        // no port
	} {
		_, err := bad.ConnOpt()
		if err == nil {
			t.Errorf("%+v accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(bad.String(), pw) {
			t.Errorf("the password shows: %v / %s", err, bad.String())
		}
	}
}

// TestRedisURLUsername: an ACL user in a redis:// or rediss:// URL reaches
// the connection (asynq's parser drops it), and is really used: a Redis
// whose default user is off answers that user's commands.
func TestRedisURLUsername(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url, user, password string
	}{
		{"redis://adm:pw@127.0.0.1:6379/0", "adm", "pw"},
		{"rediss://adm:pw@127.0.0.1:6379/1", "adm", "pw"},
		{"redis://:pw@127.0.0.1:6379/0", "", "pw"},
		{"redis://127.0.0.1:6379/0", "", ""},
	} {
		opt, err := (&Redis{URL: tt.url}).ConnOpt()
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		o := opt.(asynq.RedisClientOpt)
		if o.Username != tt.user || o.Password != tt.password {
			t.Errorf("%s: user %q password %q, want %q %q", tt.url, o.Username, o.Password, tt.user, tt.password)
		}
	}

	r := testkit.NewRedis(t)
	if !r.Real {
		t.Skip("ACL users need a real redis-server")
	}
	admin := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer admin.Close()
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "adm", "on", ">admpw", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "off").Err(); err != nil {
		t.Fatal(err)
	}
	opt, err := (&Redis{URL: "redis://adm:admpw@" + r.Addr + "/0"}).ConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	who, err := rdb.Do(ctx, "ACL", "WHOAMI").Text()
	if err != nil || who != "adm" {
		t.Fatalf("ACL WHOAMI = %q, %v; want adm", who, err)
	}
}

package main

import (
	"context"
	"strings"
	"testing"
)

// TestRedisURLErrorsNeverShowThePassword runs every command that opens
// Redis with malformed URLs holding a password (REDIS_URL, as the outside
// tester set it, and REDIS_CLUSTER): each is refused (exit 2) with a reason
// and the percent-encoding hint, and no output shows the password or the
// pieces url.Parse cuts it into (it printed `invalid port ":Pa55" after
// host`, and the whole of redis//:S3cretPw@... and of a bare S3cretPw).
func TestRedisURLErrorsNeverShowThePassword(t *testing.T) {
	commands := [][]string{
		{"worker", "--wdt-url", "http://127.0.0.1:1/openapi", "--appsecret", "s:s", "--sid", "sid", "--appkey", "key"},
		{"enqueue", "RK2009"},
		{"api", "--listen", "127.0.0.1:0", "--allow-unauthenticated"},
		{"status", "RK2009"},
		{"dlq", "ls"},
		{"strays", "ls"},
	}
	urls := []struct {
		env, value string
		secrets    []string
		want       string // in the error
	}{
		{"REDIS_URL", "redis://:Pa55#Xw0rd@127.0.0.1:1/0", []string{"Pa55", "Xw0rd"}, "%23"},
		{"REDIS_URL", "redis://:Pa55/Xw0rd@127.0.0.1:1/0", []string{"Pa55", "Xw0rd"}, "%2F"},
		{"REDIS_URL", "redis://:Pa55?Xw0rd@127.0.0.1:1/0", []string{"Pa55", "Xw0rd"}, "%3F"},
		{"REDIS_URL", "redis://:1234#Xw0rd@127.0.0.1:1/0", []string{"1234", "Xw0rd"}, "%23"},
		{"REDIS_URL", "redis://:12?34Xw@127.0.0.1:1/0", []string{"12?34", "34Xw"}, "%3F"},
		{"REDIS_URL", "redis//:S3cretPw@127.0.0.1:1/0", []string{"S3cretPw"}, "redis://"},
		{"REDIS_URL", "redis:/:S3cretPw@127.0.0.1:1/0", []string{"S3cretPw"}, "redis://"},
		{"REDIS_URL", "S3cretPw", []string{"S3cretPw"}, "redis://"},
		{"REDIS_URL", "rediss://:Pa55#Xw0rd@127.0.0.1:1/0", []string{"Pa55", "Xw0rd"}, "%23"},
		{"REDIS_URL", "redis-sentinel://:Pa55#Xw0rd@127.0.0.1:1/0?master=m", []string{"Pa55", "Xw0rd"}, "%23"},
		{"REDIS_CLUSTER", ":Pa55,Xw0rd@127.0.0.1:1", []string{"Pa55", "Xw0rd"}, "double quotes"},
		{"REDIS_CLUSTER", "S3cretPw", []string{"S3cretPw"}, "host:port"},
		{"REDIS_CLUSTER", `:Pa55"Xw0rd@127.0.0.1:1`, []string{"Pa55", "Xw0rd"}, "not shown"},
	}
	for _, u := range urls {
		for _, args := range commands {
			t.Run(u.value+"/"+strings.Join(args[:1], ""), func(t *testing.T) {
				t.Setenv(u.env, u.value)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				out, errOut, code := runCmd(t, ctx, "", args...)
				if code != 2 {
					t.Fatalf("exit %d, want 2; stderr:\n%s", code, errOut)
				}
				if !strings.Contains(errOut, u.want) {
					t.Errorf("stderr does not say %q:\n%s", u.want, errOut)
				}
				for _, s := range u.secrets {
					if strings.Contains(out+errOut, s) {
						t.Errorf("%q shows:\n%s%s", s, out, errOut)
					}
				}
			})
		}
	}
}

// TestSecretFlagValueNotEchoed: pflag's own error for a value it cannot
// read quotes the value (`invalid argument ":Pa55\"Xw0rd@h:1" for
// "--redis-cluster" flag`); for a flag that holds a secret it is not shown,
// from the command line or the environment.
func TestSecretFlagValueNotEchoed(t *testing.T) {
	const v = `:Pa55"Xw0rd@127.0.0.1:1`
	for _, tt := range []struct {
		name string
		env  bool
	}{{"flag", false}, {"environment", true}} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"status", "RK2009"}
			if tt.env {
				t.Setenv("REDIS_CLUSTER", v)
			} else {
				args = append(args, "--redis-cluster", v)
			}
			out, errOut, code := runCmd(t, context.Background(), "", args...)
			if code != 2 || !strings.Contains(errOut, "not shown") {
				t.Fatalf("exit %d, want 2 saying the value is not shown; stderr:\n%s", code, errOut)
			}
			for _, s := range []string{"Pa55", "Xw0rd"} {
				if strings.Contains(out+errOut, s) {
					t.Errorf("%q shows:\n%s", s, errOut)
				}
			}
		})
	}
}

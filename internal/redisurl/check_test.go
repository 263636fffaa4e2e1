package redisurl

import (
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

// LeakCases are Redis URLs whose password (Pa55, Xw0rd, 12, 34, S3cretPw
// and the like) an error must never show, with the fragments url.Parse
// cuts it into. Found by an outside tester: `invalid port ":Pa55" after
// host`, and the whole URL for redis//: and a bare password.
var leakCases = []struct {
	name, url string
	secrets   []string
}{
	{"hash in password", "redis://:Pa55#Xw0rd@127.0.0.1:1/0", []string{"Pa55", "Xw0rd"}},
	{"slash in password", "redis://:Pa55/Xw0rd@127.0.0.1:1/0", []string{"Pa55", "Xw0rd"}},
	{"question mark in password", "redis://:Pa55?Xw0rd@127.0.0.1:1/0", []string{"Pa55", "Xw0rd"}},
	{"user and hash", "redis://app:Pa55#Xw0rd@127.0.0.1:1/0", []string{"Pa55", "Xw0rd"}},
	{"numeric half before hash", "redis://:1234#Xw0rd@127.0.0.1:1/0", []string{"1234", "Xw0rd"}},
	{"user and numeric half before hash", "redis://app:1234#Xw0rd@127.0.0.1:1/0", []string{"1234", "Xw0rd"}},
	{"numeric half before slash", "redis://:12/34@127.0.0.1:1/0", []string{"12/34", "34@"}},
	{"numeric half before question mark", "redis://:12?34@127.0.0.1:1/0", []string{"12?34", "34@"}},
	{"no colon after scheme", "redis//:S3cretPw@127.0.0.1:1/0", []string{"S3cretPw"}},
	{"one slash", "redis:/:S3cretPw@127.0.0.1:1/0", []string{"S3cretPw"}},
	{"bare password", "S3cretPw", []string{"S3cretPw"}},
	{"bad escape", "redis://:Pa5%zzXw0rd@127.0.0.1:1/0", []string{"Pa5", "zzXw0rd"}},
	{"space in password", "redis://:Pa55 Xw0rd@127.0.0.1:1/0", []string{"Pa55", "Xw0rd"}},
	{"tab in password", "redis://:Pa55\tXw0rd@127.0.0.1:1/0", []string{"Pa55", "Xw0rd"}},
	{"tls with hash", "rediss://:Pa55#Xw0rd@127.0.0.1:1/0", []string{"Pa55", "Xw0rd"}},
	{"sentinel with hash", "redis-sentinel://:Pa55#Xw0rd@127.0.0.1:26379/0?master=m", []string{"Pa55", "Xw0rd"}},
	{"sentinel with question mark", "redis-sentinel://:12?34@127.0.0.1:26379?master=m", []string{"12?34", "34@"}},
	{"sentinel with slash", "redis-sentinel://:12/34@127.0.0.1:26379?master=m", []string{"12/34", "34@"}},
	{"sentinel no master", "redis-sentinel://:S3cretPw@127.0.0.1:26379/0", []string{"S3cretPw"}},
	{"wrong scheme", "mysql://:S3cretPw@127.0.0.1/0", []string{"S3cretPw"}},
	{"bad database", "redis://:S3cretPw@127.0.0.1:1/x", []string{"S3cretPw"}},
}

// TestParseNeverShowsThePassword: every malformed URL is refused, and
// neither the error nor MaskURL shows the password or a piece of it.
func TestParseNeverShowsThePassword(t *testing.T) {
	for _, tt := range leakCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.url)
			if err == nil {
				t.Fatalf("%q accepted", tt.url)
			}
			for _, s := range tt.secrets {
				if strings.Contains(err.Error(), s) || strings.Contains(MaskURL(tt.url), s) {
					t.Errorf("%q shows in %q / %q", s, err, MaskURL(tt.url))
				}
			}
			if !strings.Contains(err.Error(), "%23") {
				t.Errorf("error does not suggest percent-encoding: %v", err)
			}
		})
	}
}

// TestParseAcceptsEncodedPasswords: the fix the errors suggest works, and
// the password reaches the connection decoded.
func TestParseAcceptsEncodedPasswords(t *testing.T) {
	for _, tt := range []struct{ url, pw string }{
		{"redis://:Pa55%23Xw0rd@127.0.0.1:6379/0", "Pa55#Xw0rd"},
		{"redis://:Pa55%2Fw%3Ford%40x@127.0.0.1:6379/0", "Pa55/w?ord@x"},
		{"redis://:p@ss@127.0.0.1:6379/0", "p@ss"},
		{"  redis://:pw@127.0.0.1:6379/2  ", "pw"},
		{"rediss://app:Pa55%23Xw0rd@127.0.0.1:6379/0", "Pa55#Xw0rd"},
	} {
		opt, err := Parse(tt.url)
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		if o, ok := opt.(asynq.RedisClientOpt); !ok || o.Password != tt.pw {
			t.Errorf("%s: options %+v, want password %q", tt.url, opt, tt.pw)
		}
	}
	s, err := Parse("redis-sentinel://:Pa55%23Xw0rd@127.0.0.1:26379/0?master=m&sentinel_password=S%40nt")
	if o, ok := s.(asynq.RedisFailoverClientOpt); err != nil || !ok || o.Password != "Pa55#Xw0rd" || o.SentinelPassword != "S@nt" {
		t.Errorf("sentinel: %+v, %v", s, err)
	}
}

// TestClusterNeverShowsThePassword: a cluster address that does not read
// is named by its place in the list, never quoted.
func TestClusterNeverShowsThePassword(t *testing.T) {
	for _, tt := range []struct {
		name    string
		addrs   []string
		secrets []string
	}{
		{"bare password", []string{"S3cretPw"}, []string{"S3cretPw"}},
		{"comma split the password", []string{":Pa55", "Xw0rd@127.0.0.1:7000"}, []string{"Pa55", "Xw0rd"}},
		{"user and comma split", []string{"app:Pa55", "Xw0rd@127.0.0.1:7000"}, []string{"Pa55", "Xw0rd"}},
		{"no port", []string{":S3cretPw@127.0.0.1"}, []string{"S3cretPw"}},
		{"port not a number", []string{":S3cretPw@127.0.0.1:Pa55"}, []string{"S3cretPw", "Pa55"}},
		{"two passwords", []string{":S3cretPw@n1:7000", ":Other9@n2:7000"}, []string{"S3cretPw", "Other9"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Cluster(tt.addrs)
			if err == nil {
				t.Fatalf("%q accepted", tt.addrs)
			}
			for _, s := range tt.secrets {
				for _, a := range tt.addrs {
					if strings.Contains(err.Error(), s) || strings.Contains(MaskClusterAddr(a), s) {
						t.Errorf("%q shows in %q / %q", s, err, MaskClusterAddr(a))
					}
				}
			}
		})
	}
}

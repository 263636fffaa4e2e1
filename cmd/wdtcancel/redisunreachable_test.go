package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/config"
)

// TestRedisUnreachableNamesTheSettingInUse: the fix names the setting that
// chose this Redis; a cluster login refused used to be told to check
// REDIS_URL, which was not in use. The password is never shown.
func TestRedisUnreachableNamesTheSettingInUse(t *testing.T) {
	for _, tt := range []struct {
		name      string
		r         config.Redis
		err       error
		want, not string
	}{
		{"url login", config.Redis{URL: "redis://u:S3crtPw@127.0.0.1:6379/0"}, errors.New("WRONGPASS invalid username-password pair"), "REDIS_URL / --redis-url", "REDIS_CLUSTER"},
		{"cluster login", config.Redis{URL: "redis://u:S3crtPw@127.0.0.1:6379/0", Cluster: []string{"u:S3crtPw@10.0.0.1:7000"}}, errors.New("WRONGPASS invalid username-password pair"), "REDIS_CLUSTER / --redis-cluster", "REDIS_URL"},
		{"cluster down", config.Redis{Cluster: []string{"u:S3crtPw@10.0.0.1:7000"}}, errors.New("dial tcp 10.0.0.1:7000: connection refused"), "point REDIS_CLUSTER / --redis-cluster at it", "REDIS_URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := redisUnreachable(&tt.r, tt.err).Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, tt.not) || strings.Contains(msg, "S3crtPw") {
				t.Fatalf("%q: want it to say %q, not %q, and never the password", msg, tt.want, tt.not)
			}
		})
	}
}

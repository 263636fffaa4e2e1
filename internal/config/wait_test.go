package config

import "testing"

func TestRedisWaitCount(t *testing.T) {
	sentinel := &Redis{URL: "redis-sentinel://s1:26379,s2:26379/0?master=m"}
	plain := &Redis{URL: DefaultRedisURL}
	cluster := &Redis{URL: DefaultRedisURL, Cluster: []string{"n1:7000"}}
	tests := []struct {
		name    string
		value   string
		redis   *Redis
		want    int
		wantErr bool
	}{
		{"auto on sentinel", "auto", sentinel, 1, false},
		{"auto on cluster", "auto", cluster, 1, false},
		{"auto on one redis", "auto", plain, 0, false},
		{"empty is auto", "", sentinel, 1, false},
		{"off on sentinel", "0", sentinel, 0, false},
		{"two", "2", plain, 2, false},
		{"negative", "-1", plain, 0, true},
		{"word", "yes", plain, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := RedisWait{Replicas: tt.value}
			got, err := w.Count(tt.redis)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Count(%q) = %d, %v; want %d, error %v", tt.value, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

package enqueue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

func TestCheckRedisEviction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		policy string
		evicts bool
	}{
		{"noeviction", false},
		{"allkeys-lru", true},
		{"volatile-lru", true},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			t.Parallel()
			r := testkit.NewRedisWith(t, testkit.RedisOptions{MaxmemoryPolicy: tt.policy})
			if !r.Real {
				t.Skip("maxmemory-policy needs a real redis-server; testkit.NewRedis fell back to miniredis")
			}
			opt, _ := asynq.ParseRedisURI(r.URL())
			c, err := New(opt)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			policy, err := c.CheckRedis(context.Background())
			if policy != tt.policy || errors.Is(err, ErrEviction) != tt.evicts || (!tt.evicts && err != nil) {
				t.Fatalf("policy %q err %v", policy, err)
			}
			if tt.evicts && (!strings.Contains(err.Error(), tt.policy) || !strings.Contains(err.Error(), "CONFIG SET maxmemory-policy noeviction")) {
				t.Fatalf("message without the policy and the fix: %v", err)
			}
		})
	}
}

func TestCheckRedisNotReportedOrUnreachable(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedisWith(t, testkit.RedisOptions{Embedded: true})
	opt, _ := asynq.ParseRedisURI(r.URL())
	c, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if policy, err := c.CheckRedis(context.Background()); policy != "" || err != nil {
		t.Fatalf("miniredis: %q %v", policy, err)
	}

	down, err := New(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if _, err := down.CheckRedis(context.Background()); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrEviction) {
		t.Fatalf("unreachable: %v", err)
	}
}

package enqueue

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
)

func TestCheckRedisDurability(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    testkit.RedisOptions
		allow   bool
		wantErr bool
		durable bool
		allowed bool
	}{
		{"aof everysec", testkit.RedisOptions{}, false, false, true, false},
		{"snapshot-only refused", testkit.RedisOptions{NoAOF: true, Save: "3600 1"}, false, true, false, false},
		{"snapshot-only allowed", testkit.RedisOptions{NoAOF: true, Save: "3600 1"}, true, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := testkit.NewRedisWith(t, tt.opts)
			if !r.Real {
				t.Skip("persistence needs a real redis-server; testkit.NewRedis fell back to miniredis")
			}
			opt, _ := asynq.ParseRedisURI(r.URL())
			opts := []ClientOption{WithWaitReplicas(AutoReplicas, 0)}
			if tt.allow {
				opts = append(opts, WithAllowVolatileRedis())
			}
			c, err := New(opt, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.CheckRedis(context.Background())
			if (err != nil) != tt.wantErr || (err != nil && (!errors.Is(err, ErrVolatile) || !strings.Contains(err.Error(), "CONFIG SET appendonly yes"))) {
				t.Fatalf("CheckRedis = %v", err)
			}
			if d := c.Durability(); !d.Checked || d.Durable != tt.durable || d.Allowed != tt.allowed {
				t.Fatalf("Durability = %+v", d)
			}
			if tt.wantErr {
				return
			}
			// auto on a Redis without replicas waits for none: the
			// enqueue is acknowledged, not unknown (issue 20: 0 of 1
			// replicas on a Cluster without replicas).
			res, err := c.Cancel(context.Background(), "DUR1")
			if err != nil || res.Result != Enqueued {
				t.Fatalf("Cancel = %+v, %v", res, err)
			}
		})
	}
}

// TestCheckRedisEmbeddedAllowed: the test kit's miniredis cannot report
// its persistence; it is marked embedded, so it runs with the gap shown.
func TestCheckRedisEmbeddedAllowed(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedisWith(t, testkit.RedisOptions{Embedded: true})
	opt, _ := asynq.ParseRedisURI(r.URL())
	c, err := New(opt, WithWaitReplicas(AutoReplicas, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CheckRedis(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := c.Durability(); d.Durable || !d.Allowed || !strings.Contains(d.Problem.Error(), "does not say") {
		t.Fatalf("Durability = %+v", d)
	}
}

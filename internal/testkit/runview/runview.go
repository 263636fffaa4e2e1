// Package runview reads both views of a wdtcancel run for package
// reconcile: the sandbox's orders, the dead-letter list, asynq's tasks. It
// is the part of the test kit that knows the product (the sandbox's orders
// as reconcile.Order, the store's keys), kept apart from internal/testkit so the store's
// and the sandbox's own tests can use the kit without an import cycle.
// Tests only.
package runview

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/reconcile"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// WriteOrders writes a sandbox orders file (`--orders`, lines "NO STATE")
// in dir: the numbers of nos that states lists, in that order. A number
// states does not list is left out, for `--unknown` to decide.
func WriteOrders(t testing.TB, dir string, nos []string, states map[string]int) string {
	t.Helper()
	var b strings.Builder
	for _, no := range nos {
		if st, ok := states[no]; ok {
			fmt.Fprintf(&b, "%s %d\n", no, st)
		}
	}
	path := filepath.Join(dir, "orders.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// SandboxOrders reads every order of the sandbox at addr
// (GET /_sandbox/orders), and the answer's body.
func SandboxOrders(t testing.TB, addr string) ([]reconcile.Order, []byte) {
	t.Helper()
	var orders []reconcile.Order
	code, b := testkit.GetJSON(t, "http://"+addr+"/_sandbox/orders", &orders)
	if code != 200 {
		t.Fatalf("GET /_sandbox/orders: %d %.300s", code, b)
	}
	return orders, b
}

// ParseDLQ reads the output of `wdtcancel dlq ls --json` by number.
func ParseDLQ(t testing.TB, out string) map[string]reconcile.DeadLetter {
	t.Helper()
	var list []reconcile.DeadLetter
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("dlq ls --json: %v: %.300s", err, out)
	}
	m := make(map[string]reconcile.DeadLetter, len(list))
	for _, r := range list {
		m[r.PreStockinNo] = r
	}
	return m
}

// View is wdtcancel's view of nos for reconcile: each number's task in the
// default queue of the Redis at redisURL, and its dead-letter record in
// dead (ParseDLQ).
func View(t testing.TB, redisURL string, dead map[string]reconcile.DeadLetter, nos []string) map[string]reconcile.Number {
	t.Helper()
	insp := inspector(t, redisURL)
	defer insp.Close()
	view := make(map[string]reconcile.Number, len(nos))
	for _, no := range nos {
		task, err := insp.GetTaskInfo(tasks.DefaultQueue, no)
		if err != nil {
			task = nil
		}
		var rec *reconcile.DeadLetter
		if r, ok := dead[no]; ok {
			rec = &r
		}
		view[no] = reconcile.NumberOf(task, rec)
	}
	return view
}

func inspector(t testing.TB, redisURL string) *asynq.Inspector {
	t.Helper()
	conn, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	return asynq.NewInspector(conn)
}

// WaitSettled waits up to within until the default queue holds nothing
// pending, active, scheduled or retrying and at least want numbers are
// done or dead, and returns how long that took. Dead is counted from
// wdtcancel's own dead-letter store as well as asynq's archive, which asynq
// trims at 10,000 tasks.
func WaitSettled(t testing.TB, redisURL string, want int, within time.Duration) time.Duration {
	t.Helper()
	insp := inspector(t, redisURL)
	defer insp.Close()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	start := time.Now()
	var q *asynq.QueueInfo
	for time.Since(start) < within {
		q, err = insp.GetQueueInfo(tasks.DefaultQueue)
		if err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0 {
			dead, _ := rdb.HLen(context.Background(), store.DeadLetterKey(tasks.DefaultQueue)).Result()
			if q.Completed+max(q.Archived, int(dead)) >= want {
				return time.Since(start)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not settled within %s: %+v %v", within, q, err)
	return 0
}

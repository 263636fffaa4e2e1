package worker_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOpsEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"OP80": 80}})
	w := h.startWorker(nil)
	h.enqueue("OP1", "OP80")
	h.settled("OP1")
	h.settled("OP80")
	// asynq's own metrics and asynqmon read the archive.
	h.waitTask("OP80", asynq.TaskStateArchived)
	base := "http://" + w.OpsAddr()

	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz %d %s", code, body)
	}
	var rep worker.ReadyReport
	if code := getJSON(t, base+"/readyz", &rep); code != 200 || !rep.Ready || rep.Redis != "ok" {
		t.Fatalf("readyz %d %+v", code, rep)
	}
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("metrics %d", code)
	}
	for _, want := range []string{
		`wdtcancel_calls_total{category="cancelled",seller="default"} 1`,
		`wdtcancel_calls_total{category="rejected",seller="default"} 1`,
		`wdtcancel_call_duration_seconds_bucket{category="cancelled",seller="default",`,
		`wdtcancel_clock_offset_seconds{seller="default"} 0`,
		`wdtcancel_dead_letters{seller="default"} 1`,
		`wdtcancel_dead_lettered_total{category="rejected",seller="default"} 1`,
		`wdtcancel_rate_limit_waits_total{reason="share",seller="default"} 0`,
		`wdtcancel_cooldowns_total{seller="default"} 0`,
		`wdtcancel_config_fault{seller="default"} 0`,
		`wdtcancel_breaker_open{seller="default"} 0`,
		`wdtcancel_unknown_seller_queues 0`,
		`wdtcancel_dead_lettered_total{category="exhausted",seller="default"} 0`,
		`wdtcancel_dead_lettered_ambiguous_total{category="rejected",seller="default"} 0`,
		`wdtcancel_redis_evicting 0`,
		`asynq_tasks_enqueued_total{queue="wdt-cancel",state="archived"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	assertNoSecret(t, body)

	// asynqmon: the UI page and its API, read-only.
	if code, body := get(t, base+"/monitoring/"); code != 200 || !strings.Contains(body, "<div id=\"root\">") {
		t.Fatalf("monitoring page %d %.200s", code, body)
	}
	code, body = get(t, base+"/monitoring/api/queues/wdt-cancel/archived_tasks")
	if code != 200 || !strings.Contains(body, "OP80") || !strings.Contains(body, "rejected: WDT status 100") {
		t.Fatalf("asynqmon archived tasks %d %s", code, body)
	}
	assertNoSecret(t, body)
	req, _ := http.NewRequest(http.MethodDelete, base+"/monitoring/api/queues/wdt-cancel/archived_tasks/OP80", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("read-only asynqmon allowed a DELETE: %d", resp.StatusCode)
	}
	if _, err := h.insp.GetTaskInfo("wdt-cancel", "OP80"); err != nil {
		t.Fatalf("archived task gone after refused delete: %v", err)
	}

	// Shutdown turns readiness red before anything else stops.
	w.Readiness().ShuttingDown()
	if code := getJSON(t, base+"/readyz", &rep); code != 503 || rep.Ready {
		t.Fatalf("readyz while shutting down %d %+v", code, rep)
	}
}

func TestReadinessRedWhenRedisDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	if !h.redis.Real {
		t.Skip("stopping Redis needs a real redis-server")
	}
	w := h.startWorker(nil)
	base := "http://" + w.OpsAddr()
	if err := h.redis.Stop(); err != nil {
		t.Fatal(err)
	}
	var rep worker.ReadyReport
	if code := getJSON(t, base+"/readyz", &rep); code != 503 || rep.Redis != "unreachable" {
		t.Fatalf("readyz with Redis down %d %+v", code, rep)
	}
	if err := h.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	// The test's Redis keeps its data in an AOF (the test kit's default), so
	// the restart is no loss: readiness recovers without an acknowledgement
	// (the empty restart is TestLossEmptyRestart's, and fault scenario 16's).
	testkit.Until(t, "readiness to recover", func() bool { return getJSON(t, base+"/readyz", &rep) == 200 && rep.Ready })
	h.enqueue("AFTER1")
	if a := h.settled("AFTER1"); a.Action != worker.ActDone {
		t.Fatalf("after Redis came back: %v", a)
	}
}

func assertNoSecret(t *testing.T, s string) {
	t.Helper()
	for _, bad := range []string{testSecret, testSalt} {
		if strings.Contains(s, bad) {
			t.Fatalf("secret part %q exposed", bad)
		}
	}
}

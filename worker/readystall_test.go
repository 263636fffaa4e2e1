package worker_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestReadyzAnswersWhileRedisStalls: with Redis stopped (SIGSTOP: the
// connection stays open, nothing answers) /readyz answers 503 saying
// Redis did not answer, well within the healthcheck's default 3 s; an
// outside tester saw it take about 5 s, so `wdtcancel healthcheck`
// reported "no answer ... is this its --listen address?". Asked again
// while the first probe is still waiting, it answers as fast; once Redis
// resumes it is 200 again.
func TestReadyzAnswersWhileRedisStalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	w := h.startWorker(nil)
	ready := "http://" + w.OpsAddr() + "/readyz"
	if code := getJSON(t, ready, nil); code != 200 {
		t.Fatalf("readyz before the stall: %d", code)
	}
	h.redis.Pause(t)
	client := &http.Client{Timeout: 20 * time.Second} // a failsafe, not the bound
	for i := range 3 {
		start := time.Now()
		resp, err := client.Get(ready)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		var rep worker.ReadyReport
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatalf("not JSON: %q", b)
		}
		t.Logf("readyz %d with Redis stopped: %d in %s: %s", i+1, resp.StatusCode, took.Round(time.Millisecond), b)
		if resp.StatusCode != 503 || rep.Ready || rep.Redis != "unreachable" || !strings.Contains(strings.Join(rep.Reasons, " "), "did not answer within") {
			t.Fatalf("readyz with Redis stopped: %d %+v", resp.StatusCode, rep)
		}
		if took > 2500*time.Millisecond {
			t.Fatalf("readyz took %s with Redis stopped: over the healthcheck's default 3 s less a margin", took)
		}
	}
	if err := h.redis.Resume(); err != nil {
		t.Fatal(err)
	}
	testkit.Until(t, "readyz 200 after Redis resumed", func() bool { return getJSON(t, ready, nil) == 200 })
}

package worker_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// RequireBrowserEnv makes a missing chromium a failure instead of a skip
// (CI installs it).
const requireBrowserEnv = "WDTCANCEL_REQUIRE_BROWSER"

// screenshotDirEnv, when set, keeps PNG screenshots of the pages checked.
const screenshotDirEnv = "WDTCANCEL_SCREENSHOT_DIR"

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if v, _ := strconv.ParseBool(os.Getenv(requireBrowserEnv)); v {
		t.Fatal("no chromium on PATH and " + requireBrowserEnv + " is set: apt-get install -y chromium")
	}
	t.Skip("no chromium on PATH")
	return ""
}

// browse renders url in headless chromium, running its JavaScript, and
// returns the resulting DOM; with shot != "" it also saves a screenshot.
func browse(t *testing.T, bin, url, shot string) string {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1400,900", "--virtual-time-budget=8000"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if shot != "" {
		cmd := exec.CommandContext(ctx, bin, append(args, "--screenshot="+shot, url)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("screenshot: %v: %s", err, out)
		}
	}
	out, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", url)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	return string(out)
}

// TestAsynqmonRendersArchivedTask opens asynqmon in a real headless browser
// and checks that the dead-lettered task's page shows the number and the
// reason: what an operator sees.
func TestAsynqmonRendersArchivedTask(t *testing.T) {
	t.Parallel()
	bin := chromium(t)
	h := newHarness(t, sandbox.Options{Orders: map[string]int{"RK2004210014": 80}})
	w := h.startWorker(nil)
	h.enqueue("RK2004210014", "RK2004210015")
	h.settled("RK2004210015")
	h.settled("RK2004210014")
	h.waitTask("RK2004210014", asynq.TaskStateArchived) // asynqmon reads the archive
	base := "http://" + w.OpsAddr() + "/monitoring"

	dir := os.Getenv(screenshotDirEnv)
	shot := func(name string) string {
		if dir == "" {
			return ""
		}
		os.MkdirAll(dir, 0o755)
		return filepath.Join(dir, name)
	}
	pages := []struct {
		path, shot string
		want       []string
	}{
		{"/queues/wdt-cancel/tasks/RK2004210014", "asynqmon-archived-task.png",
			[]string{"RK2004210014", "rejected: WDT status 100: 入库单状态不为待审核或编辑中", "archived"}},
		{"/queues/wdt-cancel?status=archived", "asynqmon-archived-list.png",
			[]string{"RK2004210014", "rejected: WDT status 100"}},
	}
	for _, p := range pages {
		dom := browse(t, bin, base+p.path, shot(p.shot))
		for _, want := range p.want {
			if !strings.Contains(strings.ToLower(dom), strings.ToLower(want)) {
				t.Errorf("%s: rendered page lacks %q (%d bytes of DOM)", p.path, want, len(dom))
			}
		}
		assertNoSecret(t, dom)
	}
}

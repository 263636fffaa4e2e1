package worker_test

import (
	"context"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
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

var (
	tagRE = regexp.MustCompile(`<[^>]*>`)
	// idCellRE finds what asynqmon's task tables print in the ID column:
	// the text before the "copy full ID" button of a row's header cell.
	idCellRE = regexp.MustCompile(`<th[^>]*scope="row"[^>]*>\s*<div[^>]*>([^<]*)<`)
)

// squeeze is the text a reader sees in dom, without tags or white space:
// asynqmon pretty-prints JSON over several lines and highlights each token
// in its own element.
func squeeze(dom string) string {
	return strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(dom, " "))), "")
}

// idCells lists what the ID column of a rendered task table shows.
func idCells(dom string) []string {
	var ids []string
	for _, m := range idCellRE.FindAllStringSubmatch(dom, -1) {
		ids = append(ids, strings.TrimSpace(html.UnescapeString(m[1])))
	}
	return ids
}

// completeWithResult completes a cancel task for no on a queue of its own,
// keeping worker.TaskResult's bytes as its result the way the handler does.
// It stands in while the handler does not write the result itself.
func completeWithResult(t *testing.T, h *harness, queue, no string) {
	t.Helper()
	srv := asynq.NewServer(h.conn, asynq.Config{
		Concurrency: 1, Queues: map[string]int{queue: 1}, LogLevel: asynq.ErrorLevel,
		TaskCheckInterval: 20 * time.Millisecond,
	})
	err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		_, err := task.ResultWriter().Write(worker.TaskResult(1, 1))
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	task, err := tasks.NewCancelTask(no, "browser-test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cl := asynq.NewClient(h.conn)
	defer cl.Close()
	if _, err := cl.Enqueue(task, asynq.Queue(queue), asynq.TaskID(no), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	testkit.Until(t, no+" on "+queue+" completed", func() bool {
		info, err := h.insp.GetTaskInfo(queue, no)
		return err == nil && info.State == asynq.TaskStateCompleted
	})
}

// TestAsynqmonRendersArchivedTask opens asynqmon in a real headless browser
// and checks what an operator sees: the dead-lettered task's number and
// reason, without asynq's SkipRetry text; a completed task's result as JSON,
// not "non-printable bytes"; payloads as text; and the ID column, which
// shows an ID up to its first '-'.
func TestAsynqmonRendersArchivedTask(t *testing.T) {
	t.Parallel()
	bin := chromium(t)
	const (
		dead      = "RK2004210014"
		done      = "RK2004210015"
		dashed    = "RK-2004210016" // asynqmon's ID column shows "RK"
		resultQ   = "browser-result"
		resultNo  = "RK2004210017"
		lastError = "rejected: WDT status 100: 入库单状态不为待审核或编辑中"
	)
	wantResult := string(worker.TaskResult(1, 1))
	h := newHarness(t, sandbox.Options{Orders: map[string]int{dead: 80}})
	w := h.startWorker(nil)
	h.enqueue(dead, done, dashed)
	if info := h.waitTask(dead, asynq.TaskStateArchived); info.LastErr != lastError {
		t.Errorf("last error %q, want %q", info.LastErr, lastError)
	}
	// asynq logs its archive line before it archives.
	for _, e := range h.logs.All() {
		if strings.Contains(e.Message, "Retry exhausted") {
			t.Errorf("asynq's archive warning passed through: %s %q", e.Level, e.Message)
		}
	}
	if n := h.logs.FilterMessage("asynq archived the task").FilterField(zap.String("task_id", dead)).Len(); n != 1 {
		t.Errorf("%d debug lines for asynq archiving %s, want 1", n, dead)
	}
	h.waitTask(dashed, asynq.TaskStateCompleted)
	doneInfo := h.waitTask(done, asynq.TaskStateCompleted)
	handlerWritesResult := len(doneInfo.Result) > 0
	if handlerWritesResult {
		if got := string(doneInfo.Result); got != wantResult {
			t.Errorf("%s: result %q, want %q", done, got, wantResult)
		}
	} else {
		t.Logf("the handler keeps no result yet; checking worker.TaskResult's bytes on queue %s", resultQ)
	}
	completeWithResult(t, h, resultQ, resultNo)
	base := "http://" + w.OpsAddr() + "/monitoring"

	dir := os.Getenv(screenshotDirEnv)
	shot := func(name string) string {
		if dir == "" {
			return ""
		}
		os.MkdirAll(dir, 0o755)
		return filepath.Join(dir, name)
	}
	type page struct {
		path, shot string
		want       []string // in the text a reader sees, white space removed
		ids        []string // in the ID column, in order
	}
	pages := []page{
		{"/queues/wdt-cancel/tasks/" + dead, "asynqmon-archived-task.png",
			[]string{"ID:" + dead, lastError, "archived", `"pre_stockin_no":"` + dead + `"`}, nil},
		{"/queues/wdt-cancel?status=archived", "asynqmon-archived-list.png",
			[]string{dead, lastError}, []string{dead}},
		{"/queues/" + resultQ + "?status=completed", "asynqmon-completed-list.png",
			[]string{wantResult}, []string{resultNo}},
		{"/queues/" + resultQ + "/tasks/" + resultNo, "asynqmon-completed-task.png",
			[]string{"ID:" + resultNo, "Result:" + wantResult}, nil},
	}
	if handlerWritesResult {
		pages = append(pages, page{"/queues/wdt-cancel/tasks/" + done, "", []string{"ID:" + done, "Result:" + wantResult}, nil})
	}
	// The dashed ID: the column cuts it at the '-', the payload and the
	// task page show it whole. Completed tasks are listed newest first.
	pages = append(pages, page{"/queues/wdt-cancel?status=completed", "asynqmon-completed-ids.png",
		[]string{`"pre_stockin_no":"` + dashed + `"`, `"pre_stockin_no":"` + done + `"`}, nil})
	for _, p := range pages {
		dom := browse(t, bin, base+p.path, shot(p.shot))
		text := squeeze(dom)
		for _, want := range p.want {
			if !strings.Contains(text, strings.Join(strings.Fields(want), "")) {
				t.Errorf("%s: rendered page lacks %q", p.path, want)
			}
		}
		for _, bad := range []string{"skip retry", "non-printable"} {
			if strings.Contains(strings.ToLower(text), strings.ReplaceAll(bad, " ", "")) {
				t.Errorf("%s: rendered page shows %q", p.path, bad)
			}
		}
		if ids := idCells(dom); p.ids != nil && strings.Join(ids, " ") != strings.Join(p.ids, " ") {
			t.Errorf("%s: ID column shows %q, want %q", p.path, ids, p.ids)
		}
		if p.path == "/queues/wdt-cancel?status=completed" {
			ids := strings.Join(idCells(dom), " ")
			if !strings.Contains(" "+ids+" ", " RK ") || !strings.Contains(" "+ids+" ", " "+done+" ") {
				t.Errorf("%s: ID column shows %q, want %q whole and %q cut to RK", p.path, ids, done, dashed)
			}
		}
		assertNoSecret(t, dom)
		if t.Failed() && dir != "" {
			os.WriteFile(filepath.Join(dir, strings.NewReplacer("/", "_", "?", "_").Replace(p.path)+".html"), []byte(dom), 0o644)
		}
	}
}

package worker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// blackhole stands for every host outside this machine as a filtered or
// air-gapped network does: it accepts a connection, reads the request and
// never answers, so a page that needs an outside host hangs instead of
// failing fast. It is Chromium's proxy: the request line names the host
// (CONNECT fonts.googleapis.com:443) even for HTTPS.
type blackhole struct {
	ln   net.Listener
	mu   sync.Mutex
	seen []string
	conn []net.Conn
	wg   sync.WaitGroup
}

func newBlackhole(t *testing.T) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *blackhole) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conn = append(b.conn, c)
		b.mu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			what := "a connection that sent no request"
			if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				what = req.Method + " " + req.Host // CONNECT host:443, GET host
				if req.Method != http.MethodConnect {
					what += req.URL.Path
				}
			}
			b.mu.Lock()
			b.seen = append(b.seen, what)
			b.mu.Unlock()
			var buf [512]byte
			for { // hold the connection open, answering nothing, until close
				if _, err := c.Read(buf[:]); err != nil {
					return
				}
			}
		}()
	}
}

// requests lists what reached the outside world.
func (b *blackhole) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.seen...)
}

func (b *blackhole) close() {
	b.ln.Close()
	b.mu.Lock()
	for _, c := range b.conn {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// chromiumOwn are hosts Chromium itself calls (component updates, sign-in,
// network time) whatever the page, and which no flag turns off in every
// version: their requests are not the page's. Exact names only:
// fonts.googleapis.com and anything else count.
var chromiumOwn = map[string]bool{
	"update.googleapis.com": true, "accounts.google.com": true, "clients2.google.com": true,
	"optimizationguide-pa.googleapis.com": true, "safebrowsing.googleapis.com": true,
	"content-autofill.googleapis.com": true, "redirector.gvt1.com": true, "edgedl.me.gvt1.com": true,
}

// fontProbe is what probePage reports once asynqmon's page shows content.
type fontProbe struct {
	Drawn       bool     `json:"drawn"`
	BodyFont    string   `json:"bodyFont"`    // computed font-family of a text element
	TextFont    string   `json:"textFont"`    // of the element holding the queue name
	Faces       []string `json:"faces"`       // document.fonts: "family weight status"
	RobotoReady bool     `json:"robotoReady"` // document.fonts.check("16px Roboto")
	IconsReady  bool     `json:"iconsReady"`  // document.fonts.check('24px "Material Icons"')
	IconWidth   float64  `json:"iconWidth"`   // a 24px "delete" icon: 24 as a glyph, ~70 as text
	Resources   []string `json:"resources"`   // every URL the page fetched
	Error       string   `json:"error"`
}

// probePage loads asynqmon in a same-origin frame, waits for want to
// appear in it, then reports which fonts the page uses and loaded. It is
// served next to the UI (same origin) so the probe can read the frame.
const probePage = `<!doctype html><html><body>
<pre id="result">pending</pre>
<iframe id="ui" src="/monitoring/" width="1400" height="800"></iframe>
<script>
const want = WANT;
const out = document.getElementById("result");
const frame = document.getElementById("ui");
async function probe(doc, win) {
  const r = {drawn: true, faces: [], resources: []};
  r.bodyFont = win.getComputedStyle(doc.body).fontFamily;
  const walker = doc.createTreeWalker(doc.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walker.nextNode());) {
    if (n.nodeValue.includes(want)) { r.textFont = win.getComputedStyle(n.parentElement).fontFamily; break; }
  }
  const icon = doc.createElement("span");
  icon.className = "material-icons";
  icon.textContent = "delete";
  doc.body.appendChild(icon);
  await doc.fonts.load("24px 'Material Icons'", "delete");
  await doc.fonts.load("16px Roboto");
  await doc.fonts.ready;
  r.iconWidth = icon.getBoundingClientRect().width;
  r.robotoReady = doc.fonts.check("16px Roboto");
  r.iconsReady = doc.fonts.check("24px 'Material Icons'", "delete");
  doc.fonts.forEach(f => r.faces.push(f.family.replace(/"/g, "") + " " + f.weight + " " + f.status));
  r.resources = win.performance.getEntriesByType("resource").map(e => e.name);
  return r;
}
const timer = setInterval(() => {
  const doc = frame.contentDocument, win = frame.contentWindow;
  if (!doc || !doc.body || !doc.body.innerText.includes(want)) return;
  clearInterval(timer);
  probe(doc, win).then(r => { out.textContent = JSON.stringify(r); },
    e => { out.textContent = JSON.stringify({drawn: true, error: String(e)}); });
}, 50);
</script></body></html>`

var resultRE = regexp.MustCompile(`(?s)<pre id="result">(.*?)</pre>`)

// TestAsynqmonDrawsWithOutsideHostsBlackholed opens asynqmon in headless
// Chromium with every outside host hanging, as behind a filter that drops
// fonts.googleapis.com: the page must draw within the deadline, ask no
// outside host for anything, and render in Roboto and Material Icons
// served from the worker's own path.
func TestAsynqmonDrawsWithOutsideHostsBlackholed(t *testing.T) {
	t.Parallel()
	bin := chromium(t)
	const no = "RK2512060001"
	h := newHarness(t, sandbox.Options{})
	w := h.startWorker(nil)
	h.enqueue(no)
	h.waitTask(no, asynq.TaskStateCompleted)

	hole := newBlackhole(t)
	ops, err := url.Parse("http://" + w.OpsAddr())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", httputil.NewSingleHostReverseProxy(ops))
	wantJS, _ := json.Marshal(tasks.DefaultQueue)
	mux.HandleFunc("GET /probe", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.Write([]byte(strings.Replace(probePage, "WANT", string(wantJS), 1)))
	})
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)

	// Loopback bypasses the proxy (Chromium's default); everything else
	// goes to the blackhole. The deadline is what "draws at once" means on
	// a loaded CI machine: a page waiting for the blackhole never finishes.
	const deadline = 60 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		// Chromium's own services (update checks, network time, sign-in)
		// would reach the blackhole too: they are not the page's.
		"--disable-domain-reliability", "--no-pings", "--disable-client-side-phishing-detection",
		"--disable-default-apps", "--disable-extensions", "--disable-component-extensions-with-background-pages",
		"--metrics-recording-only", "--no-service-autorun", "--safebrowsing-disable-auto-update", "--password-store=basic",
		"--disable-features=OptimizationHints,MediaRouter,Translate,NetworkTimeServiceQuerying,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
		"--proxy-server=http://" + hole.ln.Addr().String(),
		"--user-data-dir=" + t.TempDir(), "--window-size=1400,900", "--virtual-time-budget=15000"}
	if dir := os.Getenv(screenshotDirEnv); dir != "" {
		os.MkdirAll(dir, 0o755)
		shot := filepath.Join(dir, "asynqmon-blackholed.png")
		if out, err := exec.CommandContext(ctx, bin, append(args, "--screenshot="+shot, front.URL+"/monitoring/")...).CombinedOutput(); err != nil {
			t.Fatalf("screenshot with outside hosts blackholed: %v: %s", err, out)
		}
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, append(args, "--dump-dom", front.URL+"/probe")...)
	cmd.WaitDelay = 5 * time.Second
	dom, err := cmd.Output()
	took := time.Since(start)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("chromium did not finish within %s: the page waits on something; outside requests: %q", deadline, hole.requests())
	}
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	t.Logf("chromium drew and probed the page in %s", took.Round(time.Millisecond))
	var own []string
	for _, req := range hole.requests() {
		if chromiumOwn[outsideHost(req)] {
			own = append(own, req)
			continue
		}
		t.Errorf("the page asked an outside host (blackholed): %s", req)
	}
	if len(own) > 0 {
		t.Logf("chromium's own services asked (not the page's; blackholed too): %q", own)
	}
	m := resultRE.FindSubmatch(dom)
	if m == nil {
		t.Fatalf("no probe result in the DOM: %.2000s", dom)
	}
	var r fontProbe
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &r); err != nil {
		t.Fatalf("the page did not show %q within the budget (probe says %q): %v", tasks.DefaultQueue, m[1], err)
	}
	t.Logf("probe: %+v", r)
	if r.Error != "" {
		t.Fatalf("probe failed in the page: %s", r.Error)
	}
	if !strings.HasPrefix(r.BodyFont, `Roboto,`) && !strings.HasPrefix(r.BodyFont, `"Roboto"`) || !strings.Contains(r.TextFont, "Roboto") {
		t.Errorf("font-family of body %q, of the queue name %q: want Roboto first", r.BodyFont, r.TextFont)
	}
	if !r.RobotoReady || !r.IconsReady {
		t.Errorf("document.fonts: Roboto ready %v, Material Icons ready %v; faces %q", r.RobotoReady, r.IconsReady, r.Faces)
	}
	for _, face := range []string{"Roboto 400 loaded", "Material Icons 400 loaded"} {
		if !contains(r.Faces, face) {
			t.Errorf("document.fonts lacks %q: %q", face, r.Faces)
		}
	}
	// With the font, "delete" is one 24px glyph; without, six letters.
	if r.IconWidth < 20 || r.IconWidth > 28 {
		t.Errorf("a 24px material-icons \"delete\" is %.1fpx wide: drawn as text, not as the icon", r.IconWidth)
	}
	fontsURL := front.URL + worker.MonitoringFontsPath + "/"
	var fonts []string
	for _, res := range r.Resources {
		if !strings.HasPrefix(res, front.URL+"/") {
			t.Errorf("the page fetched %s, outside the worker", res)
		}
		if strings.Contains(res, ".woff2") || strings.Contains(res, ".css") {
			fonts = append(fonts, res)
			if !strings.HasPrefix(res, fontsURL) {
				t.Errorf("font or stylesheet %s not from %s", res, fontsURL)
			}
		}
	}
	for _, want := range []string{"roboto.css", "material-icons.css", "Roboto-Regular.woff2", "MaterialIcons-Regular.woff2"} {
		if !containsSub(fonts, want) {
			t.Errorf("the page did not load %s from %s: fetched %q", want, fontsURL, fonts)
		}
	}
}

// outsideHost is the host name of a blackhole request line.
func outsideHost(req string) string {
	_, target, _ := strings.Cut(req, " ")
	target, _, _ = strings.Cut(target, "/")
	if h, _, err := net.SplitHostPort(target); err == nil {
		return h
	}
	return target
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsSub(list []string, s string) bool {
	for _, x := range list {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

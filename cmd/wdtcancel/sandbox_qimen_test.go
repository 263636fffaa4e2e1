package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestSandboxCommandQimen runs the binary's sandbox with a Qimen app of its
// own: an order cancelled through /openapi is state 10 on /router/qm, a
// lookup signed with another Qimen secret is refused, and neither secret
// reaches the log.
func TestSandboxCommandQimen(t *testing.T) {
	t.Parallel()
	sb := startCmd(t, "sandbox", "--listen", "127.0.0.1:0", "--qimen-appkey", "qk7", "--qimen-appsecret", "QimenSecret7",
		"--qimen-target-appkey", "tk7")
	line := sb.logged(t, "sandbox listening")
	base := "http://" + listenAddr(t, line, "url")
	if line["qimen_url"] != base+sandbox.QimenPath {
		t.Errorf("the log gives the Qimen URL as %v, want %s", line["qimen_url"], base+sandbox.QimenPath)
	}
	h := &http.Client{Transport: &http.Transport{}}
	defer h.CloseIdleConnections()
	creds, _ := wdt.NewCredentials("sandbox", "sandbox", "sandbox:sandbox")
	c, _ := wdt.New(base+"/openapi", creds, wdt.WithHTTPClient(h))
	ctx := context.Background()
	if err := c.CancelPreStockin(ctx, "RKQ1"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	lookup := func(secret string) (qimen.Result, error) {
		q, err := qimen.New(qimen.Config{URL: base + sandbox.QimenPath, WDT: creds, HTTP: h,
			Qimen: qimen.Credentials{AppKey: "qk7", AppSecret: secret, TargetAppKey: "tk7"}})
		if err != nil {
			t.Fatal(err)
		}
		return q.Lookup(ctx, "RKQ1")
	}
	if res, err := lookup("QimenSecret7"); err != nil || !res.Found || res.Status != qimen.StatusCancelled {
		t.Fatalf("lookup after the cancel: %+v, %v; want 10", res, err)
	}
	if _, err := lookup("OtherSecret7"); qimen.KindOf(err) != qimen.KindEnvelope || qimen.CategoryOf(err) != wdt.Config {
		t.Fatalf("lookup with another secret: %v; want a config envelope failure", err)
	}
	if code := sb.stop(t); code != 0 {
		t.Fatalf("sandbox exited %d", code)
	}
	testkit.NoLeaks(t, "sandbox log", sb.stderr.String(), "QimenSecret7", "OtherSecret7")
}

func TestSandboxCommandQimenRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sellers := filepath.Join(dir, "s.yaml")
	os.WriteFile(sellers, []byte("inline_secrets: true\nsellers:\n  a:\n    sid: s\n    appkey: k\n    appsecret: SecretAlpha7:SaltAlpha7\n    sandbox:\n      qimen_stale_rate: 2\n"), 0o644)
	for _, tt := range []struct {
		args   []string
		errHas string
	}{
		{[]string{"--qimen-outage-rate", "1.5"}, "qimen-outage-rate 1.5 is outside 0..1"},
		{[]string{"--qimen-outage-rate", "0.6", "--qimen-garbled-rate", "0.6"}, "Qimen fault rates add up to 1.2"},
		{[]string{"--qimen-match", "fuzzy"}, `qimen match "fuzzy": use exact or prefix`},
		{[]string{"--sellers", sellers}, "qimen-stale-rate 2 is outside 0..1"},
		{[]string{"--sellers", sellers, "--qimen-appsecret", "x"}, "--qimen-appsecret (WDTCANCEL_SANDBOX_QIMEN_APPSECRET)"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr, code := runCmd(t, context.Background(), "", append([]string{"sandbox", "--listen", "127.0.0.1:0"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.errHas) {
				t.Fatalf("exit %d %q, want %d and %q", code, stderr, exitUsage, tt.errHas)
			}
		})
	}
}

// A sellers file's qimen: block is the Qimen app that seller's route
// accepts, so a worker and a sandbox can share one file.
func TestSandboxSellersQimenBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.yaml")
	os.WriteFile(path, []byte(`inline_secrets: true
sellers:
  a:
    sid: s
    appkey: k
    appsecret: SecretAlpha7:SaltAlpha7
    qimen: {url: "http://127.0.0.1:1/router/qm", appkey: qa, appsecret: QimenAlpha7, target_appkey: ta}
    sandbox: {qimen_match: prefix, qimen_garbled_rate: 0.5}
  b:
    sid: s2
    appkey: k2
    appsecret: SecretBeta7:SaltBeta7
`), 0o644)
	opts, err := sandboxSellers(path, os.LookupEnv, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := opts[0].Qimen, opts[1].Qimen
	if a.AppKey != "qa" || a.AppSecret != "QimenAlpha7" || a.TargetAppKey != "ta" || a.Match != sandbox.QimenMatchPrefix || a.GarbledRate != 0.5 {
		t.Errorf("seller a's Qimen options %+v", a)
	}
	if b.AppKey != "" || b.AppSecret != "" || b.Match != "" {
		t.Errorf("seller b (no qimen: block) %+v: want zero values, which sandbox.New fills with its defaults", b)
	}
}

// TestSandboxDocNamesEveryQimenFault keeps docs/sandbox.md's list of the
// Qimen route's fault names in step with the sandbox.
func TestSandboxDocNamesEveryQimenFault(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../docs/sandbox.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range sandbox.QimenFaultNames() {
		if !strings.Contains(string(raw), "`"+name+"`") {
			t.Errorf("docs/sandbox.md does not name the sandbox's Qimen fault %s", name)
		}
	}
}

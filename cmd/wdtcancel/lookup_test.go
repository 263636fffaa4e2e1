package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/cmd/wdtcancel/internal/sellerconf"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
)

const lookupTestSecret = "qimen-Secret-cmd-71"

// TestLookupWiring: a seller's qimen settings become a lookup client that
// signs with the seller's WDT credentials, shares the cancel client's clock
// and has an HTTP client of its own; no settings, no lookup (and no nil
// pointer posing as one).
func TestLookupWiring(t *testing.T) {
	creds, err := wdt.NewCredentials("sid1", "key1", "sec:salt")
	if err != nil {
		t.Fatal(err)
	}
	api, err := wdt.New("http://127.0.0.1:1/openapi", creds)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sellerconf.QimenFlags{URL: "http://127.0.0.1:1/router/qm", AppKey: "qk", AppSecret: lookupTestSecret, TargetAppKey: "tk"}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	cfg := lookupConfig(q, api)
	if cfg.URL != q.URL || cfg.WDT != creds || cfg.Qimen != (qimen.Credentials{AppKey: "qk", AppSecret: lookupTestSecret, TargetAppKey: "tk"}) ||
		cfg.Clock != api.Clock() || cfg.HTTP == nil {
		t.Fatalf("lookupConfig: %v", cfg.Qimen)
	}
	if l, err := lookupFor("s", q, api); err != nil || l == nil {
		t.Fatalf("lookupFor: %v, %v", l, err)
	}
	if l, err := lookupFor("s", nil, api); err != nil || l != nil {
		t.Fatalf("no qimen settings: %v, %v; want no lookup", l, err)
	}
	bad := *q
	bad.Credentials.TargetAppKey = ""
	if _, err := lookupFor("s", &bad, api); err == nil || !strings.Contains(err.Error(), `seller "s"`) || strings.Contains(fmt.Sprint(err), lookupTestSecret) {
		t.Fatalf("incomplete settings: %v", err)
	}
}

// TestQimenFlagsConflict: --qimen-* beside a sellers file is refused,
// naming what is set, never the secret.
func TestQimenFlagsConflict(t *testing.T) {
	if err := qimenFlagsConflict(sellerconf.QimenFlags{}); err != nil {
		t.Fatal(err)
	}
	err := qimenFlagsConflict(sellerconf.QimenFlags{AppSecret: lookupTestSecret, URL: "http://x/router/qm"})
	if err == nil || !errors.Is(err, wdt.ErrConfig) || !strings.Contains(err.Error(), "WDT_QIMEN_URL (--qimen-url)") ||
		!strings.Contains(err.Error(), "qimen: block") || strings.Contains(err.Error(), lookupTestSecret) {
		t.Fatalf("conflict: %v", err)
	}
}

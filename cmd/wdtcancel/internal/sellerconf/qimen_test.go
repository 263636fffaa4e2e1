package sellerconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

const qimenSecret = "qimen-Secret-9f3a"

func TestQimenFlagsResolve(t *testing.T) {
	all := QimenFlags{URL: "http://127.0.0.1:8081/router/qm", AppKey: "qk", AppSecret: qimenSecret, TargetAppKey: "tk"}
	if q, err := (QimenFlags{}).Resolve(); q != nil || err != nil {
		t.Fatalf("nothing set: %v, %v; want no lookup and no error", q, err)
	}
	q, err := all.Resolve()
	if err != nil || q.URL != all.URL || q.Credentials.AppSecret != qimenSecret || q.Credentials.TargetAppKey != "tk" {
		t.Fatalf("all set: %+v, %v", q, err)
	}
	if s := fmt.Sprintf("%v %+v %#v", q, *q, *q); strings.Contains(s, qimenSecret) {
		t.Fatalf("a resolved Qimen prints its secret: %s", s)
	}
	cases := []struct {
		name string
		edit func(*QimenFlags)
		want []string
	}{
		{"no url", func(f *QimenFlags) { f.URL = "" }, []string{"half configured", "WDT_QIMEN_URL (--qimen-url)"}},
		{"no secret", func(f *QimenFlags) { f.AppSecret = " " }, []string{"WDT_QIMEN_APPSECRET (--qimen-appsecret)"}},
		{"secret only", func(f *QimenFlags) { *f = QimenFlags{AppSecret: qimenSecret} }, []string{"WDT_QIMEN_URL", "WDT_QIMEN_APPKEY", "WDT_QIMEN_TARGET_APPKEY"}},
		{"bad url", func(f *QimenFlags) { f.URL = "qimen.example/router/qm" }, []string{"not an http(s) URL"}},
		{"url with query", func(f *QimenFlags) { f.URL = "http://x/router/qm?app_key=1" }, []string{"no query"}},
	}
	for _, tc := range cases {
		f := all
		tc.edit(&f)
		_, err := f.Resolve()
		if !errors.Is(err, wdt.ErrConfig) {
			t.Errorf("%s: err = %v, want wdt.ErrConfig", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), qimenSecret) {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
}

func TestSellersQimenBlock(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "qimen.secret")
	if err := os.WriteFile(secretFile, []byte(qimenSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := `
sellers:
  a:
    sid: sa
    appkey: ka
    appsecret_env: A_SECRET
    url: http://47.92.239.46/openapi
    qimen:
%s
`
	lookup := env(map[string]string{"A_SECRET": "s:t", "QIMEN_A": qimenSecret})
	parse := func(block string, inline bool) ([]Seller, error) {
		doc := fmt.Sprintf(base, block)
		if inline {
			doc = "inline_secrets: true\n" + doc
		}
		return Parse("sellers.yaml", []byte(doc), lookup, Defaults{})
	}
	for name, block := range map[string]string{
		"from env":  "      url: http://gw.example/router/qm\n      appkey: qk\n      target_appkey: tk\n      appsecret_env: QIMEN_A",
		"from file": "      url: http://gw.example/router/qm\n      appkey: qk\n      target_appkey: tk\n      appsecret_file: " + secretFile,
	} {
		sellers, err := parse(block, false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		q := sellers[0].Qimen
		if q == nil || q.URL != "http://gw.example/router/qm" || q.Credentials.AppSecret != qimenSecret || q.Credentials.AppKey != "qk" || q.Credentials.TargetAppKey != "tk" {
			t.Fatalf("%s: qimen = %+v", name, q)
		}
	}
	// No block: no lookup.
	sellers, err := Parse("sellers.yaml", []byte(strings.SplitN(fmt.Sprintf(base, ""), "    qimen:", 2)[0]), lookup, Defaults{})
	if err != nil || sellers[0].Qimen != nil {
		t.Fatalf("no block: %+v, %v", sellers, err)
	}
	bad := []struct {
		name, block string
		inline      bool
		want        []string
	}{
		{"inline without inline_secrets", "      url: http://gw/router/qm\n      appkey: qk\n      target_appkey: tk\n      appsecret: " + qimenSecret, false, []string{`seller "a": qimen: appsecret is written in the file`}},
		{"env not set", "      url: http://gw/router/qm\n      appkey: qk\n      target_appkey: tk\n      appsecret_env: NOPE", false, []string{"appsecret_env NOPE is not set"}},
		{"missing fields", "      appsecret_env: QIMEN_A", false, []string{"qimen.url is empty", "qimen.appkey is empty", "qimen.target_appkey is empty"}},
		{"bad url", "      url: gw/router/qm\n      appkey: qk\n      target_appkey: tk\n      appsecret_env: QIMEN_A", false, []string{"qimen: Qimen URL is not an http(s) URL"}},
		{"unknown key", "      url: http://gw/router/qm\n      appkey: qk\n      target_app_key: tk\n      appsecret_env: QIMEN_A", false, []string{`unknown key "target_app_key"`, "a qimen: block takes"}},
	}
	for _, tc := range bad {
		_, err := parse(tc.block, tc.inline)
		if !errors.Is(err, wdt.ErrConfig) {
			t.Errorf("%s: err = %v, want wdt.ErrConfig", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), qimenSecret) {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
	if sellers, err := parse("      url: http://gw/router/qm\n      appkey: qk\n      target_appkey: tk\n      appsecret: "+qimenSecret, true); err != nil || sellers[0].Qimen == nil {
		t.Fatalf("inline with inline_secrets: %v", err)
	}
}

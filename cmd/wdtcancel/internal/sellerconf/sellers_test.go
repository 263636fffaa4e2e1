package sellerconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const goodFile = `
sellers:
  default:
    sid: acme
    appkey: acme-erp
    appsecret_env: WDT_APPSECRET_ACME
    rate_per_minute: 120
  shop-7:
    sid: shop7
    appkey: shop7-erp
    appsecret_file: %SECRETFILE%
    url: http://47.92.239.46/openapi
    max_inflight: 3
    connection_close: true
    sandbox:
      rate_per_minute: 30
      latency: 250ms
      fail_rate: 0.1
`

func TestLoadSellers(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "shop7.secret")
	if err := os.WriteFile(secretFile, []byte("s7secret:s7salt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sellers.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(goodFile, "%SECRETFILE%", secretFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	def := Defaults{URL: wdt.ProductionURL, RatePerMinute: 600, MaxInflight: 8}
	got, err := Load(path, env(map[string]string{"WDT_APPSECRET_ACME": "acmesecret:acmesalt"}), def)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "default" || got[1].Name != "shop-7" {
		t.Fatalf("sellers = %+v, want default and shop-7 in that order", got)
	}
	d, s := got[0], got[1]
	if d.URL != wdt.ProductionURL || d.RatePerMinute != 120 || d.MaxInflight != 8 || d.ConnectionClose || d.Sandbox != nil {
		t.Errorf("default = %+v: want the file's rate, the defaults for the rest", d)
	}
	if d.Credentials.SID != "acme" || d.Credentials.Secret != "acmesecret" || d.Credentials.Salt != "acmesalt" {
		t.Errorf("default credentials = %+v", d.Credentials)
	}
	if s.URL != "http://47.92.239.46/openapi" || s.RatePerMinute != 600 || s.MaxInflight != 3 || !s.ConnectionClose {
		t.Errorf("shop-7 = %+v", s)
	}
	if s.Credentials.Secret != "s7secret" || s.Credentials.Salt != "s7salt" {
		t.Errorf("shop-7 secret from the file's first line: got %+v", s.Credentials)
	}
	if s.Sandbox == nil || s.Sandbox.RatePerMinute != 30 || s.Sandbox.Latency != 250*time.Millisecond || s.Sandbox.FailRate != 0.1 {
		t.Errorf("shop-7 sandbox block = %+v", s.Sandbox)
	}
}

func TestParseSellersRefuses(t *testing.T) {
	secrets := env(map[string]string{"SET": "topsecret:topsalt", "NOCOLON": "topsecretnocolon"})
	def := Defaults{URL: wdt.TestURL}
	tests := []struct {
		name, file string
		want       []string // fragments, all of them in the one error
	}{
		{"empty", ``, []string{"is empty"}},
		{"no sellers", "sellers: {}\n", []string{"lists no seller"}},
		{"unknown key", "sellers:\n  a:\n    sid: a\n    appkey: a\n    appsecret_evn: SET\n", []string{"appsecret_evn"}},
		{"unknown top key", "seller:\n  a: {}\n", []string{"seller"}},
		{"duplicate name", "sellers:\n  a: {sid: a, appkey: a, appsecret_env: SET}\n  a: {sid: b, appkey: b, appsecret_env: SET}\n", []string{"already defined"}},
		{"bad name", "sellers:\n  Acme: {sid: a, appkey: a, appsecret_env: SET}\n", []string{`seller "Acme": bad name`, "must start"}},
		{"no secret", "sellers:\n  a: {sid: a, appkey: a}\n", []string{`seller "a": no appsecret`}},
		{"two secrets", "sellers:\n  a: {sid: a, appkey: a, appsecret_env: SET, appsecret_file: /x}\n", []string{"more than one"}},
		{"inline refused", "sellers:\n  a: {sid: a, appkey: a, appsecret: 'topsecret:topsalt'}\n", []string{"appsecret is written in the file", "inline_secrets"}},
		{"env unset", "sellers:\n  a: {sid: a, appkey: a, appsecret_env: NOPE}\n", []string{"appsecret_env NOPE is not set"}},
		{"env no colon", "sellers:\n  a: {sid: a, appkey: a, appsecret_env: NOCOLON}\n", []string{"no colon", "appsecret_env NOCOLON"}},
		{"secret file missing", "sellers:\n  a: {sid: a, appkey: a, appsecret_file: /nonexistent/x}\n", []string{"appsecret_file", "no such file"}},
		{"empty sid", "sellers:\n  a: {sid: ' ', appkey: a, appsecret_env: SET}\n", []string{"sid is empty"}},
		{"empty appkey", "sellers:\n  a: {sid: a, appsecret_env: SET}\n", []string{"appkey is empty"}},
		{"negative limits", "sellers:\n  a: {sid: a, appkey: a, appsecret_env: SET, rate_per_minute: -1, max_inflight: -2}\n", []string{"rate_per_minute is -1", "max_inflight is -2"}},
		{"bad url", "sellers:\n  a: {sid: a, appkey: a, appsecret_env: SET, url: 'http://wdt.wangdian.cn/'}\n", []string{`seller "a": url`, "/openapi"}},
		{"same sid twice", "sellers:\n  a: {sid: x, appkey: a, appsecret_env: SET}\n  b: {sid: x, appkey: b, appsecret_env: SET}\n", []string{`seller "b": sid "x" is already seller "a"'s`}},
		{"wrong type names seller and field", "sellers:\n  a:\n    sid: a\n    appkey: a\n    appsecret_env: SET\n    rate_per_minute: lots\n", []string{`seller "a": rate_per_minute (line 6)`, "lots"}},
		{"unknown key names seller and the keys", "sellers:\n  a:\n    sid: a\n    appkey: a\n    appsecret_env: SET\n    colour: red\n", []string{`seller "a": colour (line 6): unknown key "colour" (a seller takes sid, appkey`}},
		{"type error and another seller's problem together", "sellers:\n  a: {sid: a, appkey: a, appsecret_env: SET, max_inflight: many}\n  b: {sid: b, appkey: b}\n", []string{`seller "a": max_inflight`, `seller "b": no appsecret`}},
		{"sandbox block field", "sellers:\n  a:\n    sid: a\n    appkey: a\n    appsecret_env: SET\n    sandbox:\n      latency: soon\n", []string{`seller "a": sandbox.latency (line 7)`}},
		{"all problems at once", "sellers:\n  a: {sid: a, appkey: a}\n  B: {sid: b, appkey: b, appsecret_env: SET}\n", []string{`seller "a": no appsecret`, `seller "B": bad name`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("sellers.yaml", []byte(tt.file), secrets, def)
			if err == nil {
				t.Fatal("accepted, want an error")
			}
			if !errors.Is(err, wdt.ErrConfig) {
				t.Errorf("error does not wrap wdt.ErrConfig: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "sellerconf.") {
				t.Errorf("error names a Go type: %q", err)
			}
			for _, secret := range []string{"topsecret", "topsalt"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a secret: %q", err)
				}
			}
		})
	}
}

func TestInlineSecretsWhenAllowed(t *testing.T) {
	got, err := Parse("s.yaml", []byte("inline_secrets: true\nsellers:\n  a: {sid: a, appkey: a, appsecret: 'x:y'}\n"), env(nil), Defaults{URL: wdt.TestURL})
	if err != nil || got[0].Credentials.Secret != "x" || got[0].Credentials.Salt != "y" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestSellersFileConflict(t *testing.T) {
	if err := (&WDT{URL: wdt.TestURL}).SellersFileConflict(); err != nil {
		t.Fatalf("only a URL: %v, want nil (WDT_URL is the sellers' default URL)", err)
	}
	err := (&WDT{SID: "x", AppSecret: "topsecret:topsalt"}).SellersFileConflict()
	if err == nil || !strings.Contains(err.Error(), "WDT_SID") || !strings.Contains(err.Error(), "WDT_APPSECRET") || strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("err = %v, want both names and no secret", err)
	}
}

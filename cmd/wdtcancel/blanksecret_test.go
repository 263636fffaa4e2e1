package main

import (
	"context"
	"strings"
	"testing"
)

// TestBlankOrSpacedSecretsRefusedAtStart: secrets no request can use are
// refused at start (exit 2) with the reason, never shown. An outside tester
// started the API with WDTCANCEL_API_TOKEN=' ' (every request then 401) and
// the worker with a tab in WDT_APPSECRET.
func TestBlankOrSpacedSecretsRefusedAtStart(t *testing.T) {
	for _, tt := range []struct {
		name, env, value string
		args             []string
		errSub           string
	}{
		{"api token of one space", "WDTCANCEL_API_TOKEN", " ", []string{"api", "--listen", "127.0.0.1:0"}, "only white space"},
		{"api token with a newline", "WDTCANCEL_API_TOKEN", "Tok3nX\n", []string{"api", "--listen", "127.0.0.1:0"}, "white space around it"},
		{"appsecret with a tab", "WDT_APPSECRET", "Sp4ceX\t:saltX", []string{"worker", "--wdt-url", "http://127.0.0.1:1/openapi", "--sid", "s", "--appkey", "k"}, "white space, a control or an invisible character"},
		{"appsecret with a zero-width space", "WDT_APPSECRET", "Sp4ceX\u200b:saltX", []string{"worker", "--wdt-url", "http://127.0.0.1:1/openapi", "--sid", "s", "--appkey", "k"}, "an invisible character"},
		{"api token with a space inside", "WDTCANCEL_API_TOKEN", "Tok3nX Tok3nX", []string{"api", "--listen", "127.0.0.1:0"}, "white space or an invisible character inside it"},
		{"appsecret with a space at the colon", "WDT_APPSECRET", "Sp4ceX :saltX", []string{"worker", "--wdt-url", "http://127.0.0.1:1/openapi", "--sid", "s", "--appkey", "k"}, "white space, a control or an invisible character"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			out, errOut, code := runCmd(t, context.Background(), "", tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.errSub) {
				t.Fatalf("exit %d, want 2 saying %q; stderr:\n%s", code, tt.errSub, errOut)
			}
			for _, s := range []string{"Tok3nX", "Sp4ceX", "saltX"} {
				if strings.Contains(out+errOut, s) {
					t.Errorf("%q shows:\n%s%s", s, out, errOut)
				}
			}
		})
	}
}

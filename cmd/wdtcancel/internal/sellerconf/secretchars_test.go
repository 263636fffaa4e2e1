package sellerconf

import (
	"strings"
	"testing"
)

// TestAppSecretEnvValue: a variable that is set but blank is told apart
// from one that is not set (an outside tester was told "is not set" for an
// exported empty variable), and an appsecret with an invisible character
// (a zero-width space, a byte-order mark) is refused without being shown.
func TestAppSecretEnvValue(t *testing.T) {
	lookup := env(map[string]string{
		"BLANK": "  ",
		"ZWSP":  "s3cret:pe\u200bpper",
		"BOM":   "\ufeffs3cret:pepper",
		"GOOD":  "s3cret:pepper",
	})
	for _, tt := range []struct {
		name, variable, errSub string
	}{
		{"good", "GOOD", ""},
		{"not set", "NOPE", "appsecret_env NOPE is not set"},
		{"set but blank", "BLANK", "appsecret_env BLANK is set but blank"},
		{"zero-width space", "ZWSP", "an invisible character"},
		{"byte-order mark", "BOM", "an invisible character"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := "sellers:\n  a: {sid: sa, appkey: ka, url: http://47.92.239.46/openapi, appsecret_env: " + tt.variable + "}\n"
			_, err := Parse("sellers.yaml", []byte(doc), lookup, Defaults{})
			if tt.errSub == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errSub) || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "pepper") {
				t.Fatalf("error %v, want it to say %q without the secret", err, tt.errSub)
			}
		})
	}
}

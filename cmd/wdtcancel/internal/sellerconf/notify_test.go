package sellerconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResolveNotify: a seller's `notify:` block, table by case: the secret
// from a variable or a file (exactly one), an http(s) URL, and errors that
// say what to set.
func TestResolveNotify(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		if k == "HOOK_SECRET" {
			return "from-env", true
		}
		return "", false
	}
	tests := []struct {
		name       string
		e          *notifyEntry
		wantSecret string
		wantErr    string
	}{
		{"none", nil, "", ""},
		{"secret from env", &notifyEntry{URL: "https://erp/x", SecretEnv: "HOOK_SECRET"}, "from-env", ""},
		{"secret from file", &notifyEntry{URL: "http://erp/x", SecretFile: file}, "from-file", ""},
		{"variable unset", &notifyEntry{URL: "https://erp/x", SecretEnv: "NOPE"}, "", "secret_env NOPE is not set"},
		{"both", &notifyEntry{URL: "https://erp/x", SecretEnv: "HOOK_SECRET", SecretFile: file}, "", "set one of secret_env"},
		{"neither", &notifyEntry{URL: "https://erp/x"}, "", "set one of secret_env"},
		{"not a URL", &notifyEntry{URL: "erp/x", SecretEnv: "HOOK_SECRET"}, "", "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, errs := resolveNotify(tt.e, env)
			if tt.wantErr != "" {
				if len(errs) == 0 || !strings.Contains(strings.Join(errs, "; "), tt.wantErr) {
					t.Fatalf("errors %q, want one containing %q", errs, tt.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("errors %q", errs)
			}
			if tt.e == nil {
				if n != nil {
					t.Fatalf("no block gave %v", n)
				}
				return
			}
			if string(n.Secret) != tt.wantSecret || strings.Contains(n.String(), tt.wantSecret) {
				t.Fatalf("secret %q (String %q), want %q and hidden", n.Secret, n.String(), tt.wantSecret)
			}
		})
	}
}

package main

import (
	"os"
	"strings"
	"testing"
)

// TestSecretsStayOutOfGitAndTheImage guards the repository's hygiene: the
// README puts WDT_APPSECRET and WDTCANCEL_API_TOKEN in .env, so git must
// ignore it and `COPY . .` in the Dockerfile must never ship it (nor the
// .git directory or local builds).
func TestSecretsStayOutOfGitAndTheImage(t *testing.T) {
	for file, want := range map[string][]string{
		"../../.gitignore":    {".env"},
		"../../.dockerignore": {".env", ".git", "bin"},
	} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(string(raw), "\n") {
			l = strings.TrimSpace(l)
			l = strings.TrimPrefix(l, "/")
			l = strings.TrimSuffix(l, "/")
			if strings.HasPrefix(l, "!") {
				t.Errorf("%s: negation %q may re-include a secret", file, l)
			}
			lines[l] = true
		}
		for _, w := range want {
			if !lines[w] {
				t.Errorf("%s does not exclude %s", file, w)
			}
		}
	}
}

package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.uber.org/zap"
)

// A seller's sandbox: block carries the keep-alive faults to its sandbox,
// and the flags that set them are per-seller flags (refused beside
// --sellers).
func TestSandboxSellersKeepAliveFaults(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sellers.yaml")
	if err := os.WriteFile(path, []byte(`inline_secrets: true
sellers:
  a: {sid: a, appkey: k, appsecret: "s:t", sandbox: {desync_rate: 0.1, extra_answer_rate: 0.2, seed: 7}}
  b: {sid: b, appkey: k, appsecret: "s:t", sandbox: {desync_rate: 0.6, extra_answer_rate: 0.6}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sandboxSellers(path, func(string) (string, bool) { return "", false }, 0, zap.NewNop())
	if err == nil {
		t.Fatal("rates adding up to 1.2 were accepted")
	}
	os.WriteFile(path, []byte(`inline_secrets: true
sellers:
  a: {sid: a, appkey: k, appsecret: "s:t", sandbox: {desync_rate: 0.1, extra_answer_rate: 0.2, seed: 7}}
`), 0o600)
	opts, err := sandboxSellers(path, func(string) (string, bool) { return "", false }, 0, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if opts[0].DesyncRate != 0.1 || opts[0].ExtraAnswerRate != 0.2 || opts[0].Seed != 7 {
		t.Fatalf("seller a: desync %v, extra answer %v, seed %d; want 0.1, 0.2, 7", opts[0].DesyncRate, opts[0].ExtraAnswerRate, opts[0].Seed)
	}
	for _, f := range []string{"desync-rate", "extra-answer-rate"} {
		if !slices.Contains(sellerFlags, f) {
			t.Errorf("--%s is not refused beside --sellers", f)
		}
	}
}

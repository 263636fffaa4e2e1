package config

import (
	"strings"
	"testing"
)

// TestQimenEnvNames: the Qimen lookup's flags read WDT_QIMEN_* (they belong
// to WDT's settings), the sandbox's its own variables, and the secret is
// masked in errors.
func TestQimenEnvNames(t *testing.T) {
	for flag, want := range map[string]string{"qimen-url": "WDT_QIMEN_URL", "qimen-appkey": "WDT_QIMEN_APPKEY",
		"qimen-appsecret": "WDT_QIMEN_APPSECRET", "qimen-target-appkey": "WDT_QIMEN_TARGET_APPKEY"} {
		if got := EnvNameFor("worker", flag); got != want {
			t.Errorf("worker --%s reads %s, want %s", flag, got, want)
		}
		if got := EnvNameFor("sandbox", flag); !strings.HasPrefix(got, SandboxEnvPrefix) {
			t.Errorf("sandbox --%s reads %s: the sandbox reads only its own variables", flag, got)
		}
	}
	if !secretFlags["qimen-appsecret"] {
		t.Error("--qimen-appsecret is not masked in environment errors")
	}
}

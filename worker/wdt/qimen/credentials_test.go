package qimen

import (
	"errors"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// TestNewCredentialsRefusesInnerWhiteSpace: a Qimen appsecret with white
// space or a control character inside is refused without being shown;
// around it, trimmed.
func TestNewCredentialsRefusesInnerWhiteSpace(t *testing.T) {
	for _, tt := range []struct {
		name, secret, errSub string
	}{
		{"ordinary", "Qs3cret", ""},
		{"trimmed", " Qs3cret\n", ""},
		{"tab inside", "Qs3\tcret", "white space, a control or an invisible character"},
		{"space inside", "Qs3 cret", "white space, a control or an invisible character"},
		{"control character", "Qs3\x01cret", "white space, a control or an invisible character"},
		{"zero-width space", "Qs3\u200bcret", "white space, a control or an invisible character"},
		{"byte-order mark", "Qs3\ufeffcret", "white space, a control or an invisible character"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCredentials("app", tt.secret, "target")
			if tt.errSub == "" {
				if err != nil || c.AppSecret != "Qs3cret" {
					t.Fatalf("got %+v, %v", c, err)
				}
				return
			}
			if err == nil || !errors.Is(err, wdt.ErrConfig) || !strings.Contains(err.Error(), tt.errSub) || strings.Contains(err.Error(), "Qs3") {
				t.Fatalf("error %v, want it to say %q without the secret", err, tt.errSub)
			}
		})
	}
}

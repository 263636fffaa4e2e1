package wdt

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNewCredentials(t *testing.T) {
	tests := []struct {
		name, sid, key, secret string
		wantErr                string
		secretPart, saltPart   string
	}{
		{"ok", "s", "k", "topsecret:pepper", "", "topsecret", "pepper"},
		{"split at first colon", "s", "k", "topsecret:pep:per", "", "topsecret", "pep:per"},
		{"no colon", "s", "k", "topsecretpepper", "no colon", "", ""},
		{"empty secret", "s", "k", ":pepper", "empty secret part", "", ""},
		{"empty salt", "s", "k", "topsecret:", "empty salt part", "", ""},
		{"empty", "s", "k", "", "appsecret is empty", "", ""},
		{"no sid", "", "k", "a:b", "sid is empty", "", ""},
		{"no appkey", "s", " ", "a:b", "appkey is empty", "", ""},
		// An outside tester: these started, signed with the white space.
		{"white space around is trimmed", "s", "k", " topsecret:pepper \n", "", "topsecret", "pepper"},
		{"tab inside", "s", "k", "top\tsecret:pepper", "white space, a control or an invisible character", "", ""},
		{"space before the colon", "s", "k", "topsecret :pepper", "white space, a control or an invisible character", "", ""},
		{"space after the colon", "s", "k", "topsecret: pepper", "white space, a control or an invisible character", "", ""},
		{"line break inside", "s", "k", "topsecret:pep\nper", "white space, a control or an invisible character", "", ""},
		{"control character", "s", "k", "topsecret:pep\x01per", "white space, a control or an invisible character", "", ""},
		{"no-break space", "s", "k", "topsecret:pep\u00a0per", "white space, a control or an invisible character", "", ""},
		// Format characters are neither space nor control, and copy along
		// unseen from a web page: every signature was then wrong.
		{"zero-width space", "s", "k", "topsecret:pep\u200bper", "white space, a control or an invisible character", "", ""},
		{"byte-order mark", "s", "k", "\ufefftopsecret:pepper", "white space, a control or an invisible character", "", ""},
		{"invalid UTF-8", "s", "k", "topsecret:pep\xffper", "white space, a control or an invisible character", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCredentials(tt.sid, tt.key, tt.secret)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrConfig) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				for _, part := range []string{"topsecret", "pepper"} {
					if strings.Contains(err.Error(), part) {
						t.Fatalf("error leaks %q: %v", part, err)
					}
				}
				return
			}
			if err != nil || c.Secret != tt.secretPart || c.Salt != tt.saltPart {
				t.Fatalf("got %+v, %v", c, err)
			}
			for _, s := range []string{c.String(), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
				if strings.Contains(s, "topsecret") || strings.Contains(s, "pep") {
					t.Fatalf("formatting leaks: %s", s)
				}
			}
		})
	}
}

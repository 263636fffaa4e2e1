package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		format, level string
		wantErr       string
		check         func(string) bool
	}{
		{"json", "info", "", func(s string) bool {
			var m map[string]any
			return json.Unmarshal([]byte(s), &m) == nil && m["msg"] == "hello"
		}},
		{"", "", "", func(s string) bool { return strings.HasPrefix(s, "{") }},
		{"console", "info", "", func(s string) bool { return strings.Contains(s, "INFO") && strings.Contains(s, "hello") }},
		{"json", "error", "", func(s string) bool { return s == "" }},
		{"xml", "info", "log format", nil},
		{"json", "loud", "log level", nil},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		log, err := New(Options{Format: tt.format, Level: tt.level, Output: &buf})
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s/%s: err %v", tt.format, tt.level, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello")
		if !tt.check(buf.String()) {
			t.Errorf("%s/%s: output %q", tt.format, tt.level, buf.String())
		}
	}
}

package sellerconf

import (
	"fmt"
	"testing"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// A seller's calls reuse connections only when reuse_connections (or
// --reuse-connections, the default for every entry) asks for it, and never
// beside the deprecated connection_close / --connection-close.
func TestReuseConnectionsResolved(t *testing.T) {
	tests := []struct {
		name  string
		entry string // extra YAML fields of the one seller
		def   Defaults
		want  bool
	}{
		{"default: a fresh connection per call", "", Defaults{}, false},
		{"reuse_connections in the file", "reuse_connections: true", Defaults{}, true},
		{"--reuse-connections as the default", "", Defaults{ReuseConnections: true}, true},
		{"the file says no to --reuse-connections", "reuse_connections: false", Defaults{ReuseConnections: true}, false},
		{"connection_close beats reuse_connections", "reuse_connections: true, connection_close: true", Defaults{}, false},
		{"--connection-close beats reuse_connections", "reuse_connections: true", Defaults{ConnectionClose: true}, false},
		{"connection_close alone changes nothing", "connection_close: true", Defaults{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sep := ""
			if tt.entry != "" {
				sep = ", "
			}
			yaml := fmt.Sprintf("inline_secrets: true\nsellers:\n  a: {sid: a, appkey: k, appsecret: \"s:t\", url: %s%s%s}\n", wdt.TestURL, sep, tt.entry)
			got, err := Parse("t.yaml", []byte(yaml), func(string) (string, bool) { return "", false }, tt.def)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].ReuseConnections != tt.want {
				t.Fatalf("ReuseConnections = %v, want %v", got[0].ReuseConnections, tt.want)
			}
		})
	}
}

func TestReuseFlags(t *testing.T) {
	tests := []struct {
		reuse, close, want bool
	}{{false, false, false}, {true, false, true}, {true, true, false}, {false, true, false}}
	for _, tt := range tests {
		w := &WDT{URL: wdt.TestURL, SID: "s", AppKey: "k", AppSecret: "a:b", ReuseConnections: tt.reuse, ConnectionClose: tt.close}
		if w.Reuse() != tt.want {
			t.Errorf("--reuse-connections=%v --connection-close=%v: Reuse() %v; want %v", tt.reuse, tt.close, w.Reuse(), tt.want)
		}
	}
}

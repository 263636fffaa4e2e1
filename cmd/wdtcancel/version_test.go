package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersion: `wdtcancel --version` prints the module and the commit the
// binary was built from.
func TestVersion(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/wdtcancel/wdtcancel", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "135c271875fb"}, {Key: "vcs.time", Value: "2026-11-28T01:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionString(info, true), "github.com/wdtcancel/wdtcancel v1.2.3, commit 135c271875fb, modified, 2026-11-28T01:00:00Z, go1.26.8"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := versionString(&debug.BuildInfo{Main: debug.Module{Path: "m"}}, true); !strings.Contains(got, "(devel)") || !strings.Contains(got, "commit unknown") {
		t.Errorf("no VCS information: %s", got)
	}

	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "github.com/wdtcancel/wdtcancel ") || !strings.Contains(out.String(), "commit ") {
		t.Fatalf("--version printed %q", out.String())
	}
}

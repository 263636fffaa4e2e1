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

// TestVersionFromLinker: a build without .git (the Docker image) says the
// version and commit the build passed with -ldflags -X; a VCS stamp wins.
func TestVersionFromLinker(t *testing.T) {
	bare := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/wdtcancel/wdtcancel", Version: "(devel)"}}
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/wdtcancel/wdtcancel", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "135c271875fb"}}}
	cases := []struct {
		name             string
		info             *debug.BuildInfo
		ldVersion, ldRev string
		want             string
	}{
		{"docker build", bare, "v1.4.0", "0ec53d2f00", "github.com/wdtcancel/wdtcancel v1.4.0, commit 0ec53d2f00, go1.26.8"},
		{"commit only", bare, "", "0ec53d2f00", "github.com/wdtcancel/wdtcancel (devel), commit 0ec53d2f00, go1.26.8"},
		{"nothing passed", bare, "", "", "github.com/wdtcancel/wdtcancel (devel), commit unknown (built outside git, or with -buildvcs=false, and without -ldflags -X main.linkCommit=...: see the Makefile's build target), go1.26.8"},
		{"vcs stamp wins", stamped, "v9.9.9", "ffffffff", "github.com/wdtcancel/wdtcancel v1.2.3, commit 135c271875fb, go1.26.8"},
	}
	for _, c := range cases {
		if got := stampedVersion(c.info, true, c.ldVersion, c.ldRev); got != c.want {
			t.Errorf("%s:\ngot  %s\nwant %s", c.name, got, c.want)
		}
	}
}

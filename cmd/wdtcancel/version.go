package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// linkVersion and linkCommit are set by the linker where Go cannot stamp
// the VCS itself: a Docker build copies no .git, so the image said "commit
// unknown". The Dockerfile and the Makefile pass them:
//
//	go build -ldflags "-X main.linkVersion=v1.2.3 -X main.linkCommit=$(git rev-parse HEAD)"
//
// What Go stamps from the VCS wins; these only fill what it left blank.
var linkVersion, linkCommit string

// versionString is what `wdtcancel --version` prints: the module version
// and the VCS commit the binary was built from, as Go stamps them
// (runtime/debug.ReadBuildInfo) or the build passed them (linkVersion,
// linkCommit), and the Go version.
func versionString(info *debug.BuildInfo, ok bool) string {
	return stampedVersion(info, ok, linkVersion, linkCommit)
}

func stampedVersion(info *debug.BuildInfo, ok bool, ldVersion, ldCommit string) string {
	if !ok || info == nil {
		return "unknown (built without module information), " + runtime.Version()
	}
	version := info.Main.Version
	if (version == "" || version == "(devel)") && ldVersion != "" {
		version = ldVersion
	}
	if version == "" {
		version = "(devel)"
	}
	var rev, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev == "" {
		rev = ldCommit
	}
	parts := []string{version}
	if rev != "" {
		parts = append(parts, "commit "+rev+modified)
	} else {
		parts = append(parts, "commit unknown (built outside git, or with -buildvcs=false, and without -ldflags -X main.linkCommit=...: see the Makefile's build target)")
	}
	if at != "" {
		parts = append(parts, at)
	}
	parts = append(parts, info.GoVersion)
	return fmt.Sprintf("%s %s", info.Main.Path, strings.Join(parts, ", "))
}

func buildVersion() string {
	return versionString(debug.ReadBuildInfo())
}

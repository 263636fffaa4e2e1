package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionString is what `wdtcancel --version` prints: the module version
// and the VCS commit the binary was built from, as Go stamps them
// (runtime/debug.ReadBuildInfo), and the Go version.
func versionString(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "unknown (built without module information), " + runtime.Version()
	}
	version := info.Main.Version
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
	parts := []string{version}
	if rev != "" {
		parts = append(parts, "commit "+rev+modified)
	} else {
		parts = append(parts, "commit unknown (built outside git, or with -buildvcs=false)")
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

package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// version, when set at build time with -ldflags "-X main.version=v1.2.3", is the version
// checkflow reports; otherwise the build information the Go toolchain embeds is used.
var version = ""

// versionInfo is what checkflow knows about its own build.
type versionInfo struct {
	// Version is a release (v1.2.3), a pseudo-version (v0.0.0-20261128100000-1cc7023a9f3e+dirty,
	// what `go build` in a git checkout stamps) or "devel" when nothing better is known.
	Version string
	// Revision, Time and Modified come from the VCS stamp (vcs.revision, vcs.time,
	// vcs.modified); empty/false for builds without one (-buildvcs=false, no git, go test).
	Revision string
	Time     string
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// currentVersion reads this binary's version.
func currentVersion() versionInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return readVersion(version, bi)
}

// readVersion derives the version from an -ldflags override (may be empty) and the build
// information (may be nil).
func readVersion(override string, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: "devel"}
	if bi != nil {
		v.GoVersion = bi.GoVersion
		if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
			v.Version = mv
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if override != "" {
		v.Version = override
	} else if v.Version == "devel" && v.Revision != "" {
		v.Version += "-" + short(v.Revision)
		if v.Modified {
			v.Version += "+dirty"
		}
	}
	return v
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// String is the version alone, as the API and the start-up lines show it.
func (v versionInfo) String() string { return v.Version }

// Line is what `checkflow version` prints: the version, the commit it was built from (with its
// time and whether the tree had uncommitted changes) and the Go toolchain.
func (v versionInfo) Line() string {
	var details []string
	if v.Revision != "" {
		d := "commit " + short(v.Revision)
		if v.Time != "" {
			d += " of " + v.Time
		}
		if v.Modified {
			d += " with uncommitted changes"
		}
		details = append(details, d)
	} else {
		details = append(details, "no VCS stamp: built with -buildvcs=false or outside a git checkout")
	}
	if v.GoVersion != "" {
		details = append(details, v.GoVersion)
	}
	return fmt.Sprintf("checkflow %s (%s)", v.Version, strings.Join(details, "; "))
}

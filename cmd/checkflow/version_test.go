package main

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func buildInfo(mainVersion string, settings ...string) *debug.BuildInfo {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/checkflow/checkflow", Version: mainVersion}}
	for i := 0; i+1 < len(settings); i += 2 {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return bi
}

// Defect 10 of issue 17: `checkflow version` printed "dev"; it reports what the build knows.
func TestReadVersion(t *testing.T) {
	const rev = "1cc7023a9f3e5b7d0c1e2f3a4b5c6d7e8f901234"
	cases := []struct {
		name        string
		override    string
		bi          *debug.BuildInfo
		wantVersion string
		wantLine    []string // substrings of Line()
	}{
		{"release installed with go install", "", buildInfo("v1.4.0"),
			"v1.4.0", []string{"checkflow v1.4.0 (no VCS stamp", "; go1.26.8)"}},
		{"go build in a git checkout with changes", "", buildInfo("v0.0.0-20261128100000-1cc7023a9f3e+dirty",
			"vcs", "git", "vcs.revision", rev, "vcs.time", "2026-11-28T10:00:00Z", "vcs.modified", "true"),
			"v0.0.0-20261128100000-1cc7023a9f3e+dirty",
			[]string{"(commit 1cc7023a9f3e of 2026-11-28T10:00:00Z with uncommitted changes; go1.26.8)"}},
		{"devel with a clean VCS stamp", "", buildInfo("(devel)", "vcs.revision", rev, "vcs.time", "2026-11-28T10:00:00Z", "vcs.modified", "false"),
			"devel-1cc7023a9f3e", []string{"checkflow devel-1cc7023a9f3e (commit 1cc7023a9f3e of 2026-11-28T10:00:00Z; go1.26.8)"}},
		{"devel with a modified tree", "", buildInfo("(devel)", "vcs.revision", rev, "vcs.modified", "true"),
			"devel-1cc7023a9f3e+dirty", []string{"with uncommitted changes"}},
		{"no VCS stamp (-buildvcs=false)", "", buildInfo("(devel)"),
			"devel", []string{"checkflow devel (no VCS stamp"}},
		{"no build information", "", nil,
			"devel", []string{"checkflow devel (no VCS stamp: built with -buildvcs=false or outside a git checkout)"}},
		{"-ldflags override keeps the commit", "v2.0.0-rc1", buildInfo("(devel)", "vcs.revision", rev),
			"v2.0.0-rc1", []string{"checkflow v2.0.0-rc1 (commit 1cc7023a9f3e"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := readVersion(tc.override, tc.bi)
			if v.String() != tc.wantVersion {
				t.Errorf("version = %q, want %q", v.String(), tc.wantVersion)
			}
			line := v.Line()
			for _, want := range tc.wantLine {
				if !strings.Contains(line, want) {
					t.Errorf("line %q does not contain %q", line, want)
				}
			}
			if strings.Contains(line, "\n") {
				t.Errorf("line %q is more than one line", line)
			}
		})
	}
}

// The command prints one line built from this binary's build information (a test binary has
// no VCS stamp, but it knows its Go version).
func TestVersionCommand(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{arg}, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d, stderr %s", arg, code, stderr.String())
		}
		out := stdout.String()
		if !strings.HasPrefix(out, "checkflow ") || strings.Count(out, "\n") != 1 || out == "dev\n" {
			t.Errorf("%s printed %q, want one line 'checkflow <version> (…)'", arg, out)
		}
		if !strings.Contains(out, runtime.Version()) {
			t.Errorf("%s printed %q, without the Go version %s", arg, out, runtime.Version())
		}
	}
}

package tests

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/cli"
)

// The daily commands against the API: login writes the config file the other commands use;
// systems, health [system], run and runs print tables, with colours only when asked (a TTY).
func TestGitOpsDailyCommands(t *testing.T) {
	g := newGitOpsStack(t)
	tg := newTarget(t)
	sys := g.sys(t, "daily")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), checkDoc("daily-check", tg.srv.URL, 3600)+"---\n"+systemDoc(sys, []string{"daily-check"}, 2))
	if code, out := g.cli(t, nil, "apply", "-f", dir); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	cfgDir := t.TempDir()
	// run runs a command with no CHECKFLOW_* variables: the connection comes from login's file.
	run := func(t *testing.T, color bool, args ...string) (int, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), args[0], args[1:], cli.Env{
			Stdout: &out, Stderr: &errOut, Color: color,
			LookupEnv: func(string) (string, bool) { return "", false },
			ConfigDir: func() (string, error) { return cfgDir, nil },
		})
		return code, out.String() + errOut.String()
	}
	if code, out := run(t, false, "login", "--server", g.url, "--token", g.admin); code != 0 || !strings.Contains(out, "logged in to "+g.url) {
		t.Fatalf("login: exit %d\n%s", code, out)
	}

	code, out := run(t, false, "systems")
	if code != 0 || !regexp.MustCompile(`(?m)^ID +NAME +DESCRIPTION$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(sys)+` +System `+regexp.QuoteMeta(sys)+` +managed$`).MatchString(out) {
		t.Fatalf("systems: exit %d\n%s", code, out)
	}

	code, out = run(t, false, "run", sys, "daily-check")
	m := regexp.MustCompile(`^run (\S+) of "daily-check" on ` + regexp.QuoteMeta(sys) + `: healthy \(\d+ ms\)\n`).FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, sys+" is now healthy (1/1 checks healthy)") {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	runID := m[1]
	code, out = run(t, false, "runs", sys, "daily-check")
	if code != 0 || !regexp.MustCompile(`(?m)^\S+ +healthy +\d+ ms +`+regexp.QuoteMeta(runID)+`$`).MatchString(out) {
		t.Fatalf("runs: exit %d, want run %s\n%s", code, runID, out)
	}

	code, out = run(t, false, "health")
	if code != 0 || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(sys)+` +healthy +1/1`).MatchString(out) || strings.Contains(out, "\x1b[") {
		t.Fatalf("health: exit %d\n%q", code, out)
	}
	code, out = run(t, false, "health", sys)
	if code != 0 || !strings.HasPrefix(out, sys+": healthy (1/1 checks healthy)\n") ||
		!regexp.MustCompile(`(?m)^daily-check +healthy +\d{4}-\d\d-\d\dT`).MatchString(out) {
		t.Fatalf("health %s: exit %d\n%s", sys, code, out)
	}
	// On a TTY the statuses are coloured: green healthy, red unhealthy.
	code, out = run(t, true, "health", sys)
	if code != 0 || !strings.Contains(out, sys+": \x1b[32mhealthy\x1b[0m") {
		t.Fatalf("health with colours: exit %d\n%q", code, out)
	}
	tg.code.Store(http.StatusInternalServerError)
	code, out = run(t, true, "run", sys, "daily-check")
	if code != 0 || !strings.Contains(out, "\x1b[31munhealthy\x1b[0m") {
		t.Fatalf("failing run with colours: exit %d\n%q", code, out)
	}

	// Errors: an unknown check, a bad token.
	if code, out = run(t, false, "runs", sys, "no-such-check"); code != cli.ExitError || !strings.Contains(out, `no check has the id or name "no-such-check"`) {
		t.Errorf("runs of an unknown check: exit %d\n%s", code, out)
	}
	if code, out = run(t, false, "systems", "--token", "cf_wrong"); code != cli.ExitError || !strings.Contains(out, "401") {
		t.Errorf("systems with a bad token: exit %d\n%s", code, out)
	}
}

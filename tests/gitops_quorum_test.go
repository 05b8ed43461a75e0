package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/apiclient"
	"github.com/checkflow/checkflow/internal/cli"
)

func quorumSystemDoc(id, quorum string) string {
	s := fmt.Sprintf("apiVersion: checkflow.io/v1alpha1\nkind: System\nmetadata:\n  name: %s\nspec:\n  healthchecks:\n    - ref: {kind: Healthcheck, name: q-check}\n      locations: [eu, us, ap]\n", id)
	if quorum != "" {
		s += "      quorum: " + quorum + "\n"
	}
	return s
}

// TestGitOpsQuorum: apply sets an assignment's quorum and a second dry run has no changes; a
// changed quorum is one field change; removing it resets the server to a majority; a quorum
// beyond the locations is an error at its line and column; a quorum set by hand exports and
// applies back to no change.
func TestGitOpsQuorum(t *testing.T) {
	t.Parallel()
	g := newGitOpsStack(t)
	ctx := context.Background()
	tg := newTarget(t)
	dir := t.TempDir()
	id := g.sys(t, "quorum")
	writeFile(t, filepath.Join(dir, "checks.yaml"), checkDoc("q-check", tg.srv.URL, 3600))
	sysFile := filepath.Join(dir, "system.yaml")
	quorumOnServer := func() *int {
		t.Helper()
		as, err := g.client(g.admin).ListAssignments(ctx, id)
		if err != nil || len(as) != 1 {
			t.Fatalf("assignments %+v, %v", as, err)
		}
		return as[0].Quorum
	}
	writeFile(t, sysFile, quorumSystemDoc(id, "2"))
	if code, out := g.cli(t, nil, "apply", "-f", dir); code != 0 {
		t.Fatalf("apply: %d\n%s", code, out)
	}
	if q := quorumOnServer(); q == nil || *q != 2 {
		t.Fatalf("quorum = %v, want 2", q)
	}
	if code, out := g.cli(t, nil, "apply", "-f", dir, "--dry-run", "--detailed-exitcode"); code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("second dry run: %d\n%s", code, out)
	}
	writeFile(t, sysFile, quorumSystemDoc(id, "3"))
	code, out := g.cli(t, nil, "apply", "-f", dir)
	if code != 0 || !strings.Contains(out, "healthchecks[q-check].quorum: 2 → 3") {
		t.Fatalf("apply quorum 3: %d\n%s", code, out)
	}

	if q := quorumOnServer(); q == nil || *q != 3 {
		t.Fatalf("quorum = %v, want 3", q)
	}
	writeFile(t, sysFile, quorumSystemDoc(id, ""))
	code, out = g.cli(t, nil, "apply", "-f", dir)
	if code != 0 || !strings.Contains(out, "healthchecks[q-check].quorum: 3 → (majority)") {
		t.Fatalf("apply without quorum: %d\n%s", code, out)
	}
	if q := quorumOnServer(); q != nil {
		t.Fatalf("quorum = %v, want none", *q)
	}
	writeFile(t, sysFile, quorumSystemDoc(id, "4"))
	code, out = g.cli(t, nil, "apply", "-f", dir)
	if code == 0 || !strings.Contains(out, "system.yaml:9:15:") || !strings.Contains(out, "spec.healthchecks[0].quorum: must be an integer between 1 and 3") {
		t.Fatalf("apply quorum 4: %d\n%s", code, out)
	}

	// Export round trip with a quorum set by hand.
	remote, err := cli.FetchRemote(ctx, g.client(g.admin))
	if err != nil {
		t.Fatal(err)
	}
	one := 1
	forced := g.client(g.admin)
	forced.Force = true
	if err := forced.PutAssignment(ctx, id, remote.CheckIDs["q-check"], apiclient.AssignmentInput{Enabled: true, Locations: []string{"eu", "us"}, Quorum: &one}); err != nil {
		t.Fatal(err)
	}
	out2 := t.TempDir()
	if code, msg := g.cli(t, nil, "export", "-o", out2); code != 0 {
		t.Fatalf("export: %d\n%s", code, msg)
	}
	data, _ := os.ReadFile(filepath.Join(out2, "systems.yaml"))
	if !strings.Contains(string(data), "quorum: 1") {
		t.Fatalf("export:\n%s", data)
	}
	if code, msg := g.cli(t, nil, "apply", "-f", out2, "--dry-run", "--detailed-exitcode"); code != 0 || !strings.Contains(msg, "No changes.") {
		t.Fatalf("export dry run: %d\n%s", code, msg)
	}
}

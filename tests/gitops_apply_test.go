package tests

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/checkflow/checkflow/internal/apiclient"
	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/cli"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/manifest"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/server"
	"github.com/checkflow/checkflow/workflows"
)

// countingEntities counts the config-changed signals the API sends, per system.
type countingEntities struct {
	server.Entities
	mu      sync.Mutex
	changed map[string]int
}

func (c *countingEntities) ConfigChanged(ctx context.Context, systemID string) error {
	c.mu.Lock()
	c.changed[systemID]++
	c.mu.Unlock()
	return c.Entities.ConfigChanged(ctx, systemID)
}

func (c *countingEntities) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.changed
	c.changed = map[string]int{}
	return out
}

// gitOpsStack is a stack with the API served over HTTP, an admin token and a config:manage one.
type gitOpsStack struct {
	*stack
	url           string
	admin, manage string
	counts        *countingEntities
	// suffix makes system ids unique to the test (entities outlive it).
	suffix string
	// writes counts the API requests other than GET and HEAD.
	writes atomic.Int64
}

func newGitOpsStack(t *testing.T) *gitOpsStack {
	t.Helper()
	s := newStackWith(t, stackOptions{box: testutil.SecretBox(t)})
	counts := &countingEntities{Entities: s.entities, changed: map[string]int{}}
	srv := server.New(server.Config{Pool: s.pool, Temporal: shared.temporal.Client, Entities: counts,
		Logger: s.opts.logger, Version: "e2e", SecretBox: s.opts.box})
	g := &gitOpsStack{stack: s, counts: counts}
	h := srv.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			g.writes.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	ctx := context.Background()
	admin, _, err := s.store.CreateToken(ctx, "gitops admin", []string{store.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	manage, _, err := s.store.CreateToken(ctx, "gitops manage", []string{store.ScopeConfigManage})
	if err != nil {
		t.Fatal(err)
	}
	u := testutil.UniqueName(t)
	g.url, g.admin, g.manage, g.suffix = hs.URL, admin, manage, u[len(u)-8:]
	return g
}

// sys returns a system id unique to the test; its entity is terminated when the test ends.
func (g *gitOpsStack) sys(t *testing.T, name string) string {
	id := name + "-" + g.suffix
	t.Cleanup(func() {
		_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.SystemWorkflowID(id), "", "test ended")
	})
	return id
}

func (g *gitOpsStack) client(token string) *apiclient.Client {
	return &apiclient.Client{BaseURL: g.url, Token: token}
}

// cli runs a CLI command against the stack with the admin token and returns its exit code and
// output.
func (g *gitOpsStack) cli(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	vars := map[string]string{"CHECKFLOW_SERVER": g.url, "CHECKFLOW_TOKEN": g.admin}
	for k, v := range env {
		vars[k] = v
	}
	cfgDir := t.TempDir()
	code := cli.Run(context.Background(), args[0], args[1:], cli.Env{
		Stdout: &out, Stderr: &errOut,
		LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		ConfigDir: func() (string, error) { return cfgDir, nil },
	})
	return code, out.String() + errOut.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func checkDoc(name, url string, interval int) string {
	return fmt.Sprintf(`apiVersion: checkflow.io/v1alpha1
kind: Healthcheck
metadata:
  name: %s
spec:
  strategy: http
  intervalSeconds: %d
  collectors:
    - collectorId: request
      config: {url: %q, timeout: 2000}
      assertions:
        - {field: statusCode, operator: equals, value: 200}
`, name, interval, url)
}

func systemDoc(id string, checks []string, degraded int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: checkflow.io/v1alpha1\nkind: System\nmetadata:\n  name: %s\n  title: System %s\n  labels: {team: gitops}\nspec:\n  description: managed\n  healthchecks:\n", id, id)
	for i, c := range checks {
		fmt.Fprintf(&b, "    - ref: {kind: Healthcheck, name: %s}\n", c)
		if i == 0 {
			fmt.Fprintf(&b, "      degradedThreshold: %d\n      unhealthyThreshold: 6\n", degraded)
		}
	}
	return b.String()
}

// countActions counts a plan's actions in apply's output ("+ create", "~ update", …).
func countLines(out, prefix string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// Acceptance 1: a directory of 50 systems and 120 checks applies to exactly the manifests; a
// second apply changes nothing and writes nothing; one edited threshold is one update and one
// config-changed for its system; a removed system is kept and reported without --prune and
// deleted with it.
func TestGitOpsApplyReconcile(t *testing.T) {
	g := newGitOpsStack(t)
	ctx := context.Background()
	tg := newTarget(t)
	dir := t.TempDir()
	const nSystems, nChecks = 50, 120
	var checksYAML []string
	for i := range nChecks {
		checksYAML = append(checksYAML, checkDoc(fmt.Sprintf("check-%03d", i), tg.srv.URL+fmt.Sprintf("/c%d", i), 3600))
	}
	writeFile(t, filepath.Join(dir, "checks.yaml"), strings.Join(checksYAML, "---\n"))
	systemIDs := make([]string, nSystems)
	systemChecks := make([][]string, nSystems)
	for i := range nChecks {
		systemChecks[i%nSystems] = append(systemChecks[i%nSystems], fmt.Sprintf("check-%03d", i))
	}
	for i := range nSystems {
		systemIDs[i] = g.sys(t, fmt.Sprintf("sys%02d", i))
		writeFile(t, filepath.Join(dir, "systems", fmt.Sprintf("%02d.yaml", i)), systemDoc(systemIDs[i], systemChecks[i], 3))
	}

	code, out := g.cli(t, nil, "apply", "-f", dir, "--context", "team-a")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	if got := countLines(out, "+ create"); got != nSystems+nChecks {
		t.Fatalf("first apply created %d objects, want %d\n%s", got, nSystems+nChecks, out)
	}
	// The server state equals the manifests.
	desired, err := manifest.Loader{}.LoadPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := cli.FetchRemote(ctx, g.client(g.admin))
	if err != nil {
		t.Fatal(err)
	}
	if len(remote.State.Checks) != nChecks || len(remote.State.Systems) != nSystems {
		t.Fatalf("server has %d checks, %d systems", len(remote.State.Checks), len(remote.State.Systems))
	}
	if p := manifest.Diff(desired, remote.State, remote.Managed("team-a"), true); p.HasChanges() {
		var b bytes.Buffer
		_ = p.WriteText(&b)
		t.Fatalf("server state differs from the manifests:\n%s", b.String())
	}
	prov, err := g.store.ListProvenance(ctx, "")
	if err != nil || len(prov) != nSystems+nChecks {
		t.Fatalf("provenance: %d records (%v), want %d", len(prov), err, nSystems+nChecks)
	}
	for _, p := range prov {
		if p.Source != "team-a" {
			t.Fatalf("provenance %+v, want source team-a", p)
		}
	}
	sys7 := remote.State.Systems[systemIDs[7]]
	if th := sys7.Healthchecks[0].Thresholds; th == nil || th.Degraded.MinFailureCount != 3 || th.Unhealthy.MinFailureCount != 6 {
		t.Fatalf("thresholds of %s: %+v", systemIDs[7], th)
	}

	// Second apply: no changes, nothing written (no write request, no signal, no updatedAt
	// moved).
	before := snapshotUpdatedAt(t, g)
	g.counts.reset()
	g.writes.Store(0)
	code, out = g.cli(t, nil, "apply", "-f", dir, "--context", "team-a")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("No changes. %d unchanged", nSystems+nChecks)) || strings.Contains(out, "Applied") {
		t.Fatalf("second apply: exit %d\n%s", code, out)
	}
	if n := g.writes.Swap(0); n != 0 {
		t.Errorf("second apply sent %d write requests", n)
	}
	if signals := g.counts.reset(); len(signals) != 0 {
		t.Errorf("second apply signalled %v", signals)
	}
	if after := snapshotUpdatedAt(t, g); after != before {
		t.Errorf("second apply wrote:\nbefore %s\nafter  %s", before, after)
	}
	code, _ = g.cli(t, nil, "apply", "-f", dir, "--context", "team-a", "--dry-run", "--detailed-exitcode")
	if code != 0 {
		t.Errorf("dry run without changes: exit %d, want 0", code)
	}

	// One threshold edited: one update in the plan, one config-changed for that system.
	writeFile(t, filepath.Join(dir, "systems", "07.yaml"), systemDoc(systemIDs[7], systemChecks[7], 4))
	code, out = g.cli(t, nil, "apply", "-f", dir, "--context", "team-a", "--dry-run", "--detailed-exitcode")
	if code != cli.ExitChanges || countLines(out, "~ update") != 1 || countLines(out, "+ create")+countLines(out, "- delete") != 0 ||
		!strings.Contains(out, fmt.Sprintf("Plan: 0 to create, 1 to update, 0 to delete, %d unchanged", nSystems+nChecks-1)) ||
		!strings.Contains(out, fmt.Sprintf("~ update System %q", systemIDs[7])) || !strings.Contains(out, "healthchecks[check-007].stateThresholds") {
		t.Fatalf("dry run after one edit: exit %d\n%s", code, out)
	}
	if signals := g.counts.reset(); len(signals) != 0 {
		t.Errorf("dry run signalled %v", signals)
	}
	if n := g.writes.Load(); n != 0 {
		t.Errorf("the dry runs sent %d write requests", n)
	}
	code, out = g.cli(t, nil, "apply", "-f", dir, "--context", "team-a")
	if code != 0 || countLines(out, "~ update") != 1 {
		t.Fatalf("apply after one edit: exit %d\n%s", code, out)
	}
	if signals := g.counts.reset(); len(signals) != 1 || signals[systemIDs[7]] != 1 {
		t.Errorf("config-changed signals %v, want exactly one for %s", signals, systemIDs[7])
	}
	as, err := g.client(g.admin).ListAssignments(ctx, systemIDs[7])
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.ConfigurationName == "check-007" && (a.StateThresholds == nil || a.StateThresholds.Degraded.MinFailureCount != 4) {
			t.Errorf("check-007 thresholds %+v, want degraded 4", a.StateThresholds)
		}
	}

	// A removed system: kept and reported without --prune, deleted with it.
	if err := os.Remove(filepath.Join(dir, "systems", "10.yaml")); err != nil {
		t.Fatal(err)
	}
	code, out = g.cli(t, nil, "apply", "-f", dir, "--context", "team-a")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("! kept System %q", systemIDs[10])) || !strings.Contains(out, "No changes.") {
		t.Fatalf("apply without prune: exit %d\n%s", code, out)
	}
	if _, err := g.store.GetSystem(ctx, systemIDs[10]); err != nil {
		t.Fatalf("system deleted without --prune: %v", err)
	}
	if signals := g.counts.reset(); len(signals) != 0 {
		t.Errorf("apply without prune signalled %v", signals)
	}
	code, out = g.cli(t, nil, "apply", "-f", dir, "--context", "team-a", "--prune")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("- delete System %q", systemIDs[10])) || countLines(out, "- delete") != 1 {
		t.Fatalf("apply with prune: exit %d\n%s", code, out)
	}
	if _, err := g.store.GetSystem(ctx, systemIDs[10]); err == nil {
		t.Fatal("system still exists after --prune")
	}
	if managed, _ := g.store.IsManaged(ctx, store.ProvenanceKindSystem, systemIDs[10]); managed {
		t.Error("provenance of the pruned system is left")
	}
	// Another context's prune does not touch team-a's objects.
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "x.yaml"), checkDoc("other-check", tg.srv.URL, 3600))
	code, out = g.cli(t, nil, "apply", "-f", other, "--context", "team-b", "--prune")
	if code != 0 || countLines(out, "- delete") != 0 || countLines(out, "+ create") != 1 {
		t.Fatalf("apply of another context: exit %d\n%s", code, out)
	}
}

// snapshotUpdatedAt renders every check's, system's and provenance record's update time.
func snapshotUpdatedAt(t *testing.T, g *gitOpsStack) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT coalesce(string_agg(id::text || '@' || updated_at::text, ',' ORDER BY id), '') FROM health_check_configurations`,
		`SELECT coalesce(string_agg(id || '@' || updated_at::text, ',' ORDER BY id), '') FROM systems`,
		`SELECT coalesce(string_agg(system_id || configuration_id::text || '@' || updated_at::text, ',' ORDER BY system_id, configuration_id), '') FROM system_health_checks`,
		`SELECT coalesce(string_agg(kind || entity_id || '@' || updated_at::text, ',' ORDER BY kind, entity_id), '') FROM gitops_provenance`,
	} {
		var s string
		if err := g.pool.QueryRow(context.Background(), q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		b.WriteString(s + "\n")
	}
	return b.String()
}

// Acceptance 2: a managed check cannot be changed through the API (403) unless the token has
// admin and the request sends the force header.
func TestGitOpsLockForce(t *testing.T) {
	g := newGitOpsStack(t)
	ctx := context.Background()
	tg := newTarget(t)
	dir := t.TempDir()
	sys := g.sys(t, "locked")
	writeFile(t, filepath.Join(dir, "m.yaml"), checkDoc("locked-check", tg.srv.URL, 3600)+"---\n"+systemDoc(sys, []string{"locked-check"}, 2))
	if code, out := g.cli(t, nil, "apply", "-f", dir); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	remote, err := cli.FetchRemote(ctx, g.client(g.admin))
	if err != nil {
		t.Fatal(err)
	}
	id := remote.CheckIDs["locked-check"]
	in := apiclient.CheckInput{Name: "locked-check", StrategyID: "http", Config: map[string]any{}, IntervalSeconds: 60,
		Collectors: remote.State.Checks["locked-check"].CollectorEntries()}
	tests := []struct {
		name   string
		token  string
		force  bool
		status int
	}{
		{"config:manage", g.manage, false, http.StatusForbidden},
		{"config:manage with force", g.manage, true, http.StatusForbidden},
		{"admin without force", g.admin, false, http.StatusForbidden},
		{"admin with force", g.admin, true, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := g.client(tt.token)
			c.Force = tt.force
			_, err := c.UpdateCheck(ctx, id, in)
			switch {
			case tt.status == http.StatusOK && err != nil:
				t.Fatalf("update: %v", err)
			case tt.status != http.StatusOK && !apiclient.IsStatus(err, tt.status):
				t.Fatalf("update: %v, want %d", err, tt.status)
			}
			if tt.status == http.StatusForbidden && !strings.Contains(err.Error(), "managed by GitOps") {
				t.Errorf("403 does not say managed by GitOps: %v", err)
			}
			// The system (assignments) is locked the same way.
			err = c.PutAssignment(ctx, sys, id, apiclient.AssignmentInput{Enabled: true})
			if (tt.status == http.StatusOK) != (err == nil) {
				t.Errorf("assign: %v", err)
			}
		})
	}
	// Pausing and deleting the managed check, deleting the managed system: refused the same way.
	for _, c := range []*apiclient.Client{g.client(g.manage), g.client(g.admin)} {
		if _, err := c.SetPaused(ctx, id, true); !apiclient.IsStatus(err, http.StatusForbidden) {
			t.Errorf("pause of a managed check: %v, want 403", err)
		}
		if err := c.DeleteCheck(ctx, id); !apiclient.IsStatus(err, http.StatusForbidden) {
			t.Errorf("delete of a managed check: %v, want 403", err)
		}
		if err := c.DeleteSystem(ctx, sys); !apiclient.IsStatus(err, http.StatusForbidden) {
			t.Errorf("delete of a managed system: %v, want 403", err)
		}
	}
	got, err := g.store.GetConfiguration(ctx, id)
	if err != nil || got.IntervalSeconds != 60 || got.Paused {
		t.Fatalf("interval after the forced update = %d (%v), want 60", got.IntervalSeconds, err)
	}
	// Released from management, the check is writable with config:manage.
	if err := g.client(g.admin).DeleteProvenance(ctx, "Healthcheck", id); err != nil {
		t.Fatal(err)
	}
	if _, err := g.client(g.manage).UpdateCheck(ctx, id, in); err != nil {
		t.Errorf("update after release: %v", err)
	}
}

// Acceptance 3: export, then apply --dry-run on a fresh database plans to create exactly what
// was exported; on the original, no changes.
func TestGitOpsExportRoundTrip(t *testing.T) {
	a := newGitOpsStack(t)
	ctx := context.Background()
	tg := newTarget(t)
	ca := a.client(a.admin)
	// Configuration made by hand through the API (not from manifests).
	var ids []string
	for i := range 4 {
		ch, err := ca.CreateCheck(ctx, apiclient.CheckInput{Name: fmt.Sprintf("hand-%d", i), StrategyID: "http", Config: map[string]any{}, IntervalSeconds: 300 + i,
			Collectors: []checksEntry{{ID: "req", CollectorID: "request", Config: []byte(fmt.Sprintf(`{"url": %q, "method": "GET"}`, tg.srv.URL))}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ch.ID)
	}
	sysIDs := []string{a.sys(t, "hand-a"), a.sys(t, "hand-b")}
	for i, id := range sysIDs {
		if _, err := ca.CreateSystem(ctx, apiclient.SystemInput{ID: id, Name: "Hand " + id, Description: "by hand", Labels: map[string]string{"n": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ca.PutAssignment(ctx, sysIDs[0], ids[0], apiclient.AssignmentInput{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	th := thresholds(3, 7)
	if err := ca.PutAssignment(ctx, sysIDs[0], ids[1], apiclient.AssignmentInput{Enabled: false, StateThresholds: &th, Locations: []string{"eu"}}); err != nil {
		t.Fatal(err)
	}
	if err := ca.PutAssignment(ctx, sysIDs[1], ids[1], apiclient.AssignmentInput{Enabled: true, NotificationPolicy: suppress()}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if code, msg := a.cli(t, nil, "export", "-o", out); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, msg)
	}
	// On the original: no changes.
	code, msg := a.cli(t, nil, "apply", "-f", out, "--dry-run", "--detailed-exitcode")
	if code != 0 || !strings.Contains(msg, "No changes.") {
		t.Fatalf("dry run on the original: exit %d\n%s", code, msg)
	}
	// On a fresh database: creates exactly what was exported.
	b := newGitOpsStack(t)
	code, msg = b.cli(t, nil, "apply", "-f", out, "--dry-run", "--detailed-exitcode")
	if code != cli.ExitChanges || countLines(msg, "+ create") != 6 || countLines(msg, "~ update")+countLines(msg, "- delete") != 0 {
		t.Fatalf("dry run on a fresh database: exit %d\n%s", code, msg)
	}
	for _, want := range []string{`Healthcheck "hand-0"`, `Healthcheck "hand-1"`, `Healthcheck "hand-2"`, `Healthcheck "hand-3"`,
		fmt.Sprintf("System %q", sysIDs[0]), fmt.Sprintf("System %q", sysIDs[1])} {
		if !strings.Contains(msg, "+ create "+want) {
			t.Errorf("plan lacks create %s:\n%s", want, msg)
		}
	}
}

type checksEntry = checks.CollectorEntry

func thresholds(degraded, unhealthy int) health.Thresholds {
	th := health.DefaultThresholds()
	th.Degraded.MinFailureCount, th.Unhealthy.MinFailureCount = degraded, unhealthy
	return th
}

func suppress() *health.NotificationPolicy {
	return &health.NotificationPolicy{SuppressDeEscalations: true}
}

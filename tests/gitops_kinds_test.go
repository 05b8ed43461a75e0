package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/apiclient"
	"github.com/checkflow/checkflow/internal/cli"
	"github.com/checkflow/checkflow/internal/manifest"
)

// kindsDocs are manifests with a check, a system, and a notification channel, a maintenance
// window and an automation that reference them by name.
func kindsDocs(sys, checkURL, events string, start, end time.Time) string {
	return checkDoc("kinds-check", checkURL, 3600) + "---\n" + systemDoc(sys, []string{"kinds-check"}, 2) + fmt.Sprintf(`---
apiVersion: checkflow.io/v1alpha1
kind: NotificationChannel
metadata:
  name: kinds-hook
spec:
  type: webhook
  config:
    url: https://hooks.example.com/kinds
    secret: {secretRef: KINDS_HOOK_SECRET}
  systems: [%[1]s]
  events: [%[2]s]
  remindEvery: 30m
---
apiVersion: checkflow.io/v1alpha1
kind: MaintenanceWindow
metadata:
  name: kinds-window
spec:
  description: planned
  systems: [%[1]s]
  startsAt: %[3]s
  endsAt: %[4]s
---
apiVersion: checkflow.io/v1alpha1
kind: Automation
metadata:
  name: kinds-auto
spec:
  trigger:
    event: healthcheck.system_health_changed
    filter: trigger.payload.newStatus != "healthy"
    window: {count: 3, minutes: 60, refire: once}
  cooldownSeconds: 600
  actions:
    - {type: notify, channel: kinds-hook, title: "{{.Payload.systemId}} flaps"}
    - {type: run_check, system: %[1]s, healthcheck: kinds-check}
    - {type: webhook, url: "https://hooks.example.com/auto", secret: {secretRef: KINDS_AUTO_SECRET}}
`, sys, events, start.Format(time.RFC3339), end.Format(time.RFC3339))
}

// snapshotKinds renders the update times of the channels, windows and automations.
func snapshotKinds(t *testing.T, g *gitOpsStack) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT coalesce(string_agg(id::text || '@' || updated_at::text, ',' ORDER BY id), '') FROM notification_channels`,
		`SELECT coalesce(string_agg(id::text || '@' || updated_at::text, ',' ORDER BY id), '') FROM maintenance_windows`,
		`SELECT coalesce(string_agg(id::text || '@' || updated_at::text, ',' ORDER BY id), '') FROM automations`,
	} {
		var s string
		if err := g.pool.QueryRow(context.Background(), q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		b.WriteString(s + "\n")
	}
	return b.String() + snapshotUpdatedAt(t, g)
}

// NotificationChannel, MaintenanceWindow and Automation manifests apply end to end: the server
// gets them with their references resolved to ids; a second apply writes nothing; one edited
// field is one update; export applies back to no change; an ended window is refused naming
// spec.endsAt; apply marks the channel, the window and the automation with its context, which
// locks them (403 to a config:manage token, and to admin without X-Checkflow-Force); prune
// deletes all three and releases their provenance.
func TestGitOpsKinds(t *testing.T) {
	g := newGitOpsStack(t)
	ctx := context.Background()
	cl := g.client(g.admin)
	tg := newTarget(t)
	sys := g.sys(t, "kinds")
	env := map[string]string{"KINDS_HOOK_SECRET": "hook-s3cret", "KINDS_AUTO_SECRET": "auto-s3cret"}
	start := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	end := start.Add(2 * time.Hour)
	dir := t.TempDir()
	path := filepath.Join(dir, "all.yaml")
	writeFile(t, path, kindsDocs(sys, tg.srv.URL, "escalation, recovery", start, end))

	code, out := g.cli(t, env, "apply", "-f", dir)
	if code != 0 || countLines(out, "+ create") != 5 {
		t.Fatalf("first apply: exit %d\n%s", code, out)
	}
	for _, secret := range env {
		if strings.Contains(out, secret) {
			t.Fatalf("apply printed a secret:\n%s", out)
		}
	}
	remote, err := cli.FetchRemote(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	channels, err := cl.ListChannels(ctx)
	if err != nil || len(channels) != 1 {
		t.Fatalf("channels = %+v, %v", channels, err)
	}
	ch := channels[0]
	if ch.Name != "kinds-hook" || ch.Type != "webhook" || !slices.Equal(ch.Systems, []string{sys}) || !slices.Equal(ch.Events, []string{"escalation", "recovery"}) ||
		ch.RemindEvery == nil || *ch.RemindEvery != "30m0s" || !strings.Contains(string(ch.Config), `"secret":"****"`) {
		t.Errorf("channel on the server = %+v config %s", ch, ch.Config)
	}
	windows, err := cl.ListMaintenances(ctx)
	if err != nil || len(windows) != 1 || windows[0].Title != "kinds-window" || !windows[0].StartsAt.Equal(start) || !windows[0].EndsAt.Equal(end) ||
		!slices.Equal(windows[0].SystemIDs, []string{sys}) {
		t.Fatalf("windows = %+v, %v", windows, err)
	}
	autos, err := cl.ListAutomations(ctx)
	if err != nil || len(autos) != 1 || len(autos[0].Actions) != 3 {
		t.Fatalf("automations = %+v, %v", autos, err)
	}
	auto := autos[0]
	if !strings.Contains(string(auto.Actions[0].Config), ch.ID) || !strings.Contains(string(auto.Actions[1].Config), remote.CheckIDs["kinds-check"]) ||
		!strings.Contains(string(auto.Actions[2].Config), `"secret":"****"`) || auto.Trigger.Window == nil || auto.CooldownSeconds != 600 {
		t.Errorf("automation on the server = %+v", auto)
	}
	// The channel, the window and the automation are managed by the context (and locked).
	for _, m := range []struct{ kind, name string }{
		{"NotificationChannel", "kinds-hook"}, {"MaintenanceWindow", "kinds-window"}, {"Automation", "kinds-auto"},
	} {
		if src := remote.Source(manifest.Kind(m.kind), m.name); src != cli.DefaultContext {
			t.Errorf("%s %q provenance = %q, want %q", m.kind, m.name, src, cli.DefaultContext)
		}
	}
	if _, err := g.client(g.manage).UpdateAutomation(ctx, auto.ID, auto.Spec); !apiclient.IsStatus(err, 403) {
		t.Errorf("config:manage update of the managed automation: %v, want 403", err)
	}
	testKindsLock(t, g, sys, ch, windows[0])

	// Apply again: no changes, nothing written.
	before := snapshotKinds(t, g)
	code, out = g.cli(t, env, "apply", "-f", dir)
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("second apply: exit %d\n%s", code, out)
	}
	if after := snapshotKinds(t, g); after != before {
		t.Errorf("a no-change apply wrote:\nbefore %s\nafter  %s", before, after)
	}

	// One edited field: exactly one update, naming it.
	writeFile(t, path, kindsDocs(sys, tg.srv.URL, "escalation, de-escalation, recovery", start, end))
	code, out = g.cli(t, env, "apply", "-f", dir)
	if code != 0 || countLines(out, "~ update") != 1 || !strings.Contains(out, `~ update NotificationChannel "kinds-hook"`) ||
		!strings.Contains(out, "    events: ") || countLines(out, "    ") != 1 {
		t.Fatalf("edit apply: exit %d\n%s", code, out)
	}
	if got, err := cl.ListChannels(ctx); err != nil || len(got[0].Events) != 3 || got[0].ID != ch.ID {
		t.Errorf("channel after the edit = %+v, %v", got, err)
	}

	// Export, then a dry run of the export on the original: no changes (secrets by reference).
	exported := t.TempDir()
	code, out = g.cli(t, nil, "export", "-o", exported)
	if code != 0 || !strings.Contains(out, "1 notification channels, 1 maintenance windows and 1 automations") {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	exportEnv := map[string]string{"CHANNEL_KINDS_HOOK_SECRET": "x", "AUTOMATION_KINDS_AUTO_ACTION_2_SECRET": "y"}
	for name := range exportEnv {
		if !strings.Contains(out, name) {
			t.Errorf("export does not ask for %s:\n%s", name, out)
		}
	}
	for _, f := range []string{"notification-channels.yaml", "maintenance-windows.yaml", "automations.yaml"} {
		data, err := os.ReadFile(filepath.Join(exported, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "****") || strings.Contains(string(data), "s3cret") {
			t.Errorf("%s holds a secret:\n%s", f, data)
		}
	}
	code, out = g.cli(t, exportEnv, "apply", "-f", exported, "--dry-run", "--detailed-exitcode")
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("dry run of the export: exit %d\n%s", code, out)
	}

	// An ended window in a manifest: refused, naming the file, line and spec.endsAt.
	endedDir := t.TempDir()
	writeFile(t, filepath.Join(endedDir, "w.yaml"), fmt.Sprintf(`apiVersion: checkflow.io/v1alpha1
kind: MaintenanceWindow
metadata: {name: kinds-past}
spec:
  systems: [%s]
  startsAt: 2020-01-01T00:00:00Z
  endsAt: 2020-01-01T01:00:00Z
`, sys))
	code, out = g.cli(t, nil, "apply", "-f", endedDir, "--context", "past")
	if code != cli.ExitError || !strings.Contains(out, "w.yaml:7:11: MaintenanceWindow \"kinds-past\": spec.endsAt: the window ended") {
		t.Fatalf("apply of an ended window: exit %d\n%s", code, out)
	}

	// Prune with only the check and the system left: the automation, the window and the channel
	// are deleted and released.
	writeFile(t, path, checkDoc("kinds-check", tg.srv.URL, 3600)+"---\n"+systemDoc(sys, []string{"kinds-check"}, 2))
	code, out = g.cli(t, nil, "apply", "-f", dir, "--prune")
	if code != 0 || countLines(out, "- delete") != 3 || !strings.Contains(out, `- delete Automation "kinds-auto"`) ||
		!strings.Contains(out, `- delete MaintenanceWindow "kinds-window"`) || !strings.Contains(out, `- delete NotificationChannel "kinds-hook"`) {
		t.Fatalf("prune: exit %d\n%s", code, out)
	}
	if got, err := cl.ListAutomations(ctx); err != nil || len(got) != 0 {
		t.Errorf("automations after prune = %+v, %v", got, err)
	}
	if got, err := cl.ListChannels(ctx); err != nil || len(got) != 0 {
		t.Errorf("channels after prune = %+v, %v", got, err)
	}
	if got, err := cl.ListMaintenances(ctx); err != nil || len(got) != 0 {
		t.Errorf("windows after prune = %+v, %v", got, err)
	}
	for _, kind := range []string{"Automation", "NotificationChannel", "MaintenanceWindow"} {
		if prov, err := cl.ListProvenance(ctx, kind); err != nil || len(prov) != 0 {
			t.Errorf("%s provenance after prune = %+v, %v", kind, prov, err)
		}
	}
	// A second prune has nothing left to do.
	code, out = g.cli(t, nil, "apply", "-f", dir, "--prune")
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("second prune: exit %d\n%s", code, out)
	}
}

// testKindsLock checks the GitOps lock on the managed channel ch and window w (written back
// unchanged): a config:manage token and an admin token without the force header get 403
// managed-by-gitops on updates and deletes, admin + X-Checkflow-Force: true updates them; a
// forced delete removes a managed channel and window of another context. The provenance API
// takes both kinds and refuses a missing entity.
func testKindsLock(t *testing.T, g *gitOpsStack, sys string, ch apiclient.Channel, w apiclient.Maintenance) {
	t.Helper()
	ctx := context.Background()
	admin := g.client(g.admin)
	forced := g.client(g.admin)
	forced.Force = true
	chIn := apiclient.ChannelInput{Name: ch.Name, Config: ch.Config, Systems: ch.Systems, Events: ch.Events, RemindEvery: ch.RemindEvery, Enabled: ch.Enabled}
	wIn := apiclient.MaintenanceInput{Title: w.Title, Description: w.Description, SystemIDs: w.SystemIDs, StartsAt: w.StartsAt, EndsAt: w.EndsAt}

	// Another context's channel and window, created and marked through the API, for the
	// forced deletes.
	otherCh, err := admin.CreateChannel(ctx, apiclient.ChannelInput{Name: "kinds-other-hook", Type: "webhook",
		Config: []byte(`{"url":"https://hooks.example.com/other"}`), Systems: []string{sys}, Events: []string{"recovery"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	otherW, err := admin.CreateMaintenance(ctx, apiclient.MaintenanceInput{Title: "kinds-other-window", SystemIDs: []string{sys}, StartsAt: w.StartsAt, EndsAt: w.EndsAt})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ kind, id string }{{"NotificationChannel", otherCh.ID}, {"MaintenanceWindow", otherW.ID}} {
		if err := admin.SetProvenance(ctx, m.kind, m.id, "elsewhere"); err != nil {
			t.Fatalf("mark %s %s: %v", m.kind, m.id, err)
		}
		if err := admin.SetProvenance(ctx, m.kind, "00000000-0000-4000-8000-000000000000", "elsewhere"); !apiclient.IsStatus(err, 404) {
			t.Errorf("mark a missing %s: %v, want 404", m.kind, err)
		}
	}

	updateCh := func(c *apiclient.Client) error { _, err := c.UpdateChannel(ctx, ch.ID, chIn); return err }
	updateW := func(c *apiclient.Client) error { _, err := c.UpdateMaintenance(ctx, w.ID, wIn); return err }
	tests := []struct {
		name   string
		client *apiclient.Client
		write  func(*apiclient.Client) error
		want   int // 0: success
	}{
		{"config:manage updates the channel", g.client(g.manage), updateCh, 403},
		{"config:manage deletes the channel", g.client(g.manage), func(c *apiclient.Client) error { return c.DeleteChannel(ctx, ch.ID) }, 403},
		{"config:manage updates the window", g.client(g.manage), updateW, 403},
		{"config:manage deletes the window", g.client(g.manage), func(c *apiclient.Client) error { return c.DeleteMaintenance(ctx, w.ID) }, 403},
		{"admin without force updates the channel", admin, updateCh, 403},
		{"admin without force deletes the window", admin, func(c *apiclient.Client) error { return c.DeleteMaintenance(ctx, w.ID) }, 403},
		{"admin with force updates the channel", forced, updateCh, 0},
		{"admin with force updates the window", forced, updateW, 0},
		{"admin with force deletes another context's channel", forced, func(c *apiclient.Client) error { return c.DeleteChannel(ctx, otherCh.ID) }, 0},
		{"admin with force deletes another context's window", forced, func(c *apiclient.Client) error { return c.DeleteMaintenance(ctx, otherW.ID) }, 0},
	}
	for _, tt := range tests {
		err := tt.write(tt.client)
		switch {
		case tt.want == 0 && err != nil:
			t.Errorf("%s: %v, want success", tt.name, err)
		case tt.want != 0 && !apiclient.IsStatus(err, tt.want):
			t.Errorf("%s: %v, want %d", tt.name, err, tt.want)
		case tt.want == 403 && !strings.Contains(err.Error(), "managed by GitOps"):
			t.Errorf("%s: 403 does not say managed by GitOps: %v", tt.name, err)
		}
	}
	// The locked objects are still there; the forced deletes happened.
	channels, err := admin.ListChannels(ctx)
	if err != nil || len(channels) != 1 || channels[0].ID != ch.ID {
		t.Errorf("channels after the lock checks = %+v, %v", channels, err)
	}
	windows, err := admin.ListMaintenances(ctx)
	if err != nil || len(windows) != 1 || windows[0].ID != w.ID {
		t.Errorf("windows after the lock checks = %+v, %v", windows, err)
	}
	// The server keeps a deleted entity's provenance (like the other kinds; apply releases
	// what it prunes): release the other context's records.
	for _, m := range []struct{ kind, id string }{{"NotificationChannel", otherCh.ID}, {"MaintenanceWindow", otherW.ID}} {
		if err := admin.DeleteProvenance(ctx, m.kind, m.id); err != nil && !apiclient.IsStatus(err, 404) {
			t.Errorf("release %s %s: %v", m.kind, m.id, err)
		}
	}
}

// `checkflow token list|create|revoke` through the stack's HTTP API with the admin token.
func TestGitOpsTokenCommands(t *testing.T) {
	g := newGitOpsStack(t)
	code, out := g.cli(t, nil, "token", "create", "--api", "--scopes", "config:read", "--name", "kinds-ci")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "cf_") {
		t.Fatalf("token create: exit %d\n%s", code, out)
	}
	secret := lines[0]
	// The new token reads through the API.
	if _, err := g.client(secret).ListSystems(context.Background()); err != nil {
		t.Fatalf("the new token does not work: %v", err)
	}
	code, out = g.cli(t, nil, "token", "list")
	var id string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[1] == "kinds-ci" {
			id = f[0]
		}
	}
	if code != 0 || id == "" || strings.Contains(out, secret) {
		t.Fatalf("token list: exit %d\n%s", code, out)
	}
	if code, out = g.cli(t, nil, "token", "revoke", id); code != 0 {
		t.Fatalf("token revoke: exit %d\n%s", code, out)
	}
	if _, err := g.client(secret).ListSystems(context.Background()); !apiclient.IsStatus(err, 401) {
		t.Errorf("revoked token: %v, want 401", err)
	}
	// A config:manage token cannot manage tokens.
	code, out = g.cli(t, map[string]string{"CHECKFLOW_TOKEN": g.manage}, "token", "list")
	if code != cli.ExitError || !strings.Contains(out, "403") {
		t.Errorf("token list with config:manage: exit %d\n%s", code, out)
	}
}

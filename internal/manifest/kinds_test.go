package manifest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

const kindsManifest = `apiVersion: checkflow.io/v1alpha1
kind: Healthcheck
metadata: {name: api}
spec: {strategy: http, intervalSeconds: 30}
---
apiVersion: checkflow.io/v1alpha1
kind: System
metadata: {name: payments}
spec:
  healthchecks:
    - ref: {kind: Healthcheck, name: api}
---
apiVersion: checkflow.io/v1alpha1
kind: NotificationChannel
metadata: {name: ops-slack}
spec:
  type: slack
  config:
    webhookUrl: {secretRef: SLACK_URL}
  systems: [payments, ledger]
  events: [recovery, escalation]
  remindEvery: 90m
---
apiVersion: checkflow.io/v1alpha1
kind: NotificationChannel
metadata: {name: all-hooks}
spec:
  type: webhook
  config:
    url: https://hooks.example.com/all
    headers: {secretRef: HOOK_HEADERS}
  enabled: false
---
apiVersion: checkflow.io/v1alpha1
kind: MaintenanceWindow
metadata: {name: db upgrade}
spec:
  description: Postgres 17
  systems: [payments, ledger]
  startsAt: 2030-05-30T22:00:00Z
  endsAt: "2030-05-31T00:30:00Z"
---
apiVersion: checkflow.io/v1alpha1
kind: Automation
metadata: {name: page-on-flapping}
spec:
  trigger:
    event: healthcheck.system_health_changed
    filter: trigger.payload.newStatus != "healthy"
    window: {count: 3, minutes: 60, refire: once}
  cooldownSeconds: 600
  actions:
    - {type: notify, channel: ops-slack, title: "{{.Payload.systemId}} flaps"}
    - {type: run_check, system: payments, healthcheck: api}
    - {type: set_assignment_enabled, system: ledger, healthcheck: api, enabled: false}
    - {type: webhook, url: "https://hooks.example.com/x", secret: {secretRef: HOOK_SECRET}}
`

var kindsEnv = map[string]string{"SLACK_URL": "https://hooks.slack.com/services/T/B/sl4ck", "HOOK_HEADERS": `{"X-Token": "h3ad3r"}`, "HOOK_SECRET": "w3bh00k"}

func loadKinds(t *testing.T) *State {
	t.Helper()
	s, err := Loader{LookupEnv: env(kindsEnv)}.Load(File{Name: "k.yaml", Data: []byte(kindsManifest)})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return s
}

// The new kinds decode into the normalized model: defaults applied, lists sorted, secrets
// resolved, references by name, systems no manifest defines left for apply.
func TestLoadKinds(t *testing.T) {
	s := loadKinds(t)
	ch := s.Channels["ops-slack"]
	if ch == nil || ch.Type != "slack" || strings.Join(ch.Systems, ",") != "ledger,payments" || strings.Join(ch.Events, ",") != "escalation,recovery" ||
		ch.RemindEverySeconds != 5400 || !ch.Enabled || ch.Pos.Line != 13 {
		t.Fatalf("channel = %+v", ch)
	}
	if sec, ok := ch.Config["webhookUrl"].(*Secret); !ok || sec.Value() != kindsEnv["SLACK_URL"] || sec.Ref != "SLACK_URL" {
		t.Errorf("webhookUrl = %#v", ch.Config["webhookUrl"])
	}
	hooks := s.Channels["all-hooks"]
	if hooks.Enabled || strings.Join(hooks.Systems, ",") != "*" || strings.Join(hooks.Events, ",") != "de-escalation,escalation,recovery" {
		t.Errorf("defaults = %+v", hooks)
	}
	// A non-string secret (webhook headers) is sent as its JSON value.
	raw, err := ChannelConfigJSON(hooks.Type, hooks.Config)
	if err != nil || !strings.Contains(string(raw), `"headers":{"X-Token":"h3ad3r"}`) {
		t.Errorf("config JSON = %s, %v", raw, err)
	}
	w := s.Windows["db upgrade"]
	if w == nil || w.Description != "Postgres 17" || strings.Join(w.Systems, ",") != "ledger,payments" ||
		!w.StartsAt.Equal(time.Date(2030, 5, 30, 22, 0, 0, 0, time.UTC)) || !w.EndsAt.Equal(time.Date(2030, 5, 31, 0, 30, 0, 0, time.UTC)) || w.EndsAtPos.Line != 41 {
		t.Fatalf("window = %+v", w)
	}
	a := s.Automations["page-on-flapping"]
	if a == nil || !a.Enabled || a.Event != "healthcheck.system_health_changed" || a.CooldownSeconds != 600 ||
		a.Window == nil || a.Window.Count != 3 || a.Window.Refire != health.RefireOnce || len(a.Actions) != 4 {
		t.Fatalf("automation = %+v", a)
	}
	if act := a.Actions[0]; act.Type != "notify" || act.Channel != "ops-slack" || act.Title != "{{.Payload.systemId}} flaps" {
		t.Errorf("notify = %+v", act)
	}
	if act := a.Actions[2]; act.System != "ledger" || act.Check != "api" || act.Enabled {
		t.Errorf("set_assignment_enabled = %+v", act)
	}
	if act := a.Actions[3]; act.Secret == nil || act.Secret.Value() != "w3bh00k" {
		t.Errorf("webhook = %+v", act)
	}
	// ledger is named by no System manifest: apply checks it against the server.
	var external []string
	for _, r := range s.ExternalSystems {
		external = append(external, r.Field+"="+r.Name)
	}
	if strings.Join(external, " ") != "spec.systems[1]=ledger spec.systems[1]=ledger spec.actions[2].system=ledger" {
		t.Errorf("external refs = %v", external)
	}
	err = CheckExternalRefs(s, func(id string) bool { return id != "ledger" })
	if err == nil || !strings.Contains(err.Error(), `k.yaml:39:23: `) || !strings.Contains(err.Error(), `MaintenanceWindow "db upgrade": spec.systems[1]: cannot resolve System ref "ledger"`) {
		t.Errorf("CheckExternalRefs = %v", err)
	}
	if err := CheckExternalRefs(s, func(string) bool { return true }); err != nil {
		t.Errorf("CheckExternalRefs with ledger on the server = %v", err)
	}
}

// serverView returns s as the API would show it: secrets masked.
func serverView(s *State) *State {
	for _, ch := range s.Channels {
		ch.Config = maskAll(ch.Config)
	}
	for _, a := range s.Automations {
		for i := range a.Actions {
			if a.Actions[i].Secret != nil {
				a.Actions[i].Secret = &Secret{Masked: true}
			}
		}
	}
	return s
}

func TestDiffKinds(t *testing.T) {
	desired := loadKinds(t)
	tests := []struct {
		name    string
		edit    func(cur *State)
		managed Managed
		prune   bool
		want    []string
	}{
		{name: "identical (masked secrets equal any value)", edit: func(*State) {}},
		{name: "missing", edit: func(cur *State) {
			cur.Channels, cur.Windows, cur.Automations = map[string]*Channel{}, map[string]*Window{}, map[string]*Automation{}
		}, want: []string{"create NotificationChannel all-hooks", "create NotificationChannel ops-slack", "create MaintenanceWindow db upgrade", "create Automation page-on-flapping"}},
		{name: "channel fields", edit: func(cur *State) {
			ch := cur.Channels["ops-slack"]
			ch.Events = []string{"escalation"}
			ch.RemindEverySeconds = 0
			cur.Channels["all-hooks"].Config["url"] = "https://old.example.com"
		}, want: []string{"update NotificationChannel all-hooks [config.url]", "update NotificationChannel ops-slack [events remindEvery]"}},
		{name: "secret replaced by a plain value", edit: func(cur *State) {
			cur.Channels["ops-slack"].Config["webhookUrl"] = "https://plain"
		}, want: []string{"update NotificationChannel ops-slack [config.webhookUrl]"}},
		{name: "window times", edit: func(cur *State) {
			cur.Windows["db upgrade"].EndsAt = cur.Windows["db upgrade"].EndsAt.Add(time.Hour)
			cur.Windows["db upgrade"].Systems = []string{"payments"}
		}, want: []string{"update MaintenanceWindow db upgrade [systems endsAt]"}},
		{name: "automation trigger and one action", edit: func(cur *State) {
			a := cur.Automations["page-on-flapping"]
			a.Window = &health.WindowConfig{Count: 3, Minutes: 60, Refire: health.RefireEvery}
			a.Actions[1].Check = "other"
		}, want: []string{"update Automation page-on-flapping [trigger.window actions[1]]"}},
		{name: "automation action removed and secret dropped", edit: func(cur *State) {
			a := cur.Automations["page-on-flapping"]
			a.Actions[3].Secret = nil
			a.Actions = append(a.Actions, AutomationAction{Type: "notify", Channel: "x"})
		}, want: []string{"update Automation page-on-flapping [actions[3] actions[4]]"}},
		{name: "managed automation pruned, unmanaged channel ignored", edit: func(cur *State) {
			cur.Automations["old"] = &Automation{Name: "old"}
			cur.Channels["manual"] = &Channel{Name: "manual"}
		}, managed: Managed{KindAutomation: {"old": true}}, prune: true, want: []string{"delete Automation old"}},
		{name: "managed automation kept without prune", edit: func(cur *State) {
			cur.Automations["old"] = &Automation{Name: "old"}
		}, managed: Managed{KindAutomation: {"old": true}}, want: []string{"kept Automation old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := serverView(loadKinds(t))
			tt.edit(cur)
			p := Diff(desired, cur, tt.managed, tt.prune)
			var got []string
			for _, c := range p.Changes {
				if c.Action == ActionUnchanged || (c.Kind != KindNotificationChannel && c.Kind != KindMaintenanceWindow && c.Kind != KindAutomation) {
					continue
				}
				s := string(c.Action) + " " + string(c.Kind) + " " + c.Name
				if c.Action == ActionUpdate {
					s += " [" + strings.Join(c.FieldNames(), " ") + "]"
				}
				got = append(got, s)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var buf bytes.Buffer
			if err := p.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			for _, v := range kindsEnv {
				if strings.Contains(buf.String(), v) {
					t.Errorf("plan text shows a secret value:\n%s", buf.String())
				}
			}
		})
	}
}

// An ended window is an error naming spec.endsAt when the plan would write it, and fine when
// the server already has it unchanged.
func TestCheckWindows(t *testing.T) {
	desired := loadKinds(t)
	after := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	empty := NewState()
	err := CheckWindows(Diff(desired, empty, nil, false), desired, after)
	if err == nil || !strings.Contains(err.Error(), `k.yaml:41:11: MaintenanceWindow "db upgrade": spec.endsAt: the window ended at 2030-05-31T00:30:00Z`) {
		t.Errorf("ended window created: %v", err)
	}
	if err := CheckWindows(Diff(desired, empty, nil, false), desired, after.AddDate(-2, 0, 0)); err != nil {
		t.Errorf("future window: %v", err)
	}
	same := serverView(loadKinds(t))
	if err := CheckWindows(Diff(desired, same, nil, false), desired, after); err != nil {
		t.Errorf("ended window unchanged on the server: %v", err)
	}
}

// Export writes the new kinds back as manifests that load to no change, with secret
// references (never values), and leaves ended windows out when asked.
func TestExportKinds(t *testing.T) {
	cur := serverView(loadKinds(t))
	files, refs, err := Export(cur)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var in []File
	for _, f := range files {
		names = append(names, f.Name)
		for _, v := range append([]string{"****"}, kindsEnv["SLACK_URL"], "h3ad3r", "w3bh00k") {
			if bytes.Contains(f.Data, []byte(v)) {
				t.Errorf("%s holds a secret value:\n%s", f.Name, f.Data)
			}
		}
		in = append(in, File{Name: f.Name, Data: f.Data})
	}
	if strings.Join(names, ",") != "healthchecks.yaml,systems.yaml,notification-channels.yaml,maintenance-windows.yaml,automations.yaml" {
		t.Errorf("files = %v", names)
	}
	want := "AUTOMATION_PAGE_ON_FLAPPING_ACTION_3_SECRET,CHANNEL_ALL_HOOKS_HEADERS,CHANNEL_OPS_SLACK_WEBHOOKURL"
	if strings.Join(refs, ",") != want {
		t.Errorf("refs = %v, want %s", refs, want)
	}
	vars := map[string]string{}
	for _, r := range refs {
		vars[r] = "https://example.com/" + r
		if strings.HasSuffix(r, "HEADERS") {
			vars[r] = `{"X-A": "b"}`
		}
	}
	back, err := Loader{LookupEnv: env(vars)}.Load(in...)
	if err != nil {
		t.Fatalf("exported manifests do not load: %v", err)
	}
	if p := Diff(back, cur, nil, false); p.HasChanges() {
		var buf bytes.Buffer
		_ = p.WriteText(&buf)
		t.Errorf("export does not apply back to no change:\n%s", buf.String())
	}
	kept, ended := cur.WithoutEndedWindows(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	if len(kept.Windows) != 0 || strings.Join(ended, ",") != "db upgrade" || len(cur.Windows) != 1 {
		t.Errorf("WithoutEndedWindows: kept %v, ended %v", kept.Windows, ended)
	}
}

func TestDurationText(t *testing.T) {
	for secs, want := range map[int]string{1: "1s", 90: "1m30s", 1800: "30m", 5400: "1h30m", 604800: "168h", 3661: "1h1m1s"} {
		if got := DurationText(secs); got != want {
			t.Errorf("DurationText(%d) = %q, want %q", secs, got, want)
		}
		if d, err := time.ParseDuration(DurationText(secs)); err != nil || int(d/time.Second) != secs {
			t.Errorf("DurationText(%d) does not parse back: %v", secs, err)
		}
	}
}

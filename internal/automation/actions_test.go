package automation

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestActionKey: "<event key>:<automation id>:<action index>".
func TestActionKey(t *testing.T) {
	for _, tc := range []struct {
		event, automation string
		index             int
		want              string
	}{
		{"sys-1:42:healthcheck.system_health_changed", "8f14e45f-ceea-467f-a9f0-6a2a1f7b6d11", 0,
			"sys-1:42:healthcheck.system_health_changed:8f14e45f-ceea-467f-a9f0-6a2a1f7b6d11:0"},
		{"sys-1:7:healthcheck.check_failed:cfg-1", "a", 12, "sys-1:7:healthcheck.check_failed:cfg-1:a:12"},
	} {
		if got := ActionKey(tc.event, tc.automation, tc.index); got != tc.want {
			t.Errorf("ActionKey = %q, want %q", got, tc.want)
		}
	}
}

// TestWebhookBody: {"automationId", "event", "payload", "firedAt"}, byte-identical on every call.
func TestWebhookBody(t *testing.T) {
	ev := Event{Key: "sys-1:3:healthcheck.system_degraded", Type: EventSystemDegraded, Payload: payload(t, degradedPayload), At: t0}
	firedAt := time.Date(2026, 5, 29, 14, 0, 0, 5000, time.FixedZone("CEST", 7200))
	a, err := WebhookBody("auto-1", ev, firedAt)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"automationId":"auto-1","event":"healthcheck.system_degraded","payload":{"healthyChecks":1,"newStatus":"degraded",` +
		`"previousStatus":"healthy","systemId":"sys-1","timestamp":"2026-05-29T11:00:00Z","totalChecks":2},"firedAt":"2026-05-29T12:00:00.000005Z"}`
	if string(a) != want {
		t.Fatalf("body\n%s\nwant\n%s", a, want)
	}
	for i := 0; i < 20; i++ {
		b, _ := WebhookBody("auto-1", ev, firedAt)
		if string(b) != string(a) {
			t.Fatal("body is not deterministic")
		}
	}
	if b, _ := WebhookBody("a", Event{Type: EventCheckFailed}, t0); !strings.Contains(string(b), `"payload":{}`) {
		t.Fatalf("nil payload: %s", b)
	}
}

// TestNotifyRender: templates see the fire; empty templates use the defaults; output is capped.
func TestNotifyRender(t *testing.T) {
	d := TemplateData{AutomationID: "auto-1", AutomationName: "shop flaps", Event: EventSystemHealthChanged,
		EventKey: "sys-1:3:x", Payload: payload(t, degradedPayload), PartitionKey: "sys-1", FiredAt: t0}
	title, body, err := NotifyConfig{Title: "{{.Payload.systemId}} is {{.Payload.newStatus}}",
		Body: "{{.Payload.healthyChecks}}/{{.Payload.totalChecks}} healthy at {{.FiredAt.Format \"15:04\"}} ({{.Payload.missing}})"}.Render(d)
	if err != nil || title != "sys-1 is degraded" || body != "1/2 healthy at 12:00 (<no value>)" {
		t.Fatalf("render %q %q %v", title, body, err)
	}
	title, body, err = NotifyConfig{}.Render(d)
	if err != nil || title != "shop flaps: healthcheck.system_health_changed" ||
		body != "Automation **shop flaps** fired on healthcheck.system_health_changed for system sys-1." {
		t.Fatalf("defaults %q %q %v", title, body, err)
	}
	_, body, err = NotifyConfig{Body: `{{range $i, $_ := .Payload.items}}{{$.AutomationName}}{{end}}`}.Render(
		TemplateData{AutomationName: strings.Repeat("x", 100), Payload: map[string]any{"items": make([]any, 1000)}})
	if err != nil || len(body) > MaxRenderedBytes || !strings.Contains(body, "truncated") {
		t.Fatalf("capped body: %d bytes %v", len(body), err)
	}
	if _, _, err := (NotifyConfig{Title: `{{index .Payload.systemId 5}}`}).Render(d); err == nil {
		t.Fatal("a failing template rendered")
	}
}

// TestActionResults: the reference's action shapes (AU-4, AU-5, AU-7) and the configs AU-6/AU-8
// act on.
func TestActionResults(t *testing.T) {
	yes := true
	if err := (AssignmentArtifact{SystemID: "sys-1", ConfigurationID: "cfg-1", Enabled: &yes}).Validate(); err != nil {
		t.Fatalf("AU-4: %v", err)
	}
	if got := mustJSON(t, AssignmentArtifact{SystemID: "sys-1", ConfigurationID: "cfg-1", Enqueued: &yes}); got != `{"systemId":"sys-1","configurationId":"cfg-1","enqueued":true}` {
		t.Fatalf("AU-5 artifact %s", got)
	}
	if err := (AssignmentArtifact{SystemID: " "}).Validate(); fieldsOf(t, err) != "configurationId,systemId" {
		t.Fatalf("empty artifact: %v", err)
	}
	if got := AssignmentExternalID("sys-1", "cfg-1"); got != "sys-1:cfg-1" {
		t.Fatalf("AU-5 externalId %q", got)
	}
	if got := AssignmentNotFoundMessage("sys-1", "missing"); !strings.HasPrefix(got, "Assignment not found") || got != "Assignment not found: sys-1 ↔ missing" {
		t.Fatalf("AU-7 %q", got)
	}
	for _, enabled := range []bool{true, false} { // AU-6 / AU-8
		a := Action{Type: ActionSetAssignmentEnabled, Config: json.RawMessage(`{"systemId":"sys-1","configurationId":"cfg-1","enabled":` + mustJSON(t, enabled) + `}`)}
		c, err := a.SetAssignmentEnabledConfig()
		if err != nil || c != (SetAssignmentEnabledConfig{SystemID: "sys-1", ConfigurationID: "cfg-1", Enabled: enabled}) {
			t.Fatalf("enabled=%v: %+v %v", enabled, c, err)
		}
	}
	if c, err := (Action{Type: ActionRunCheck, Config: json.RawMessage(`{"systemId":"sys-1","configurationId":"cfg-1"}`)}).RunCheckConfig(); err != nil ||
		c != (RunCheckConfig{SystemID: "sys-1", ConfigurationID: "cfg-1"}) {
		t.Fatalf("run_check %+v %v", c, err)
	}
	if _, err := (Action{Type: ActionRunCheck, Config: json.RawMessage(`{"systemId":"sys-1"}`)}).RunCheckConfig(); fieldsOf(t, err) != "config.configurationId" {
		t.Fatalf("run_check without configurationId: %v", err)
	}
	if !slices.Equal(SecretConfigKeys(ActionWebhook), []string{"secret"}) || SecretConfigKeys(ActionNotify) != nil {
		t.Fatal("secret keys")
	}
}

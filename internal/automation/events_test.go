package automation

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// TestEventsOrder: AU-1 — the reference's four triggers come first, in its registration order
// (degraded, healthy, health_changed, check_failed), then checkflow's two flapping events.
func TestEventsOrder(t *testing.T) {
	want := []string{}
	for _, d := range health.TriggerDefinitions() {
		want = append(want, d.QualifiedID)
	}
	want = append(want, "healthcheck.flapping_started", "healthcheck.flapping_stopped")
	if got := EventTypes(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if got := EventTypes()[:4]; !slices.Equal(got, []string{"healthcheck.system_degraded", "healthcheck.system_healthy",
		"healthcheck.system_health_changed", "healthcheck.check_failed"}) {
		t.Fatalf("reference triggers %v", got)
	}
	for _, d := range Events() {
		if d.ContextKeyLabel != "system" || len(d.Fields) == 0 || d.Name == "" {
			t.Errorf("%s: incomplete definition %+v", d.Event, d)
		}
		if _, ok := d.Field("systemId"); !ok {
			t.Errorf("%s: no systemId (the built-in context key)", d.Event)
		}
	}
	if _, ok := LookupEvent("healthcheck.check.completed"); ok {
		t.Fatal("a hook is not a trigger event")
	}
	// Events returns fresh slices: changing one does not change the next.
	Events()[0].Fields[0].Name = "x"
	if Events()[0].Fields[0].Name != "systemId" {
		t.Fatal("Events shares its slices")
	}
}

// TestPayloadSchemas: AU-2 and AU-3 (payloads validate, the context key is the system) and the
// payloads checkflow emits (health's builders) match their schemas.
func TestPayloadSchemas(t *testing.T) {
	view := func(s health.Status, h, n int) *health.View {
		return &health.View{Status: s, HealthyChecks: h, TotalChecks: n}
	}
	at := time.Date(2026, 5, 29, 11, 0, 0, 0, time.UTC)
	lat := 120
	fromJSON := func(v map[string]any) map[string]any { // as read back from the outbox
		var out map[string]any
		b, _ := json.Marshal(v)
		_ = json.Unmarshal(b, &out)
		return out
	}
	for _, tc := range []struct {
		name    string
		event   string
		payload map[string]any
		fields  string // invalid fields, "" = valid
	}{
		{"AU-2 check_failed", EventCheckFailed, payload(t, checkFailedPayload), ""},
		{"AU-3 degraded", EventSystemDegraded, payload(t, degradedPayload), ""},
		{"AU-3 changed", EventSystemHealthChanged, payload(t, degradedPayload), ""},
		{"AU-3 healthy", EventSystemHealthy, payload(t, `{"systemId": "sys-1", "previousStatus": "degraded",
			"healthyChecks": 2, "totalChecks": 2, "timestamp": "2026-05-29T11:00:00Z"}`), ""},
		{"emitted degraded", EventSystemDegraded, health.SystemHealthPayload("sys-1", view(health.Healthy, 2, 2), view(health.Degraded, 1, 2), at), ""},
		{"emitted healthy (read back)", EventSystemHealthy, fromJSON(health.SystemHealthPayload("sys-1", view(health.Unhealthy, 0, 2), view(health.Healthy, 2, 2), at)), ""},
		{"emitted check_failed with result", EventCheckFailed, fromJSON(health.CheckRun{SystemID: "sys-1", ConfigurationID: "cfg-1",
			Status: health.Degraded, LatencyMs: &lat, Result: map[string]any{"request": map[string]any{"statusCode": 500}}, At: at}.Payload()), ""},
		{"emitted catastrophic check_failed", EventCheckFailed, health.CheckRun{SystemID: "sys-1", ConfigurationID: "cfg-1",
			Status: health.Unhealthy, At: at}.Payload(), ""},
		{"emitted flapping_started", EventFlappingStarted, health.FlapPayload("sys-1", "", health.Degraded, 51.5, health.FlapThresholds{}, at), ""},
		{"emitted check flapping_stopped", EventFlappingStopped, fromJSON(health.FlapPayload("sys-1", "cfg-1", health.Healthy, 24.47, health.FlapThresholds{}, at)), ""},
		{"json.Number counts", EventSystemDegraded, map[string]any{"systemId": "sys-1", "previousStatus": "healthy", "newStatus": "degraded",
			"healthyChecks": json.Number("1"), "totalChecks": json.Number("2"), "timestamp": "2026-05-29T11:00:00Z"}, ""},
		{"unknown fields ignored", EventCheckFailed, payload(t, `{"systemId": "s", "configurationId": "c", "status": "degraded",
			"timestamp": "2026-05-29T12:00:00Z", "environmentId": "prod"}`), ""},
		{"missing and wrong", EventSystemDegraded, payload(t, `{"systemId": 7, "previousStatus": "fine", "newStatus": "degraded",
			"healthyChecks": 1.5, "timestamp": "yesterday"}`),
			"payload.healthyChecks,payload.previousStatus,payload.systemId,payload.timestamp,payload.totalChecks"},
		{"null required", EventCheckFailed, payload(t, `{"systemId": "s", "configurationId": null, "status": "degraded",
			"timestamp": "2026-05-29T12:00:00Z", "result": []}`), "payload.configurationId,payload.result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def, ok := LookupEvent(tc.event)
			if !ok {
				t.Fatalf("no event %s", tc.event)
			}
			err := def.ValidatePayload(tc.payload)
			if tc.fields == "" {
				if err != nil {
					t.Fatalf("payload %v: %v", tc.payload, err)
				}
				if key := ContextKey(tc.payload); key != "sys-1" && key != "s" {
					t.Fatalf("context key %q, want the system", key)
				}
				return
			}
			if got := fieldsOf(t, err); got != tc.fields {
				t.Fatalf("invalid fields %s, want %s (%v)", got, tc.fields, err)
			}
		})
	}
}

// IsTrigger agrees with Events: every trigger event and nothing else.
func TestIsTrigger(t *testing.T) {
	t.Parallel()
	for _, d := range Events() {
		if !IsTrigger(d.Event) {
			t.Errorf("IsTrigger(%q) = false", d.Event)
		}
	}
	for _, e := range []string{"", "healthcheck.check.completed", "healthcheck.check.failed", "healthcheck.assignment.changed", "notification.channel_failing"} {
		if IsTrigger(e) {
			t.Errorf("IsTrigger(%q) = true", e)
		}
	}
}

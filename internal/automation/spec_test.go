package automation

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/health"
)

// validBody is the example body.
const validBody = `{"name": "restart shop", "enabled": true,
	"trigger": {"event": "healthcheck.system_health_changed", "filter": "trigger.payload.newStatus != \"healthy\"",
		"window": {"count": 3, "minutes": 60, "refire": "once", "partitionBy": "trigger.payload.systemId"}},
	"cooldownSeconds": 600,
	"actions": [
		{"type": "webhook", "config": {"url": "https://hooks.example.com/x", "secret": "s3cret"}},
		{"type": "notify", "config": {"channelId": "8F14E45F-CEEA-467F-A9F0-6A2A1F7B6D11", "title": "{{.Payload.systemId}} flaps"}},
		{"type": "run_check", "config": {"systemId": "sys-1", "configurationId": "cfg-1"}},
		{"type": "set_assignment_enabled", "config": {"systemId": "sys-1", "configurationId": "cfg-1", "enabled": false}}]}`

// TestParseValid: the body decodes into the model; config is re-encoded canonically;
// the JSON form round-trips.
func TestParseValid(t *testing.T) {
	spec, err := Parse([]byte(validBody))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "restart shop" || !spec.Enabled || spec.CooldownSeconds != 600 || len(spec.Actions) != 4 ||
		spec.Trigger.Event != EventSystemHealthChanged || spec.Trigger.Filter != `trigger.payload.newStatus != "healthy"` ||
		*spec.Trigger.Window != (health.WindowConfig{Count: 3, Minutes: 60, Refire: "once", PartitionBy: "trigger.payload.systemId"}) {
		t.Fatalf("spec %+v window %+v", spec, spec.Trigger.Window)
	}
	if got := string(spec.Actions[1].Config); got != `{"channelId":"8f14e45f-ceea-467f-a9f0-6a2a1f7b6d11","title":"{{.Payload.systemId}} flaps"}` {
		t.Fatalf("notify config %s", got)
	}
	if c, err := spec.Actions[3].SetAssignmentEnabledConfig(); err != nil || c != (SetAssignmentEnabledConfig{"sys-1", "cfg-1", false}) {
		t.Fatalf("set_assignment_enabled %+v %v", c, err)
	}
	if c, err := spec.Actions[0].WebhookConfig(); err != nil || c.URL != "https://hooks.example.com/x" || c.Secret != "s3cret" {
		t.Fatalf("webhook %+v %v", c, err)
	}
	if _, err := spec.Actions[0].NotifyConfig(); fieldsOf(t, err) != "type" {
		t.Fatalf("a webhook read as notify: %v", err)
	}
	again, err := Parse([]byte(mustJSON(t, spec)))
	if err != nil || mustJSON(t, again) != mustJSON(t, spec) {
		t.Fatalf("round trip: %v\n%s\n%s", err, mustJSON(t, again), mustJSON(t, spec))
	}
}

// TestParseDefaults: enabled defaults to true, refire to "every", filter and window are
// optional, expressions are trimmed.
func TestParseDefaults(t *testing.T) {
	spec, err := Parse([]byte(`{"name": "n", "trigger": {"event": "healthcheck.check_failed",
		"filter": "  trigger.payload.status == 'unhealthy'  ", "window": {"count": 2, "minutes": 5}},
		"actions": [{"type": "run_check", "config": {"systemId": "s", "configurationId": "c"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !spec.Enabled || spec.Trigger.Window.Refire != health.RefireEvery || spec.CooldownSeconds != 0 ||
		spec.Trigger.Filter != "trigger.payload.status == 'unhealthy'" {
		t.Fatalf("defaults %+v %+v", spec, spec.Trigger.Window)
	}
	spec, err = Parse([]byte(`{"name": "n", "enabled": false, "trigger": {"event": "healthcheck.system_healthy", "filter": null, "window": null},
		"cooldownSeconds": null, "actions": [{"type": "webhook", "config": {"url": "http://127.0.0.1:9/x"}}]}`))
	if err != nil || spec.Enabled || spec.Trigger.Window != nil || spec.Trigger.Filter != "" {
		t.Fatalf("nulls: %+v %v", spec, err)
	}
}

// TestParseErrors: every invalid field is named, with the reference's window rules (WG-6).
func TestParseErrors(t *testing.T) {
	const actions = `"actions": [{"type": "run_check", "config": {"systemId": "s", "configurationId": "c"}}]`
	body := func(trigger string) string {
		return `{"name": "n", "trigger": ` + trigger + `, ` + actions + `}`
	}
	win := func(w string) string {
		return body(`{"event": "healthcheck.system_health_changed", "window": ` + w + `}`)
	}
	act := func(a string) string {
		return `{"name": "n", "trigger": {"event": "healthcheck.check_failed"}, "actions": [` + a + `]}`
	}
	for _, tc := range []struct {
		name   string
		body   string
		fields string
		detail string // a substring of the first error's detail
	}{
		{"not an object", `[1]`, "", "must be a JSON object"},
		{"malformed", `{"name":`, "", "must be a JSON object"},
		{"unknown top-level field", `{"name": "n", "id": "x", "trigger": {"event": "healthcheck.check_failed"}, ` + actions + `}`, "id", "unknown field"},
		{"name missing", `{"trigger": {"event": "healthcheck.check_failed"}, ` + actions + `}`, "name", "is required"},
		{"name blank", `{"name": "  ", "trigger": {"event": "healthcheck.check_failed"}, ` + actions + `}`, "name", "1 to 200"},
		{"name too long", `{"name": "` + strings.Repeat("x", 201) + `", "trigger": {"event": "healthcheck.check_failed"}, ` + actions + `}`, "name", "1 to 200"},
		{"name not a string", `{"name": 5, "trigger": {"event": "healthcheck.check_failed"}, ` + actions + `}`, "name", "must be a string"},
		{"enabled not a bool", `{"name": "n", "enabled": "yes", "trigger": {"event": "healthcheck.check_failed"}, ` + actions + `}`, "enabled", "boolean"},
		{"trigger missing", `{"name": "n", ` + actions + `}`, "trigger", "is required"},
		{"event unknown", body(`{"event": "healthcheck.check.completed"}`), "trigger.event", "must be one of"},
		{"event missing", body(`{}`), "trigger.event", "is required"},
		{"trigger unknown key", body(`{"event": "healthcheck.check_failed", "for": "5m"}`), "trigger.for", "unknown field"},
		{"filter blank", body(`{"event": "healthcheck.check_failed", "filter": " "}`), "trigger.filter", "must not be empty"},
		{"filter too long", body(`{"event": "healthcheck.check_failed", "filter": "` + strings.Repeat("1 == 1 && ", 410) + `true"}`), "trigger.filter", "at most 4096"},
		{"WG-6 count 0", win(`{"count": 0, "minutes": 60}`), "trigger.window.count", "between 1 and 1000"},
		{"WG-6 count 1001", win(`{"count": 1001, "minutes": 60}`), "trigger.window.count", "between 1 and 1000"},
		{"WG-6 count 2.5", win(`{"count": 2.5, "minutes": 60}`), "trigger.window.count", "integer"},
		{"WG-6 minutes 1441", win(`{"count": 3, "minutes": 1441}`), "trigger.window.minutes", "between 1 and 1440"},
		{"minutes missing", win(`{"count": 3}`), "trigger.window.minutes", "required"},
		{"WG-6 refire cooldown", win(`{"count": 3, "minutes": 60, "refire": "cooldown"}`), "trigger.window.refire", `"every" or "once"`},
		{"WG-6 partitionBy whitespace", win(`{"count": 3, "minutes": 60, "partitionBy": "   "}`), "trigger.window.partitionBy", "must not be empty"},
		{"window unknown key", win(`{"count": 3, "minutes": 60, "transitions": 3}`), "trigger.window.transitions", "unknown field"},
		{"window not an object", win(`3`), "trigger.window", "must be a JSON object"},
		{"cooldown negative", `{"name": "n", "cooldownSeconds": -1, "trigger": {"event": "healthcheck.check_failed"}, ` + actions + `}`, "cooldownSeconds", "between 0 and 604800"},
		{"cooldown too long", `{"name": "n", "cooldownSeconds": 604801, "trigger": {"event": "healthcheck.check_failed"}, ` + actions + `}`, "cooldownSeconds", "between 0 and 604800"},
		{"cooldown fraction", `{"name": "n", "cooldownSeconds": 1.5, "trigger": {"event": "healthcheck.check_failed"}, ` + actions + `}`, "cooldownSeconds", "integer"},
		{"cooldown as a string", `{"name": "n", "cooldownSeconds": "10", "trigger": {"event": "healthcheck.check_failed"}, ` + actions + `}`, "cooldownSeconds", "integer"},
		{"window count as a string", `{"name": "n", "trigger": {"event": "healthcheck.check_failed", "window": {"count": "3", "minutes": 5}}, ` + actions + `}`, "trigger.window.count", "integer"},
		{"actions missing", `{"name": "n", "trigger": {"event": "healthcheck.check_failed"}}`, "actions", "is required"},
		{"actions empty", act(``), "actions", "1 to 20"},
		{"too many actions", act(strings.TrimSuffix(strings.Repeat(`{"type": "run_check", "config": {"systemId": "s", "configurationId": "c"}},`, 21), ",")), "actions", "1 to 20"},
		{"action type unknown", act(`{"type": "email", "config": {}}`), "actions[0].type", "must be one of"},
		{"action config missing", act(`{"type": "webhook"}`), "actions[0].config", "is required"},
		{"action unknown key", act(`{"type": "webhook", "config": {"url": "https://x.example"}, "retries": 3}`), "actions[0].retries", "unknown field"},
		{"webhook url missing", act(`{"type": "webhook", "config": {}}`), "actions[0].config.url", "is required"},
		{"webhook url not http", act(`{"type": "webhook", "config": {"url": "ftp://x.example/a"}}`), "actions[0].config.url", "http or https"},
		{"webhook url relative", act(`{"type": "webhook", "config": {"url": "/hook"}}`), "actions[0].config.url", "http or https"},
		{"webhook unknown key", act(`{"type": "webhook", "config": {"url": "https://x.example", "headers": {}}}`), "actions[0].config.headers", "unknown field"},
		{"webhook secret not a string", act(`{"type": "webhook", "config": {"url": "https://x.example", "secret": 1}}`), "actions[0].config.secret", "must be a string"},
		{"notify channel not a uuid", act(`{"type": "notify", "config": {"channelId": "ops"}}`), "actions[0].config.channelId", "UUID"},
		{"notify bad template", act(`{"type": "notify", "config": {"channelId": "8f14e45f-ceea-467f-a9f0-6a2a1f7b6d11", "body": "{{.Payload.systemId"}}`),
			"actions[0].config.body", "not a valid template"},
		{"run_check ids missing", act(`{"type": "run_check", "config": {"systemId": ""}}`), "actions[0].config.configurationId,actions[0].config.systemId", ""},
		{"set_assignment_enabled without enabled", act(`{"type": "set_assignment_enabled", "config": {"systemId": "s", "configurationId": "c"}}`),
			"actions[0].config.enabled", "is required"},
		{"set_assignment_enabled enabled not a bool", act(`{"type": "set_assignment_enabled", "config": {"systemId": "s", "configurationId": "c", "enabled": 1}}`),
			"actions[0].config.enabled", "boolean"},
		{"second action", act(`{"type": "run_check", "config": {"systemId": "s", "configurationId": "c"}}, {"type": "webhook", "config": {"url": 1}}`),
			"actions[1].config.url", "must be a string"},
		{"several at once", `{"name": "", "trigger": {"event": "nope", "window": {"count": 0, "minutes": 0}}, "cooldownSeconds": -5, "actions": []}`,
			"actions,cooldownSeconds,name,trigger.event,trigger.window.count,trigger.window.minutes", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.body))
			errs := validationErrors(t, err)
			if got := fieldsOf(t, err); got != tc.fields {
				t.Fatalf("fields %q, want %q (%v)", got, tc.fields, err)
			}
			if !strings.Contains(errs[0].Detail, tc.detail) {
				t.Fatalf("detail %q, want it to contain %q", errs[0].Detail, tc.detail)
			}
		})
	}
}

// TestWG6WindowThroughParse: WG-6's accepted cases — {3, 60, once} parses, refire omitted
// → every, partitionBy is trimmed.
func TestWG6WindowThroughParse(t *testing.T) {
	for _, tc := range []struct {
		window string
		want   health.WindowConfig
	}{
		{`{"count": 3, "minutes": 60, "refire": "once"}`, health.WindowConfig{Count: 3, Minutes: 60, Refire: "once"}},
		{`{"count": 3, "minutes": 60}`, health.WindowConfig{Count: 3, Minutes: 60, Refire: "every"}},
		{`{"count": 1000, "minutes": 1440, "partitionBy": "  trigger.payload.configurationId  "}`,
			health.WindowConfig{Count: 1000, Minutes: 1440, Refire: "every", PartitionBy: "trigger.payload.configurationId"}},
	} {
		spec, err := Parse([]byte(`{"name": "n", "trigger": {"event": "healthcheck.check_failed", "window": ` + tc.window + `},
			"actions": [{"type": "run_check", "config": {"systemId": "s", "configurationId": "c"}}]}`))
		if err != nil || *spec.Trigger.Window != tc.want {
			t.Fatalf("%s: %+v %v", tc.window, spec.Trigger.Window, err)
		}
	}
}

// TestValidateSpecBuiltInGo: Validate checks specs that did not come through Parse (the store,
// GitOps), including action configs.
func TestValidateSpecBuiltInGo(t *testing.T) {
	ok := Spec{Name: "n", Trigger: Trigger{Event: EventCheckFailed},
		Actions: []Action{{Type: ActionRunCheck, Config: json.RawMessage(`{"systemId":"s","configurationId":"c"}`)}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.Trigger.Window = &health.WindowConfig{Count: 2, Minutes: 0, Refire: "sometimes", PartitionBy: " "}
	bad.Trigger.Filter = "\t"
	bad.Actions = []Action{{Type: ActionNotify}, {Type: "page"}}
	if got := fieldsOf(t, bad.Validate()); got != "actions[0].config,actions[1].type,trigger.filter,trigger.window.minutes,trigger.window.partitionBy,trigger.window.refire" {
		t.Fatalf("fields %s", got)
	}
}

// TestValidationErrorShapes: Message carries the position; FieldErrors gives the API's shape.
func TestValidationErrorShapes(t *testing.T) {
	ve := &ValidationError{Errors: []FieldError{
		{Field: "trigger.filter", Detail: "undefined field 'x'", Line: 1, Column: 16},
		{Field: "name", Detail: "is required"},
	}}
	fe := ve.FieldErrors()
	if fe[0] != (health.FieldError{Field: "trigger.filter", Message: "1:16: undefined field 'x'"}) ||
		fe[1] != (health.FieldError{Field: "name", Message: "is required"}) {
		t.Fatalf("field errors %+v", fe)
	}
	if got := ve.Error(); got != "automation: invalid: trigger.filter: 1:16: undefined field 'x'; name: is required" {
		t.Fatalf("error %q", got)
	}
	if got := mustJSON(t, ve.Errors[0]); got != `{"field":"trigger.filter","detail":"undefined field 'x'","line":1,"column":16}` {
		t.Fatalf("json %s", got)
	}
}

package notify

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/health"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		typ    string
		config string
		field  string // "" = valid
		inMsg  string
	}{
		{"webhook ok", TypeWebhook, `{"url":"https://example.com/hook","secret":"s","headers":{"Authorization":"Bearer x"}}`, "", ""},
		{"webhook missing url", TypeWebhook, `{}`, "config.url", "required"},
		{"webhook null config", TypeWebhook, `null`, "config.url", "required"},
		{"webhook bad scheme", TypeWebhook, `{"url":"ftp://example.com/x"}`, "config.url", "http"},
		{"webhook relative url", TypeWebhook, `{"url":"/hook"}`, "config.url", "http"},
		{"webhook no host", TypeWebhook, `{"url":"http:///x"}`, "config.url", "host"},
		{"webhook unparsable url", TypeWebhook, `{"url":"http://[::1"}`, "config.url", "URL"},
		{"webhook unknown key", TypeWebhook, `{"url":"https://example.com","uri":"x"}`, "config.uri", "unknown"},
		{"webhook key case matters", TypeWebhook, `{"URL":"https://example.com"}`, "config.URL", "unknown"},
		{"webhook url wrong type", TypeWebhook, `{"url":42}`, "config.url", "string"},
		{"webhook headers wrong type", TypeWebhook, `{"url":"https://example.com","headers":{"A":1}}`, "config.headers", "object"},
		{"webhook reserved header", TypeWebhook, `{"url":"https://example.com","headers":{"x-checkflow-signature":"forged"}}`, "config.headers", "cannot be set"},
		{"webhook content-type header", TypeWebhook, `{"url":"https://example.com","headers":{"Content-Type":"text/plain"}}`, "config.headers", "cannot be set"},
		{"webhook bad header name", TypeWebhook, `{"url":"https://example.com","headers":{"Bad Name":"x"}}`, "config.headers", "valid header name"},
		{"webhook bad header value", TypeWebhook, `{"url":"https://example.com","headers":{"X-A":"a\r\nB: c"}}`, "config.headers", "invalid characters"},
		{"webhook not an object", TypeWebhook, `["https://example.com"]`, "config", "JSON object"},
		{"slack ok", TypeSlack, `{"webhookUrl":"https://hooks.slack.com/services/T/B/X","channel":"#ops"}`, "", ""},
		{"slack missing webhookUrl", TypeSlack, `{"channel":"#ops"}`, "config.webhookUrl", "required"},
		{"slack bad url", TypeSlack, `{"webhookUrl":"hooks.slack.com/services/T/B/X"}`, "config.webhookUrl", "http"},
		{"slack unknown key", TypeSlack, `{"webhookUrl":"https://hooks.slack.com/x","icon":":x:"}`, "config.icon", "unknown"},
		{"slack wrong type", TypeSlack, `{"webhookUrl":"https://hooks.slack.com/x","channel":true}`, "config.channel", "string"},
		{"discord ok", TypeDiscord, `{"webhookUrl":"https://discord.com/api/webhooks/1/t"}`, "", ""},
		{"discord missing webhookUrl", TypeDiscord, `{}`, "config.webhookUrl", "required"},
		{"discord bad url", TypeDiscord, `{"webhookUrl":"javascript:alert(1)"}`, "config.webhookUrl", "http"},
		{"discord unknown key", TypeDiscord, `{"webhookUrl":"https://discord.com/x","avatar":"x"}`, "config.avatar", "unknown"},
		{"discord wrong type", TypeDiscord, `{"webhookUrl":["https://discord.com/x"]}`, "config.webhookUrl", "string"},
		{"msteams ok", TypeMSTeams, `{"webhookUrl":"https://prod.westus.logic.azure.com/workflows/x"}`, "", ""},
		{"msteams missing webhookUrl", TypeMSTeams, `{}`, "config.webhookUrl", "required"},
		{"msteams bad url", TypeMSTeams, `{"webhookUrl":"mailto:a@b.c"}`, "config.webhookUrl", "http"},
		{"msteams unknown key", TypeMSTeams, `{"webhookUrl":"https://x.example","title":"x"}`, "config.title", "unknown"},
		{"msteams wrong type", TypeMSTeams, `{"webhookUrl":{}}`, "config.webhookUrl", "string"},
		{"pagerduty ok", TypePagerDuty, `{"routingKey":"abc123"}`, "", ""},
		{"pagerduty ok with url", TypePagerDuty, `{"routingKey":"abc123","url":"http://127.0.0.1:9/v2/enqueue"}`, "", ""},
		{"pagerduty missing routingKey", TypePagerDuty, `{"url":"https://events.pagerduty.com/v2/enqueue"}`, "config.routingKey", "required"},
		{"pagerduty bad url", TypePagerDuty, `{"routingKey":"abc","url":"events.pagerduty.com"}`, "config.url", "http"},
		{"pagerduty unknown key", TypePagerDuty, `{"routingKey":"abc","severity":"critical"}`, "config.severity", "unknown"},
		{"pagerduty wrong type", TypePagerDuty, `{"routingKey":123}`, "config.routingKey", "string"},
		{"pagerduty key with spaces", TypePagerDuty, `{"routingKey":"abc def"}`, "config.routingKey", "spaces"},
		{"email ok", TypeEmail, `{"host":"smtp.example.com","from":"a@example.com","to":["b@example.com"],"username":"u","password":"p"}`, "", ""},
		{"email ok none on loopback", TypeEmail, `{"host":"127.0.0.1","port":25,"tls":"none","from":"a@example.com","to":["b@example.com"]}`, "", ""},
		{"email ok none on localhost", TypeEmail, `{"host":"localhost","tls":"none","from":"a@example.com","to":["b@example.com"]}`, "", ""},
		{"email missing host", TypeEmail, `{"from":"a@example.com","to":["b@example.com"]}`, "config.host", "required"},
		{"email bad host", TypeEmail, `{"host":"smtp.example.com:587","from":"a@example.com","to":["b@example.com"]}`, "config.host", "host name"},
		{"email missing from", TypeEmail, `{"host":"smtp.example.com","to":["b@example.com"]}`, "config.from", "required"},
		{"email bad from", TypeEmail, `{"host":"smtp.example.com","from":"not an address","to":["b@example.com"]}`, "config.from", "email address"},
		{"email missing to", TypeEmail, `{"host":"smtp.example.com","from":"a@example.com"}`, "config.to", "required"},
		{"email empty to", TypeEmail, `{"host":"smtp.example.com","from":"a@example.com","to":[]}`, "config.to", "1 to 50"},
		{"email too many to", TypeEmail, `{"host":"smtp.example.com","from":"a@example.com","to":` + manyAddresses(51) + `}`, "config.to", "1 to 50"},
		{"email bad to", TypeEmail, `{"host":"smtp.example.com","from":"a@example.com","to":["b@example.com","nope"]}`, "config.to", "entry 1"},
		{"email to wrong type", TypeEmail, `{"host":"smtp.example.com","from":"a@example.com","to":"b@example.com"}`, "config.to", "array"},
		{"email port wrong type", TypeEmail, `{"host":"smtp.example.com","port":"587","from":"a@example.com","to":["b@example.com"]}`, "config.port", "integer"},
		{"email port out of range", TypeEmail, `{"host":"smtp.example.com","port":70000,"from":"a@example.com","to":["b@example.com"]}`, "config.port", "65535"},
		{"email bad tls", TypeEmail, `{"host":"smtp.example.com","tls":"ssl","from":"a@example.com","to":["b@example.com"]}`, "config.tls", "starttls"},
		{"email none on remote host", TypeEmail, `{"host":"smtp.example.com","tls":"none","from":"a@example.com","to":["b@example.com"]}`, "config.tls", "loopback"},
		{"email password without username", TypeEmail, `{"host":"smtp.example.com","password":"p","from":"a@example.com","to":["b@example.com"]}`, "config.username", "required"},
		{"email unknown key", TypeEmail, `{"host":"smtp.example.com","from":"a@example.com","to":["b@example.com"],"cc":[]}`, "config.cc", "unknown"},
		{"unknown type", "sms", `{}`, "type", "unknown channel type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Validate(tc.typ, json.RawMessage(tc.config))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := New(tc.typ, json.RawMessage(tc.config), Options{}); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var ve *health.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v (%T), want *health.ValidationError", err, err)
			}
			var found bool
			for _, fe := range ve.Errors {
				if fe.Field == tc.field && strings.Contains(fe.Message, tc.inMsg) {
					found = true
				}
			}
			if !found {
				t.Errorf("errors %v lack %s containing %q", ve.Errors, tc.field, tc.inMsg)
			}
			if ch, err2 := New(tc.typ, json.RawMessage(tc.config), Options{}); ch != nil || err2 == nil || err2.Error() != err.Error() {
				t.Errorf("New = %v, %v; want the same error as Validate", ch, err2)
			}
		})
	}
}

func manyAddresses(n int) string {
	a := make([]string, n)
	for i := range a {
		a[i] = `"u@example.com"`
	}
	return "[" + strings.Join(a, ",") + "]"
}

func TestValidateReportsEveryFieldAndNeverEchoesSecretURLs(t *testing.T) {
	t.Parallel()
	secretURL := "hooks.slack.com/services/T0/B0/supersecrettoken"
	err := Validate(TypeSlack, json.RawMessage(`{"webhookUrl":"`+secretURL+`","extra":1,"username":5}`))
	var ve *health.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	var fields []string
	for _, fe := range ve.Errors {
		fields = append(fields, fe.Field)
	}
	if want := []string{"config.extra", "config.username", "config.webhookUrl"}; !slices.Equal(fields, want) {
		t.Errorf("fields = %v, want %v", fields, want)
	}
	assertNoSecret(t, err.Error(), "supersecrettoken")
}

// configStructs maps each type to its config struct, to check the schema against decoding.
func configStructs() map[string]any {
	return map[string]any{
		TypeWebhook: webhookConfig{}, TypeSlack: slackConfig{}, TypeDiscord: discordConfig{},
		TypeMSTeams: msteamsConfig{}, TypePagerDuty: pagerdutyConfig{}, TypeEmail: emailConfig{},
	}
}

func TestConfigSchemaMatchesDecodingAndSecrets(t *testing.T) {
	t.Parallel()
	wantSecrets := map[string][]string{
		TypeWebhook: {"headers", "secret"}, TypeSlack: {"webhookUrl"}, TypeDiscord: {"webhookUrl"},
		TypeMSTeams: {"webhookUrl"}, TypePagerDuty: {"routingKey"}, TypeEmail: {"password"},
	}
	wantRequired := map[string][]string{
		TypeWebhook: {"url"}, TypeSlack: {"webhookUrl"}, TypeDiscord: {"webhookUrl"},
		TypeMSTeams: {"webhookUrl"}, TypePagerDuty: {"routingKey"}, TypeEmail: {"from", "host", "to"},
	}
	structs := configStructs()
	if got := Types(); len(got) != len(structs) {
		t.Fatalf("Types() = %v", got)
	}
	for _, typ := range Types() {
		var schema struct {
			Type                 string                    `json:"type"`
			Properties           map[string]map[string]any `json:"properties"`
			Required             []string                  `json:"required"`
			AdditionalProperties *bool                     `json:"additionalProperties"`
		}
		if err := json.Unmarshal(ConfigSchema(typ), &schema); err != nil {
			t.Fatalf("%s schema: %v", typ, err)
		}
		if schema.Type != "object" || schema.AdditionalProperties == nil || *schema.AdditionalProperties {
			t.Errorf("%s schema: type %q additionalProperties %v", typ, schema.Type, schema.AdditionalProperties)
		}
		var props, tags, secrets []string
		for name, p := range schema.Properties {
			props = append(props, name)
			if p["x-secret"] == true {
				secrets = append(secrets, name)
			}
		}
		st := reflect.TypeOf(structs[typ])
		for i := range st.NumField() {
			name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
			tags = append(tags, name)
		}
		sort.Strings(props)
		sort.Strings(tags)
		sort.Strings(secrets)
		if !slices.Equal(props, tags) {
			t.Errorf("%s: schema properties %v, config keys %v", typ, props, tags)
		}
		if !slices.Equal(secrets, wantSecrets[typ]) {
			t.Errorf("%s: x-secret %v, want %v", typ, secrets, wantSecrets[typ])
		}
		fromAPI := SecretFields(typ)
		sort.Strings(fromAPI)
		if !slices.Equal(fromAPI, wantSecrets[typ]) {
			t.Errorf("%s: SecretFields %v, want %v", typ, fromAPI, wantSecrets[typ])
		}
		sort.Strings(schema.Required)
		if !slices.Equal(schema.Required, wantRequired[typ]) {
			t.Errorf("%s: required %v, want %v", typ, schema.Required, wantRequired[typ])
		}
	}
	var email map[string]any
	_ = json.Unmarshal(ConfigSchema(TypeEmail), &email)
	if path(t, email, "properties", "port", "default") != float64(587) ||
		path(t, email, "properties", "tls", "default") != "starttls" ||
		path(t, email, "properties", "to", "maxItems") != float64(50) {
		t.Errorf("email schema defaults/bounds: %v", email["properties"])
	}
	if ConfigSchema("sms") != nil || SecretFields("sms") != nil {
		t.Error("unknown type has a schema or secrets")
	}
}

// A webhook's headers are sealed as their JSON text (sealed secrets are strings): after
// opening, SecretsFromText gives the object back, and the channel builds; string secrets stay.
func TestSecretsFromText(t *testing.T) {
	opened := json.RawMessage(`{"url":"http://127.0.0.1:1/h","secret":"{\"not\":\"json-decoded\"}","headers":"{\"Authorization\":\"Bearer x\"}"}`)
	got := SecretsFromText(TypeWebhook, opened)
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	if h, ok := m["headers"].(map[string]any); !ok || h["Authorization"] != "Bearer x" {
		t.Fatalf("headers = %#v, want the decoded object", m["headers"])
	}
	if s, ok := m["secret"].(string); !ok || s != `{"not":"json-decoded"}` {
		t.Fatalf("secret = %#v, want the string kept", m["secret"])
	}
	if _, err := New(TypeWebhook, got, Options{}); err != nil {
		t.Fatalf("the decoded config does not build: %v", err)
	}
	if _, err := New(TypeWebhook, opened, Options{}); err == nil {
		t.Fatal("the config with headers as text builds: the test proves nothing")
	}
	if same := SecretsFromText(TypeSlack, json.RawMessage(`{"webhookUrl":"{}"}`)); string(same) != `{"webhookUrl":"{}"}` {
		t.Fatalf("a string secret was changed: %s", same)
	}
}

package gatusimport

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/manifest"
)

func TestConvertCondition(t *testing.T) {
	tests := []struct {
		cond string
		want string // JSON of the assertions, or "error: <substring>"
	}{
		{"[STATUS] == 200", `[{"field":"statusCode","operator":"equals","value":200}]`},
		{"[STATUS] != 500", `[{"field":"statusCode","operator":"notEquals","value":500}]`},
		{"[STATUS] < 300", `[{"field":"statusCode","operator":"lessThan","value":300}]`},
		{"[STATUS] >= 200", `[{"field":"statusCode","operator":"greaterThanOrEqual","value":200}]`},
		{"[STATUS] == any(200, 201)", `[{"field":"statusCode","operator":"matches","value":"^(200|201)$"}]`},
		{"[RESPONSE_TIME] < 300", `[{"field":"responseTimeMs","operator":"lessThan","value":300}]`},
		{"[RESPONSE_TIME] <= 1000", `[{"field":"responseTimeMs","operator":"lessThanOrEqual","value":1000}]`},
		{"[BODY] == UP", `[{"field":"body","operator":"equals","value":"UP"}]`},
		{"[BODY] == pat(*UP*)", `[{"field":"body","operator":"matches","value":"^.*UP.*$"}]`},
		{"[BODY].status == UP", `[{"field":"body","jsonPath":"$.status","operator":"equals","value":"UP"}]`},
		{"[BODY].data[0].id == 7", `[{"field":"body","jsonPath":"$.data[0].id","operator":"equals","value":7}]`},
		{"[BODY].count > 2", `[{"field":"body","jsonPath":"$.count","operator":"greaterThan","value":2}]`},
		{"[BODY].status != DOWN", `[{"field":"body","jsonPath":"$.status","operator":"notEquals","value":"DOWN"}]`},
		{"len([BODY].items) == 3", `[{"field":"body","jsonPath":"$.items","operator":"lengthEquals","value":3}]`},
		{"len([BODY].items) >= 1", `[{"field":"body","jsonPath":"$.items","operator":"lengthGreaterThan","value":0}]`},
		{"has([BODY].errors) == false", `[{"field":"body","jsonPath":"$.errors","operator":"notExists"}]`},
		{"has([BODY].data) == true", `[{"field":"body","jsonPath":"$.data","operator":"exists"}]`},
		{"[CERTIFICATE_EXPIRATION] > 48h", "error: no equivalent"},
		{"[CONNECTED] == true", "error: no equivalent"},
		{"[STATUS] == OK", "error: must be compared with a number"},
		{"[BODY].status < UP", "error: compares numbers only"},
		{"nonsense", "error: not of the form"},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			got, err := ConvertCondition(tt.cond)
			if msg, isErr := strings.CutPrefix(tt.want, "error: "); isErr {
				if err == nil || !strings.Contains(err.Error(), msg) {
					t.Fatalf("err = %v, want one containing %q (got %+v)", err, msg, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(got)
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

const sample = `
alerting:
  slack:
    webhook-url: https://hooks.slack.com/x
endpoints:
  - name: Front End
    group: Core
    url: https://example.com/health
    interval: 30s
    client: {timeout: 2s}
    headers: {X-Key: abc}
    conditions:
      - "[STATUS] == 200"
      - "[CERTIFICATE_EXPIRATION] > 48h"
    alerts: [{type: slack}]
  - name: api
    url: http://127.0.0.1:9/api
    enabled: false
    conditions: ["[BODY].status == UP"]
  - name: dns
    url: 8.8.8.8
    dns: {query-name: example.com, query-type: A}
    conditions: ["[DNS_RCODE] == NOERROR"]
`

func TestConvert(t *testing.T) {
	res, err := Convert([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if res.Endpoints != 3 || res.Checks != 2 || res.Systems != 2 {
		t.Fatalf("counts %d/%d/%d", res.Endpoints, res.Checks, res.Systems)
	}
	fe := res.State.Checks["core-front-end"]
	if fe == nil || fe.IntervalSeconds != 30 || fe.Collectors[0].Config["timeout"] != float64(2000) {
		t.Fatalf("front end = %+v", fe)
	}
	if a := res.State.Systems[UngroupedSystem].Healthchecks; len(a) != 1 || a[0].Enabled || a[0].Check != "api" {
		t.Errorf("ungrouped = %+v", a)
	}
	skipped := strings.Join(res.Skipped, "\n")
	for _, want := range []string{`condition "[CERTIFICATE_EXPIRATION] > 48h"`, `endpoint "dns": not converted: url "8.8.8.8"`} {
		if !strings.Contains(skipped, want) {
			t.Errorf("skipped lacks %q:\n%s", want, skipped)
		}
	}
	// The slack provider is a channel for the system of the endpoint alerting through it.
	if ch := res.State.Channels["gatus-slack"]; res.Channels != 1 || ch == nil || ch.Type != "slack" || strings.Join(ch.Systems, ",") != "core" {
		t.Errorf("channels = %d, gatus-slack = %+v", res.Channels, ch)
	}
	// The manifests load back to the same state.
	back, err := manifest.Loader{LookupEnv: func(k string) (string, bool) {
		return "https://hooks.slack.com/x", k == "GATUS_SLACK_WEBHOOK_URL"
	}}.Load(manifest.File{Name: "gatus.yaml", Data: res.Manifests})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Manifests)
	}
	if p := manifest.Diff(back, res.State, nil, false); p.HasChanges() {
		t.Errorf("manifests differ from the converted state: %+v", p.Changes)
	}
}

func TestConvertRejectsEmpty(t *testing.T) {
	if _, err := Convert([]byte("endpoints: []\n")); err == nil {
		t.Error("no error for a configuration without endpoints")
	}
	if _, err := Convert([]byte("endpoints: [\n")); err == nil {
		t.Error("no error for invalid YAML")
	}
}

func TestConvertAlerting(t *testing.T) {
	const endpoints = `
endpoints:
  - name: api
    group: Core
    url: https://example.com/api
    conditions: ["[STATUS] == 200"]
    alerts:
      - {type: slack, failure-threshold: 5}
      - {type: email}
      - {type: pagerduty, enabled: false}
  - name: web
    group: Edge
    url: https://example.com/
    conditions: ["[STATUS] == 200"]
    alerts: [{type: slack}, {type: telegram}]
`
	tests := []struct {
		name     string
		alerting string
		// channels renders each channel as name=type:systems:config-keys.
		channels []string
		secrets  []string // name<source
		skipped  []string
	}{
		{
			name:     "slack with a plain webhook url",
			alerting: "  slack: {webhook-url: 'https://hooks.slack.com/services/T/B/x', title: up}\n",
			channels: []string{"gatus-slack=slack:core,edge:webhookUrl"},
			secrets:  []string{"GATUS_SLACK_WEBHOOK_URL<alerting.slack.webhook-url"},
			skipped:  []string{"alerting.slack.title: not converted", `endpoint "api": alerts[0].failure-threshold: not converted`, `endpoint "api": alerts[2] (pagerduty): disabled`},
		},
		{
			name:     "an environment reference keeps its name",
			alerting: "  slack: {webhook-url: '${SLACK_HOOK}'}\n",
			channels: []string{"gatus-slack=slack:core,edge:webhookUrl"},
			secrets:  []string{"SLACK_HOOK<alerting.slack.webhook-url"},
		},
		{
			name:     "email for the one system alerting by email",
			alerting: "  email: {from: a@example.com, username: a, password: pw, host: smtp.example.com, port: 587, to: 'b@example.com, c@example.com'}\n",
			channels: []string{"gatus-email=email:core:from,host,password,port,to,username"},
			secrets:  []string{"GATUS_EMAIL_PASSWORD<alerting.email.password"},
		},
		{
			name:     "providers without a channel type or without alerting endpoints",
			alerting: "  telegram: {token: x, id: y}\n  discord: {webhook-url: 'https://discord.example/x'}\n  pagerduty: {integration-key: k}\n",
			skipped: []string{"alerting.telegram: not converted (no checkflow channel type", "alerting.discord: not converted: no converted endpoint alerts through it",
				"alerting.pagerduty: not converted: no converted endpoint alerts through it"},
		},
		{
			name:     "a provider missing its required key",
			alerting: "  slack: {title: x}\n",
			skipped:  []string{"alerting.slack: not converted: webhook-url is missing"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Convert([]byte("alerting:\n" + tt.alerting + endpoints))
			if err != nil {
				t.Fatal(err)
			}
			var channels []string
			for _, name := range []string{"gatus-slack", "gatus-email", "gatus-discord", "gatus-pagerduty", "gatus-telegram"} {
				if ch := res.State.Channels[name]; ch != nil {
					var keys []string
					for k := range ch.Config {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					channels = append(channels, fmt.Sprintf("%s=%s:%s:%s", name, ch.Type, strings.Join(ch.Systems, ","), strings.Join(keys, ",")))
				}
			}
			if strings.Join(channels, " ") != strings.Join(tt.channels, " ") || res.Channels != len(tt.channels) {
				t.Errorf("channels %v (%d), want %v", channels, res.Channels, tt.channels)
			}
			var secrets []string
			for _, s := range res.Secrets {
				secrets = append(secrets, s.Name+"<"+s.Source)
			}
			if strings.Join(secrets, " ") != strings.Join(tt.secrets, " ") {
				t.Errorf("secrets %v, want %v", secrets, tt.secrets)
			}
			skipped := strings.Join(res.Skipped, "\n")
			for _, want := range tt.skipped {
				if !strings.Contains(skipped, want) {
					t.Errorf("skipped lacks %q:\n%s", want, skipped)
				}
			}
			// A secret value never reaches the manifests, which load back to the same state.
			for _, secret := range []string{"hooks.slack.com/services", "pw"} {
				if strings.Contains(string(res.Manifests), secret) {
					t.Errorf("the manifests hold the secret %q:\n%s", secret, res.Manifests)
				}
			}
			back, err := manifest.Loader{LookupEnv: func(string) (string, bool) { return "https://hooks.example.com/secret", true }}.
				Load(manifest.File{Name: "gatus.yaml", Data: res.Manifests})
			if err != nil {
				t.Fatalf("%v\n%s", err, res.Manifests)
			}
			if p := manifest.Diff(back, res.State, nil, false); p.HasChanges() {
				t.Errorf("manifests differ from the converted state: %+v", p.Changes)
			}
		})
	}
}

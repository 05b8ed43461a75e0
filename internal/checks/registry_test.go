package checks

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRegistryStrategiesAndAliases(t *testing.T) {
	r := NewRegistry()
	want := []string{"http", "tcp", "dns", "tls", "ping", "postgres", "redis", "grpc", "script", "mysql", "ssh", "rcon", "jenkins", "heartbeat"}
	infos := r.Strategies()
	if len(infos) != len(want) {
		t.Fatalf("got %d strategies, want %d", len(infos), len(want))
	}
	wantCollectors := map[string]string{"http": "request", "tcp": "banner", "dns": "lookup", "tls": "certificate",
		"ping": "ping", "postgres": "query", "redis": "command", "grpc": "health", "script": "execute",
		"mysql": "mysql-query", "ssh": "ssh-command", "rcon": "rcon-command", "jenkins": "job-status"}
	for i, info := range infos {
		if info.ID != want[i] {
			t.Errorf("strategy %d = %q, want %q", i, info.ID, want[i])
		}
		alias := "healthcheck-" + info.ID + "." + info.ID
		if len(info.Aliases) != 1 || info.Aliases[0] != alias {
			t.Errorf("%s aliases %v, want [%s]", info.ID, info.Aliases, alias)
		}
		if info.DisplayName == "" || info.Description == "" {
			t.Errorf("%s lacks display name or description", info.ID)
		}
		s, ok := r.Strategy(alias)
		if !ok || s.Info().ID != info.ID {
			t.Errorf("Strategy(%q) = %v, %v", alias, s, ok)
		}
		var schema map[string]any
		if err := json.Unmarshal(info.ConfigSchema, &schema); err != nil {
			t.Fatalf("%s config schema: %v", info.ID, err)
		}
		timeout := schema["properties"].(map[string]any)["timeout"].(map[string]any)
		if timeout["default"] != 30000.0 || timeout["minimum"] != 100.0 || timeout["type"] != "integer" {
			t.Errorf("%s timeout schema %v", info.ID, timeout)
		}
		if info.ID == "heartbeat" {
			// A push check: nothing to collect.
			if len(info.Collectors) != 0 {
				t.Errorf("heartbeat collectors %+v", info.Collectors)
			}
			continue
		}
		if len(info.Collectors) == 0 || info.Collectors[0].ID != wantCollectors[info.ID] {
			t.Fatalf("%s collectors %+v", info.ID, info.Collectors)
		}
		c := info.Collectors[0]
		if c.StrategyID != info.ID || c.Aliases[0] != "healthcheck-"+info.ID+"."+c.ID || len(c.Aggregates) == 0 {
			t.Errorf("collector info %+v", c)
		}
		if got := r.Collectors(alias); len(got) != len(info.Collectors) || got[0].ID != c.ID {
			t.Errorf("Collectors(%q) = %+v", alias, got)
		}
	}
	if _, ok := r.Strategy("smtp"); ok {
		t.Fatal("unknown strategy found")
	}
	if got := r.Collectors("nope"); got == nil || len(got) != 0 {
		t.Fatalf("Collectors(unknown) = %#v, want empty non-nil", got)
	}
}

func TestSchemasMarkSecretsAndEphemeral(t *testing.T) {
	r := NewRegistry()
	pg, _ := r.Strategy("postgres")
	if !strings.Contains(string(pg.Info().ConfigSchema), `"password":{"title":"Password","type":"string","x-secret":true}`) {
		t.Errorf("postgres password not x-secret: %s", pg.Info().ConfigSchema)
	}
	req := r.Collectors("http")[0]
	var rs struct {
		Properties map[string]map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(req.ResultSchema, &rs); err != nil {
		t.Fatal(err)
	}
	if rs.Properties["body"]["x-ephemeral"] != true || rs.Properties["statusCode"]["x-ephemeral"] != nil {
		t.Errorf("ephemeral marks wrong: %v", rs.Properties)
	}
	exec := r.Collectors("script")[0]
	if !strings.Contains(string(exec.ConfigSchema), `"x-secret-env":true`) {
		t.Errorf("execute secretEnv not marked: %s", exec.ConfigSchema)
	}
}

func TestValidateRejectsInvalidConfigs(t *testing.T) {
	r := NewRegistry()
	tests := []struct {
		name       string
		strategy   string
		config     string
		collectors []CollectorEntry
		field      string
		msg        string
	}{
		{"missing host", "tcp", `{"port":80}`, nil, "config.host", "is required"},
		{"empty host", "tls", `{"host":""}`, nil, "config.host", "must not be empty"},
		{"host with scheme", "tcp", `{"host":"http://x","port":80}`, nil, "config.host", "bare hostname"},
		{"port 70000", "tcp", `{"host":"h","port":70000}`, nil, "config.port", "at most 65535"},
		{"port 0", "redis", `{"host":"h","port":0}`, nil, "config.port", "at least 1"},
		{"port not integer", "postgres", `{"host":"h","port":54.5,"database":"d","user":"u"}`, nil, "config.port", "integer"},
		{"port string", "grpc", `{"host":"h","port":"80"}`, nil, "config.port", "must be a number"},
		{"timeout 5", "http", `{"timeout":5}`, nil, "config.timeout", "at least 100"},
		{"timeout 5 on script", "script", `{"timeout":5}`, nil, "config.timeout", "at least 100"},
		{"config not object", "http", `[1]`, nil, "config", "JSON object"},
		{"missing database", "postgres", `{"host":"h","user":"u"}`, nil, "config.database", "is required"},
		{"bool as string", "tls", `{"host":"h","rejectUnauthorized":"no"}`, nil, "config.rejectUnauthorized", "true or false"},
		{"unknown record type", "dns", `{}`, []CollectorEntry{entry(t, "c1", "lookup", map[string]any{"hostname": "example.com", "recordType": "SRVX"})},
			"collectors[0].config.recordType", "must be one of A, AAAA, CNAME, MX, TXT, NS"},
		{"lookup missing hostname", "dns", `{}`, []CollectorEntry{entry(t, "c1", "lookup", nil)}, "collectors[0].config.hostname", "is required"},
		{"bad nameserver port", "dns", `{"nameserver":"1.1.1.1:99999"}`, nil, "config.nameserver", "port"},
		{"http url relative", "http", `{}`, []CollectorEntry{entry(t, "c1", "request", map[string]any{"url": "/health"})}, "collectors[0].config.url", "absolute"},
		{"http method", "http", `{}`, []CollectorEntry{entry(t, "c1", "request", map[string]any{"url": "http://x", "method": "FETCH"})}, "collectors[0].config.method", "must be one of"},
		{"http bad status spec", "http", `{}`, []CollectorEntry{entry(t, "c1", "request", map[string]any{"url": "http://x", "expectedStatus": []any{200, "6xx"}})}, "collectors[0].config.expectedStatus[1]", "status code"},
		{"http header name", "http", `{}`, []CollectorEntry{entry(t, "c1", "request", map[string]any{"url": "http://x", "headers": []any{map[string]any{"name": "Bad Name", "value": "v"}}})}, "collectors[0].config.headers[0].name", "must match"},
		{"collector timeout 5", "http", `{}`, []CollectorEntry{entry(t, "c1", "request", map[string]any{"url": "http://x", "timeout": 5})}, "collectors[0].config.timeout", "at least 100"},
		{"ping count 11", "ping", `{}`, []CollectorEntry{entry(t, "c1", "ping", map[string]any{"host": "127.0.0.1", "count": 11})}, "collectors[0].config.count", "at most 10"},
		{"script timeout too long", "script", `{}`, []CollectorEntry{entry(t, "c1", "execute", map[string]any{"script": "true", "timeout": 400000})}, "collectors[0].config.timeout", "at most 300000"},
		{"script missing", "script", `{}`, []CollectorEntry{entry(t, "c1", "execute", nil)}, "collectors[0].config.script", "is required"},
		{"secretEnv without reference", "script", `{}`, []CollectorEntry{entry(t, "c1", "execute", map[string]any{"script": "true", "secretEnv": map[string]any{"TOKEN": "plain"}})}, "collectors[0].config.secretEnv.TOKEN", "secrets.NAME"},
		{"env bad name", "script", `{}`, []CollectorEntry{entry(t, "c1", "execute", map[string]any{"script": "true", "env": map[string]any{"1BAD": "x"}})}, "collectors[0].config.env", "invalid environment variable name"},
		{"redis GET without key", "redis", `{"host":"h"}`, []CollectorEntry{entry(t, "c1", "command", map[string]any{"command": "GET"})}, "collectors[0].config", "GET needs exactly one argument"},
		{"unknown collector", "http", `{}`, []CollectorEntry{entry(t, "c1", "banner", nil)}, "collectors[0].collectorId", `unknown collector "banner" for strategy "http"`},
		{"missing entry id", "http", `{}`, []CollectorEntry{{CollectorID: "request", Config: json.RawMessage(`{"url":"http://x"}`)}}, "collectors[0].id", "is required"},
		{"duplicate entry id", "http", `{}`, []CollectorEntry{entry(t, "a", "request", map[string]any{"url": "http://x"}), entry(t, "a", "request", map[string]any{"url": "http://y"})}, "collectors[1].id", "duplicate id"},
		{"banner twice", "tcp", `{"host":"h","port":1}`, []CollectorEntry{entry(t, "a", "banner", nil), entry(t, "b", "banner", nil)}, "collectors[1].collectorId", "only once"},
		{"assertion unknown field", "http", `{}`, []CollectorEntry{entry(t, "c1", "request", map[string]any{"url": "http://x"}, Assertion{Field: "status", Operator: "equals", Value: 200})}, "collectors[0].assertions[0].field", `unknown result field "status"`},
		{"assertion unknown operator", "http", `{}`, []CollectorEntry{entry(t, "c1", "request", map[string]any{"url": "http://x"}, Assertion{Field: "statusCode", Operator: "eq", Value: 200})}, "collectors[0].assertions[0].operator", `unknown operator "eq"`},
		{"assertion bad JSONPath", "http", `{}`, []CollectorEntry{entry(t, "c1", "request", map[string]any{"url": "http://x"}, Assertion{Field: "body", JSONPath: "$.a[", Operator: "exists"})}, "collectors[0].assertions[0].jsonPath", "invalid JSONPath"},
		{"assertion numeric op needs number", "http", `{}`, []CollectorEntry{entry(t, "c1", "request", map[string]any{"url": "http://x"}, Assertion{Field: "responseTimeMs", Operator: "lessThan", Value: "fast"})}, "collectors[0].assertions[0].value", "must be a number"},
		{"assertion bad regex", "http", `{}`, []CollectorEntry{entry(t, "c1", "request", map[string]any{"url": "http://x"}, Assertion{Field: "statusText", Operator: "matches", Value: "("})}, "collectors[0].assertions[0].value", "invalid regular expression"},
		{"unknown strategy", "smtp", `{}`, nil, "strategyId", `unknown strategy "smtp"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Validate(tc.strategy, json.RawMessage(tc.config), tc.collectors)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want *ValidationError, got %v", err)
			}
			fe := ve.Field(tc.field)
			if fe == nil {
				t.Fatalf("no error for field %q in %v", tc.field, ve.Errors)
			}
			if !strings.Contains(fe.Message, tc.msg) {
				t.Fatalf("field %s message %q does not contain %q", tc.field, fe.Message, tc.msg)
			}
			if !strings.Contains(err.Error(), tc.field+": ") {
				t.Fatalf("Error() %q does not name the field", err.Error())
			}
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	err := NewRegistry().Validate("tcp", json.RawMessage(`{"port":70000,"timeout":5}`), nil)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	for _, f := range []string{"config.host", "config.port", "config.timeout"} {
		if ve.Field(f) == nil {
			t.Errorf("missing error for %s in %v", f, ve.Errors)
		}
	}
}

func TestValidateAcceptsValidConfigs(t *testing.T) {
	r := NewRegistry()
	tests := []struct {
		strategy   string
		config     string
		collectors []CollectorEntry
	}{
		{"http", `{}`, []CollectorEntry{entry(t, "a", "healthcheck-http.request", map[string]any{"url": "https://example.com/health", "method": "POST",
			"headers": []any{map[string]any{"name": "Authorization", "value": "Bearer x"}}, "expectedStatus": []any{200, "3xx", "400-404"}},
			Assertion{Field: "body", JSONPath: "$.items[*].id", Operator: "includes", Value: "7"},
			Assertion{Field: "statusCode", Operator: "lessThan", Value: "300"})}},
		{"healthcheck-tcp.tcp", `{"host":"db.internal","port":5432,"timeout":100}`, []CollectorEntry{entry(t, "b", "banner", nil)}},
		{"dns", `{"nameserver":"127.0.0.1:5353"}`, []CollectorEntry{entry(t, "a", "lookup", map[string]any{"hostname": "example.com", "recordType": "MX"}), entry(t, "b", "lookup", map[string]any{"hostname": "example.com"})}},
		{"tls", `{"host":"example.com"}`, []CollectorEntry{entry(t, "c", "certificate", nil)}},
		{"ping", `{}`, []CollectorEntry{entry(t, "p", "ping", map[string]any{"host": "::1"})}},
		{"postgres", `{"host":"127.0.0.1","database":"postgres","user":"postgres","password":"x"}`, []CollectorEntry{entry(t, "q", "query", nil)}},
		{"redis", `{"host":"127.0.0.1"}`, []CollectorEntry{entry(t, "c", "command", map[string]any{"command": "GET", "args": []any{"k"}})}},
		{"grpc", `{"host":"127.0.0.1","port":50051}`, []CollectorEntry{entry(t, "h", "health", map[string]any{"service": "svc"})}},
		{"script", `{"unknownLaterField":true}`, []CollectorEntry{entry(t, "s", "execute", map[string]any{"script": "echo ok", "env": map[string]any{"A_B": "1"},
			"secretEnv": map[string]any{"TOKEN": "Bearer ${{ secrets.api-token }}"}})}},
	}
	for _, tc := range tests {
		if err := r.Validate(tc.strategy, json.RawMessage(tc.config), tc.collectors); err != nil {
			t.Errorf("%s: unexpected error %v", tc.strategy, err)
		}
	}
}

func TestExecuteRejectsInvalidConfigAndUnknownStrategy(t *testing.T) {
	res := run(t, "tcp", map[string]any{"host": "127.0.0.1", "port": 70000})
	requireUnhealthy(t, res, "config.port: must be at most 65535")
	if res.Metadata["connected"] != false {
		t.Fatalf("metadata %v", res.Metadata)
	}
	res = run(t, "nope", map[string]any{})
	requireUnhealthy(t, res, "Strategy nope not found")
	if res.LatencyMs != nil {
		t.Fatalf("catastrophic result has latency %v", *res.LatencyMs)
	}
}

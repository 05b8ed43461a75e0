package checks

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

type schemaDoc struct {
	Properties map[string]map[string]any `json:"properties"`
	Required   []string                  `json:"required"`
}

func decodeSchema(t *testing.T, raw json.RawMessage) schemaDoc {
	t.Helper()
	var d schemaDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("schema %s: %v", raw, err)
	}
	return d
}

// The MySQL, SSH, RCON and Jenkins config schemas mark exactly their credentials x-secret and
// carry the reference's defaults; their collectors are registered under the reference aliases.
func TestNewStrategySchemas(t *testing.T) {
	r := NewRegistry()
	tests := []struct {
		strategy   string
		secrets    []string
		notSecret  []string
		defaults   map[string]any
		required   []string
		collectors []string
	}{
		{"mysql", []string{"password"}, []string{"host", "port", "database", "user"}, map[string]any{"port": 3306.0, "timeout": 30000.0}, []string{"host", "database", "user"}, []string{"mysql-query"}},
		{"ssh", []string{"password", "privateKey", "passphrase"}, []string{"host", "port", "username", "hostKeyFingerprint"}, map[string]any{"port": 22.0, "timeout": 30000.0}, []string{"host", "username"}, []string{"ssh-command"}},
		{"rcon", []string{"password"}, []string{"host", "port"}, map[string]any{"port": 25575.0, "timeout": 30000.0}, []string{"host", "password"}, []string{"rcon-command", "minecraft-players", "source-status"}},
		{"jenkins", []string{"apiToken"}, []string{"baseUrl", "username"}, map[string]any{"timeout": 30000.0}, []string{"baseUrl", "username", "apiToken"}, []string{"job-status", "server-info"}},
	}
	for _, tc := range tests {
		t.Run(tc.strategy, func(t *testing.T) {
			s, ok := r.Strategy("healthcheck-" + tc.strategy + "." + tc.strategy)
			if !ok {
				t.Fatalf("strategy %s not registered under its reference alias", tc.strategy)
			}
			info := s.Info()
			d := decodeSchema(t, info.ConfigSchema)
			for _, f := range tc.secrets {
				if d.Properties[f]["x-secret"] != true {
					t.Errorf("%s.%s is not x-secret: %v", tc.strategy, f, d.Properties[f])
				}
			}
			for _, f := range tc.notSecret {
				if p, ok := d.Properties[f]; !ok || p["x-secret"] != nil {
					t.Errorf("%s.%s missing or wrongly x-secret: %v", tc.strategy, f, p)
				}
			}
			for f, want := range tc.defaults {
				if got := d.Properties[f]["default"]; got != want {
					t.Errorf("%s.%s default = %v, want %v", tc.strategy, f, got, want)
				}
			}
			slices.Sort(d.Required)
			want := slices.Clone(tc.required)
			slices.Sort(want)
			if !slices.Equal(d.Required, want) {
				t.Errorf("%s required = %v, want %v", tc.strategy, d.Required, want)
			}
			var ids []string
			for _, c := range info.Collectors {
				ids = append(ids, c.ID)
				if c.Aliases[0] != "healthcheck-"+tc.strategy+"."+c.ID || len(c.Aggregates) == 0 {
					t.Errorf("collector %+v", c)
				}
			}
			if !slices.Equal(ids, tc.collectors) {
				t.Errorf("collectors %v, want %v", ids, tc.collectors)
			}
		})
	}
	for _, tc := range []struct {
		collector, field string
		want             any
	}{
		{"mysql-query", "query", "SELECT 1"},
		{"job-status", "checkLastBuild", true},
	} {
		c := r.collectors[tc.collector]
		if got := decodeSchema(t, c.info().ConfigSchema).Properties[tc.field]["default"]; got != tc.want {
			t.Errorf("%s.%s default = %v, want %v", tc.collector, tc.field, got, tc.want)
		}
	}
	if rows := decodeSchema(t, r.collectors["mysql-query"].info().ResultSchema).Properties["rows"]; rows["x-ephemeral"] != true {
		t.Errorf("mysql rows not ephemeral: %v", rows)
	}
}

func TestNewStrategyValidation(t *testing.T) {
	r := NewRegistry()
	key := testSSHKeyPEM(t, "")
	tests := []struct {
		name       string
		strategy   string
		config     string
		collectors []CollectorEntry
		field      string // "" = valid
		msg        string
	}{
		{"mysql ok", "mysql", `{"host":"db","database":"d","user":"u","password":"p"}`, []CollectorEntry{entry(t, "q", "healthcheck-mysql.mysql-query", nil)}, "", ""},
		{"mysql missing user", "mysql", `{"host":"db","database":"d"}`, nil, "config.user", "is required"},
		{"mysql empty query", "mysql", `{"host":"db","database":"d","user":"u"}`, []CollectorEntry{entry(t, "q", "mysql-query", map[string]any{"query": ""})}, "collectors[0].config.query", "must not be empty"},
		{"ssh password", "ssh", `{"host":"h","username":"u","password":"p"}`, []CollectorEntry{entry(t, "c", "ssh-command", map[string]any{"command": "uptime"})}, "", ""},
		{"ssh key", "ssh", string(mustJSON(t, map[string]any{"host": "h", "username": "u", "privateKey": key})), nil, "", ""},
		{"ssh no credentials", "ssh", `{"host":"h","username":"u"}`, nil, "config", "password or privateKey is required"},
		{"ssh bad key", "ssh", `{"host":"h","username":"u","privateKey":"not a key"}`, nil, "config.privateKey", "private key"},
		{"ssh bad fingerprint", "ssh", `{"host":"h","username":"u","password":"p","hostKeyFingerprint":"MD5:aa"}`, nil, "config.hostKeyFingerprint", "must match"},
		{"ssh command required", "ssh", `{"host":"h","username":"u","password":"p"}`, []CollectorEntry{entry(t, "c", "ssh-command", nil)}, "collectors[0].config.command", "is required"},
		{"rcon ok", "rcon", `{"host":"h","password":"p"}`, []CollectorEntry{entry(t, "c", "rcon-command", map[string]any{"command": "list"}), entry(t, "p", "minecraft-players", nil)}, "", ""},
		{"rcon missing password", "rcon", `{"host":"h"}`, nil, "config.password", "is required"},
		{"rcon players once", "rcon", `{"host":"h","password":"p"}`, []CollectorEntry{entry(t, "a", "minecraft-players", nil), entry(t, "b", "minecraft-players", nil)}, "collectors[1].collectorId", "only once"},
		{"rcon collector of another strategy", "rcon", `{"host":"h","password":"p"}`, []CollectorEntry{entry(t, "c", "command", nil)}, "collectors[0].collectorId", "unknown collector"},
		{"jenkins ok", "jenkins", `{"baseUrl":"https://ci.example.com/jenkins/","username":"u","apiToken":"t"}`, []CollectorEntry{entry(t, "j", "job-status", map[string]any{"jobName": "folder/app"})}, "", ""},
		{"jenkins relative url", "jenkins", `{"baseUrl":"ci.example.com","username":"u","apiToken":"t"}`, nil, "config.baseUrl", "absolute"},
		{"jenkins missing token", "jenkins", `{"baseUrl":"https://ci","username":"u"}`, nil, "config.apiToken", "is required"},
		{"jenkins empty job segment", "jenkins", `{"baseUrl":"https://ci","username":"u","apiToken":"t"}`, []CollectorEntry{entry(t, "j", "job-status", map[string]any{"jobName": "folder//app"})}, "collectors[0].config.jobName", "no empty segments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Validate(tc.strategy, json.RawMessage(tc.config), tc.collectors)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want *ValidationError, got %v", err)
			}
			fe := ve.Field(tc.field)
			if fe == nil || !strings.Contains(fe.Message, tc.msg) {
				t.Fatalf("field %s: got %v, want message containing %q", tc.field, ve.Errors, tc.msg)
			}
		})
	}
}

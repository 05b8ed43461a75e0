package checks

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Strategies whose connect step probes nothing (http, dns, ping, script) need their collector:
// without it a check would check nothing and always be healthy. The error names "collectors"
// and says which collector and which config field are needed. Strategies that probe in their
// connect step (tcp, tls, postgres, redis, grpc) need no collector.
func TestValidateRejectsChecksThatCheckNothing(t *testing.T) {
	r := NewRegistry()
	for _, tc := range []struct {
		name       string
		strategy   string
		config     string
		collectors []CollectorEntry
		want       []string // "" = valid
	}{
		{"http without collectors", "http", `{}`, nil, []string{`the http strategy checks nothing without a "request" collector`, "config.url", `"collectorId": "request"`}},
		{"http with an empty list", "healthcheck-http.http", `{}`, []CollectorEntry{}, []string{`"request" collector`, "config.url"}},
		{"dns without lookup", "dns", `{}`, nil, []string{`"lookup" collector`, "config.hostname"}},
		{"ping without ping", "ping", `{}`, nil, []string{`"ping" collector`, "config.host"}},
		{"script without execute", "script", `{}`, nil, []string{`"execute" collector`, "config.script"}},
		{"http with a request", "http", `{}`, []CollectorEntry{entry(t, "r", "request", map[string]any{"url": "https://example.com"})}, nil},
		{"http with a qualified request", "http", `{}`, []CollectorEntry{entry(t, "r", "healthcheck-http.request", map[string]any{"url": "https://example.com"})}, nil},
		{"dns with a lookup", "dns", `{}`, []CollectorEntry{entry(t, "l", "lookup", map[string]any{"hostname": "example.com"})}, nil},
		{"tcp connects by itself", "tcp", `{"host":"h","port":1}`, nil, nil},
		{"tls handshakes by itself", "tls", `{"host":"h"}`, nil, nil},
		{"postgres logs in by itself", "postgres", `{"host":"h","database":"d","user":"u"}`, nil, nil},
		{"redis connects by itself", "redis", `{"host":"h"}`, nil, nil},
		{"grpc calls by itself", "grpc", `{"host":"h","port":1}`, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Validate(tc.strategy, json.RawMessage(tc.config), tc.collectors)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want *ValidationError, got %v", err)
			}
			fe := ve.Field("collectors")
			if fe == nil {
				t.Fatalf("no error for collectors in %v", ve.Errors)
			}
			for _, w := range tc.want {
				if !strings.Contains(fe.Message, w) {
					t.Errorf("message %q does not contain %q", fe.Message, w)
				}
			}
		})
	}
}

// An unknown collector does not satisfy the requirement (and is reported as unknown too).
func TestValidateRequiredCollectorIgnoresUnknownCollectors(t *testing.T) {
	err := NewRegistry().Validate("http", json.RawMessage(`{}`), []CollectorEntry{entry(t, "b", "banner", nil)})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field("collectors") == nil || ve.Field("collectors[0].collectorId") == nil {
		t.Fatalf("got %v", err)
	}
}

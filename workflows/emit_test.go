package workflows

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// TestCheckRunEventsCarryTheCollectorResults: the hooks of a run carry its collectors' results
// (metadata.collectors, an object) as they were, and nothing else from the result document.
func TestCheckRunEventsCarryTheCollectorResults(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	lat := 7
	tests := []struct {
		name       string
		status     health.Status
		result     string
		wantResult string // "" when the payload has none
		wantTypes  []string
	}{
		{"collectors object", health.Healthy, `{"status":"healthy","metadata":{"collectors":{"c1":{"_collectorId":"http.request","statusCode":200}},"other":1}}`,
			`{"c1":{"_collectorId":"http.request","statusCode":200}}`, []string{health.HookCheckCompleted}},
		{"no metadata", health.Healthy, `{"status":"healthy"}`, "", []string{health.HookCheckCompleted}},
		{"collectors null", health.Healthy, `{"metadata":{"collectors":null}}`, "", []string{health.HookCheckCompleted}},
		{"collectors not an object", health.Healthy, `{"metadata":{"collectors":[1,2]}}`, "", []string{health.HookCheckCompleted}},
		{"result not JSON", health.Healthy, `{"metadata":`, "", []string{health.HookCheckCompleted}},
		{"failed run: hooks and trigger share the payload", health.Unhealthy, `{"metadata":{"collectors":{}}}`, `{}`,
			[]string{health.HookCheckCompleted, health.HookCheckFailed, health.EventCheckFailed}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs := checkRunEvents("sys-1", CheckResult{ID: "r1", ConfigurationID: "cfg-1", Status: tc.status, LatencyMs: &lat,
				Result: json.RawMessage(tc.result), ExecutedAt: at})
			if len(evs) != len(tc.wantTypes) {
				t.Fatalf("%d events, want %v", len(evs), tc.wantTypes)
			}
			for i, ev := range evs {
				if ev.Type != tc.wantTypes[i] || ev.Discriminator != "cfg-1" {
					t.Fatalf("event %d: %s/%s", i, ev.Type, ev.Discriminator)
				}
				// What the outbox stores: the payload encoded, read back.
				b, err := json.Marshal(ev.Payload)
				if err != nil {
					t.Fatal(err)
				}
				var got map[string]any
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatal(err)
				}
				if got["systemId"] != "sys-1" || got["configurationId"] != "cfg-1" || got["status"] != string(tc.status) || got["latencyMs"] != float64(7) {
					t.Fatalf("payload %s", b)
				}
				res, has := got["result"]
				if tc.wantResult == "" {
					if has {
						t.Fatalf("payload has a result: %s", b)
					}
					return
				}
				rb, _ := json.Marshal(res)
				var want any
				_ = json.Unmarshal([]byte(tc.wantResult), &want)
				wb, _ := json.Marshal(want)
				if string(rb) != string(wb) {
					t.Fatalf("result %s, want %s", rb, wb)
				}
			}
		})
	}
}

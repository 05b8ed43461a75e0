package checks

import (
	"encoding/json"
	"testing"

	"github.com/checkflow/checkflow/internal/health"
)

var _ health.CollectorMerger = (*Registry)(nil).MergeCollector // signature contract

func TestMergeCollector(t *testing.T) {
	r := NewRegistry()
	tests := []struct {
		name      string
		collector string
		runs      []map[string]any
		check     func(t *testing.T, state map[string]any)
	}{
		{"request averages and rates", "request", []map[string]any{
			{"responseTimeMs": 100, "success": true},
			{"responseTimeMs": 200.0, "success": true},
			{"_collectorError": "request failed: connection refused"}, // no result fields
		}, func(t *testing.T, s map[string]any) {
			avg := s["avgResponseTimeMs"].(map[string]any)
			rate := s["successRate"].(map[string]any)
			if avg["_type"] != "average" || avg["avg"] != 150.0 || avg["_count"] != 2.0 {
				t.Fatalf("average %v", avg)
			}
			if rate["_type"] != "rate" || rate["rate"] != 67.0 || rate["_total"] != 3.0 {
				t.Fatalf("rate %v", rate)
			}
		}},
		{"qualified id, HTTP status failure counts as failure", "healthcheck-http.request", []map[string]any{
			{"responseTimeMs": 10, "success": false, "_collectorError": "HTTP 500"},
		}, func(t *testing.T, s map[string]any) {
			if s["_collectorId"] != "request" || s["successRate"].(map[string]any)["rate"] != 0.0 {
				t.Fatalf("state %v", s)
			}
		}},
		{"script timeouts counted", "execute", []map[string]any{
			{"executionTimeMs": 5, "success": true, "timedOut": false},
			{"executionTimeMs": 500, "success": false, "timedOut": true},
		}, func(t *testing.T, s map[string]any) {
			if c := s["timeoutCount"].(map[string]any); c["_type"] != "counter" || c["count"] != 1.0 {
				t.Fatalf("counter %v", c)
			}
		}},
		{"certificate min/max", "certificate", []map[string]any{
			{"daysRemaining": 40, "valid": true}, {"daysRemaining": 12, "valid": true}, {"daysRemaining": 90, "valid": true},
		}, func(t *testing.T, s map[string]any) {
			if mm := s["daysRemaining"].(map[string]any); mm["min"] != 12.0 || mm["max"] != 90.0 {
				t.Fatalf("minmax %v", mm)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var state map[string]any
			for _, res := range tc.runs {
				var ok bool
				state, ok = r.MergeCollector(tc.collector, state, res, health.RunSample{Status: health.Healthy})
				if !ok {
					t.Fatalf("MergeCollector(%q) not ok", tc.collector)
				}
			}
			tc.check(t, state)
		})
	}
	if s, ok := r.MergeCollector("healthcheck-ssh.command", nil, map[string]any{}, health.RunSample{}); ok || s != nil {
		t.Fatalf("unknown collector merged: %v", s)
	}
}

func TestMergeCollectorWithHourlyFold(t *testing.T) {
	// Results produced by Execute, stored as JSON, folded by the health package's hourly fold.
	r := NewRegistry()
	var b health.Bucket
	for _, script := range []string{"exit 0", "exit 0", "exit 3"} {
		res := run(t, "script", map[string]any{}, entry(t, "inst-1", "execute", map[string]any{"script": script}))
		var stored struct {
			Status    health.Status `json:"status"`
			LatencyMs *int          `json:"latencyMs"`
			Metadata  struct {
				Collectors map[string]map[string]any `json:"collectors"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(mustJSON(t, res), &stored); err != nil {
			t.Fatal(err)
		}
		b = health.FoldRun(b, health.RunSample{Status: stored.Status, LatencyMs: stored.LatencyMs, Collectors: stored.Metadata.Collectors}, r.MergeCollector)
	}
	inst := b.AggregatedResult["collectors"].(map[string]any)["inst-1"].(map[string]any)
	if inst["_collectorId"] != "execute" || inst["successRate"].(map[string]any)["rate"] != 67.0 || inst["avgExecutionTimeMs"].(map[string]any)["_count"] != 3.0 {
		t.Fatalf("aggregated %v", inst)
	}
	if b.RunCount != 3 || b.UnhealthyCount != 1 {
		t.Fatalf("bucket %+v", b)
	}
}

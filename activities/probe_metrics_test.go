package activities

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/metrics"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// TestProbeMetrics: a Prober with Metrics counts every result it returns by strategy (a
// strategy the registry does not know is "unknown", never the stored id) and status, and times
// the runs it probed; without Metrics it probes as before.
func TestProbeMetrics(t *testing.T) {
	t.Parallel()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(ok.Close)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	t.Cleanup(failing.Close)
	box := testutil.SecretBox(t)
	sealed, err := box.Seal("secret")
	if err != nil {
		t.Fatal(err)
	}
	item := func(strategy, url, header string) workflows.ProbeItem {
		col := map[string]any{"url": url}
		if header != "" {
			col["headers"] = []map[string]any{{"name": "X-Token", "value": header}}
		}
		collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": col}})
		return workflows.ProbeItem{ResultID: "sys:p", Assignment: workflows.Assignment{
			ConfigurationID: "00000000-0000-0000-0000-000000000001", Name: "api", StrategyID: strategy,
			Config: json.RawMessage(`{"timeout":2000}`), Collectors: collectors, IntervalSeconds: 60}}
	}
	tests := []struct {
		name      string
		item      workflows.ProbeItem
		metrics   bool
		strategy  string
		status    health.Status
		wantTimed bool
	}{
		{"healthy run", item("http", ok.URL, ""), true, "http", health.Healthy, true},
		{"failed run", item("http", failing.URL, ""), true, "http", health.Unhealthy, true},
		{"unknown strategy", item("made-up strategy", ok.URL, ""), true, metrics.StrategyUnknown, health.Unhealthy, true},
		{"secret that cannot be opened: counted, not timed", item("http", ok.URL, sealed), true, "http", health.Unhealthy, false},
		{"no metrics", item("http", failing.URL, ""), false, "http", health.Unhealthy, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := metrics.New(metrics.Options{Strategies: []string{"http"}})
			p := &Prober{Checks: checks.NewRegistry()}
			if tc.metrics {
				p.Metrics = reg
			}
			res, err := p.Probe(context.Background(), workflows.ProbeRequest{SystemID: "sys", Probes: []workflows.ProbeItem{tc.item}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 || res[0].Status != tc.status {
				t.Fatalf("result = %+v, want one %s run", res, tc.status)
			}
			mfs, err := reg.Gatherer().Gather()
			if err != nil {
				t.Fatal(err)
			}
			var runs, timed float64
			for _, mf := range mfs {
				for _, m := range mf.GetMetric() {
					labels := map[string]string{}
					for _, lp := range m.GetLabel() {
						labels[lp.GetName()] = lp.GetValue()
					}
					switch mf.GetName() {
					case metrics.NameCheckRuns:
						if labels["strategy"] == "made-up strategy" {
							t.Errorf("the unknown strategy id became a label value")
						}
						if labels["strategy"] == tc.strategy && labels["status"] == string(tc.status) {
							runs = m.GetCounter().GetValue()
						}
					case metrics.NameProbeDuration:
						if labels["strategy"] == tc.strategy {
							timed = float64(m.GetHistogram().GetSampleCount())
						}
					}
				}
			}
			wantRuns, wantTimed := 0.0, 0.0
			if tc.metrics {
				wantRuns = 1
			}
			if tc.wantTimed {
				wantTimed = 1
			}
			if runs != wantRuns || timed != wantTimed {
				t.Errorf("runs{%s,%s} = %v, probe durations = %v; want %v, %v", tc.strategy, tc.status, runs, timed, wantRuns, wantTimed)
			}
		})
	}
}

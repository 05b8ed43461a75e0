package worker

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/metrics"
)

// TestServeMetrics: the worker's metrics server serves the registry at GET /metrics in the
// Prometheus text format, nothing else, refuses a bad address, and stops listening on Close.
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	if _, err := ServeMetrics("not an address", metrics.New(metrics.Options{}), nil); err == nil {
		t.Fatal("ServeMetrics on a bad address succeeded")
	}
	if _, err := ServeMetrics("127.0.0.1:0", nil, nil); err == nil {
		t.Fatal("ServeMetrics without a registry succeeded")
	}
	reg := metrics.New(metrics.Options{Strategies: []string{"http"}})
	reg.ObserveRun("http", health.Unhealthy)
	m, err := ServeMetrics("127.0.0.1:0", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + m.Addr().String()
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/metrics", http.StatusOK},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed},
		{http.MethodGet, "/", http.StatusNotFound},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
		if resp.StatusCode == http.StatusOK {
			p := expfmt.NewTextParser(model.UTF8Validation)
			fams, err := p.TextToMetricFamilies(resp.Body)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			f := fams[metrics.NameCheckRuns]
			found := false
			for _, s := range f.GetMetric() {
				var lv []string
				for _, lp := range s.GetLabel() {
					lv = append(lv, lp.GetName()+"="+lp.GetValue())
				}
				if strings.Join(lv, ",") == "status=unhealthy,strategy=http" && s.GetCounter().GetValue() == 1 {
					found = true
				}
			}
			if !found {
				t.Errorf("%s{strategy=http,status=unhealthy} = 1 not served", metrics.NameCheckRuns)
			}
		}
		resp.Body.Close()
	}
	m.Close()
	if resp, err := http.Get(base + "/metrics"); err == nil {
		resp.Body.Close()
		t.Fatal("still serving after Close")
	}
}

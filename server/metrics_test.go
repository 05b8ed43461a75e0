package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/metrics"
	"github.com/checkflow/checkflow/server/apitest"
)

// TestMetricsRouteFollowsPublicStatus: GET /metrics exists only with WithMetrics, is public
// like status:read by default and needs a (any) valid token with WithPublicStatus(false); what
// it serves parses as the Prometheus text format and holds the status gauges read from
// PostgreSQL.
func TestMetricsRouteFollowsPublicStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		metrics bool
		public  bool
		token   string
		want    int
	}{
		{name: "no registry, no route", metrics: false, public: true, want: http.StatusNotFound},
		{name: "public by default", metrics: true, public: true, want: http.StatusOK},
		{name: "public, a token is fine too", metrics: true, public: true, token: tokRead, want: http.StatusOK},
		{name: "tokens required: anonymous is refused", metrics: true, public: false, want: http.StatusUnauthorized},
		{name: "tokens required: an unknown token is refused", metrics: true, public: false, token: "cf_not-a-token", want: http.StatusUnauthorized},
		{name: "tokens required: status:read may scrape", metrics: true, public: false, token: tokStatus, want: http.StatusOK},
		{name: "tokens required: any valid token may scrape", metrics: true, public: false, token: tokManage, want: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := []Option{WithPublicStatus(tc.public)}
			if tc.metrics {
				opts = append(opts, WithMetrics(metrics.New(metrics.Options{StoreCacheTTL: -1})))
			}
			e := newEnv(t, opts...)
			e.mustSystem("shop")
			chk := e.mustCheck("api")
			e.mustAssign("shop", chk)
			e.mustRun("shop", chk, 1, health.Unhealthy)

			r := e.do(http.MethodGet, "/metrics", tc.token, nil)
			if r.status != tc.want {
				t.Fatalf("GET /metrics = %d, want %d: %s", r.status, tc.want, r.body)
			}
			if r.status != http.StatusOK {
				return
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Fatalf("Content-Type = %q, want text/plain", ct)
			}
			p := expfmt.NewTextParser(model.UTF8Validation)
			fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if v := gaugeOf(fams[metrics.NameStoreUp], nil); v != 1 {
				t.Fatalf("%s = %v, want 1", metrics.NameStoreUp, v)
			}
			if v := gaugeOf(fams[metrics.NameCheckStatus], map[string]string{"system_id": "shop", "check_id": chk}); v != 2 {
				t.Fatalf("%s{shop,%s} = %v, want 2 (unhealthy)", metrics.NameCheckStatus, chk, v)
			}
			if v := gaugeOf(fams[metrics.NameSystemStatus], map[string]string{"system_id": "shop"}); v != 2 {
				t.Fatalf("%s{shop} = %v, want 2 (unhealthy)", metrics.NameSystemStatus, v)
			}
		})
	}
}

// gaugeOf is the value of the gauge of fam with exactly labels; -1 when absent.
func gaugeOf(fam *dto.MetricFamily, labels map[string]string) float64 {
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		ok := true
		for _, lp := range m.GetLabel() {
			ok = ok && labels[lp.GetName()] == lp.GetValue()
		}
		if ok {
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// TestMetricsRouteIsDocumented: with WithMetrics the OpenAPI document stays valid and documents
// GET /metrics with the status:read scope (public unless tokens are required) and its text
// format; without it, /metrics is not documented.
func TestMetricsRouteIsDocumented(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []Option
		want bool
	}{
		{"with metrics", []Option{WithMetrics(metrics.New(metrics.Options{}))}, true},
		{"without metrics", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(Config{Version: "test"}, tc.opts...)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
			spec, err := apitest.LoadSpec(context.Background(), rec.Body.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			item := spec.Doc.Paths.Value("/metrics")
			if !tc.want {
				if item != nil {
					t.Fatal("/metrics documented without a metrics registry")
				}
				return
			}
			if item == nil || item.Get == nil {
				t.Fatal("GET /metrics is not documented")
			}
			if scope, _ := item.Get.Extensions["x-required-scope"].(string); scope != ScopeStatusRead {
				t.Errorf("x-required-scope = %q, want %q", scope, ScopeStatusRead)
			}
			ok := item.Get.Responses.Value("200")
			if ok == nil || ok.Value.Headers["Content-Type"] == nil || !strings.Contains(ok.Value.Headers["Content-Type"].Value.Description, "text/plain") {
				t.Errorf("the 200 response does not document the text/plain Content-Type")
			}
		})
	}
}

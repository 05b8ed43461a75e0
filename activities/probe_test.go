package activities

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// Sealed values in a stored configuration are opened for the probe only: the target receives
// the plaintext, the stored (and Temporal-carried) assignment keeps the sealed value, and a
// worker without the key fails the run with a message that says so.
func TestProbeOpensSealedSecrets(t *testing.T) {
	const token = "tok-3f9a1c"
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer target.Close()
	box := testutil.SecretBox(t)
	sealed, err := box.Seal(token)
	if err != nil {
		t.Fatal(err)
	}
	collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{
		"url": target.URL, "headers": []map[string]any{{"name": "X-Token", "value": sealed}}}}})
	req := workflows.ProbeRequest{SystemID: "sys", Probes: []workflows.ProbeItem{{ResultID: "sys:p1", Assignment: workflows.Assignment{
		ConfigurationID: "00000000-0000-0000-0000-000000000001", Name: "api", StrategyID: "http",
		Config: json.RawMessage(`{"timeout":2000}`), Collectors: collectors, IntervalSeconds: 60}}}}

	cases := []struct {
		name    string
		box     bool
		status  health.Status
		message string
	}{
		{"with the key", true, health.Healthy, "Completed"},
		{"without the key", false, health.Unhealthy, "no secret key is configured"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &Prober{Checks: checks.NewRegistry()}
			if tc.box {
				p.Box = box
			}
			res, err := p.Probe(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 || res[0].Status != tc.status || !strings.Contains(res[0].Message, tc.message) {
				t.Fatalf("result = %+v", res)
			}
			if strings.Contains(string(res[0].Result), token) {
				t.Errorf("the run result holds the secret: %s", res[0].Result)
			}
		})
	}
	if !strings.Contains(string(req.Probes[0].Assignment.Collectors), sealed) {
		t.Error("the request's assignment was changed in place")
	}
}

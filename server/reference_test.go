package server

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/server/apitest"
)

// The reference's router cases (§16.13, RO-1…RO-8) and the retention validation messages
// (§1.8), through HTTP. Every response is also checked against the OpenAPI document.

func refClient(t *testing.T) (*env, *apitest.Client) {
	t.Helper()
	e := newEnv(t)
	hs := e.serve()
	return e, apitest.New(t, hs.URL, hs.Client())
}

// RO-1: the strategies list has one item for the qualified id healthcheck-http.http (checkflow
// answers the short id "http" with the qualified one as an alias; both address it).
func TestRO1_GetStrategiesListsTheQualifiedHTTPStrategy(t *testing.T) {
	t.Parallel()
	e, api := refClient(t)
	res := api.WithToken(e.tokens[tokRead]).Do("GET", "/api/v1/strategies", nil)
	var out struct {
		Strategies []struct {
			ID      string   `json:"id"`
			Aliases []string `json:"aliases"`
		} `json:"strategies"`
	}
	res.Decode(t, &out)
	var matches []string
	for _, s := range out.Strategies {
		if s.ID == "healthcheck-http.http" || slices.Contains(s.Aliases, "healthcheck-http.http") {
			matches = append(matches, s.ID)
		}
	}
	if res.Status != 200 || len(matches) != 1 || matches[0] != "http" {
		t.Fatalf("strategies matching healthcheck-http.http: %v (status %d)", matches, res.Status)
	}
}

// RO-2: the configurations list is an object with an array "configurations".
func TestRO2_GetConfigurationsIsAnObjectWithAnArray(t *testing.T) {
	t.Parallel()
	e, api := refClient(t)
	e.mustCheck("one")
	res := api.WithToken(e.tokens[tokRead]).Do("GET", "/api/v1/checks", nil)
	var out map[string]any
	res.Decode(t, &out)
	list, ok := out["configurations"].([]any)
	if res.Status != 200 || !ok || len(list) != 1 {
		t.Fatalf("GET /checks = %d %s", res.Status, res.Body)
	}
}

// RO-3: a configuration that does not exist is "undefined" in the reference: 404 here.
func TestRO3_GetConfigurationOfUnknownIDIs404(t *testing.T) {
	t.Parallel()
	e, api := refClient(t)
	for _, id := range []string{"3f1c2a4e-0000-4000-8000-000000000000", "non-existent"} {
		res := api.WithToken(e.tokens[tokRead]).Do("GET", "/api/v1/checks/"+id, nil)
		if p := res.Problem(t); res.Status != 404 || p.Detail != "Configuration not found" {
			t.Errorf("GET /checks/%s = %d %+v", id, res.Status, p)
		}
	}
}

// RO-4: the collectors of a strategy, with their display name and allowMultiple (the reference
// case used an SSH strategy and a hardware collector; checkflow's tcp strategy has one
// collector, addressed here by its qualified id).
func TestRO4_GetCollectorsOfAStrategy(t *testing.T) {
	t.Parallel()
	e, api := refClient(t)
	want := checks.NewRegistry().Collectors("tcp")
	if len(want) != 1 {
		t.Fatalf("registry has %d tcp collectors", len(want))
	}
	res := api.WithToken(e.tokens[tokRead]).Do("GET", "/api/v1/strategies/healthcheck-tcp.tcp/collectors", nil)
	var out struct {
		Collectors []struct {
			ID            string `json:"id"`
			DisplayName   string `json:"displayName"`
			AllowMultiple bool   `json:"allowMultiple"`
		} `json:"collectors"`
	}
	res.Decode(t, &out)
	if res.Status != 200 || len(out.Collectors) != 1 {
		t.Fatalf("collectors = %d %s", res.Status, res.Body)
	}
	got := out.Collectors[0]
	if got.ID != want[0].ID || got.DisplayName != want[0].DisplayName || got.AllowMultiple != want[0].AllowMultiple || got.DisplayName == "" {
		t.Errorf("collector = %+v, want %s/%s/%v", got, want[0].ID, want[0].DisplayName, want[0].AllowMultiple)
	}
}

// RO-5: the reference answers an unknown strategy with an empty collector list (200); checkflow
// answers 404 (issue 17: an empty list hid a typo in the strategy id).
func TestRO5_GetCollectorsOfUnknownStrategyIs404(t *testing.T) {
	t.Parallel()
	e, api := refClient(t)
	res := api.WithToken(e.tokens[tokRead]).Do("GET", "/api/v1/strategies/healthcheck-ssh/collectors", nil)
	if p := res.Problem(t); res.Status != 404 || p.Type != ProblemNotFound {
		t.Fatalf("= %d %s", res.Status, res.Body)
	}
}

// RO-6: deleting a configuration without provenance is allowed.
func TestRO6_DeleteConfigurationWithoutProvenance(t *testing.T) {
	t.Parallel()
	e, api := refClient(t)
	id := e.mustCheck("free")
	res := api.WithToken(e.tokens[tokManage]).Do("DELETE", "/api/v1/checks/"+id, nil)
	if res.Status != 204 {
		t.Fatalf("DELETE = %d %s", res.Status, res.Body)
	}
	if _, err := e.store.GetConfiguration(context.Background(), id); err == nil {
		t.Fatal("configuration still exists")
	}
}

// RO-7: every write to a GitOps-managed configuration is 403 "managed by GitOps", and nothing
// changes.
func TestRO7_GitOpsManagedConfigurationIsForbidden(t *testing.T) {
	t.Parallel()
	e, api := refClient(t)
	id := e.mustCheck("managed")
	if _, err := e.store.SetProvenance(context.Background(), "Healthcheck", id, "git@example.com:ops/checks.yaml"); err != nil {
		t.Fatal(err)
	}
	m := api.WithToken(e.tokens[tokManage])
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"DELETE", "/api/v1/checks/" + id, nil},
		{"PATCH", "/api/v1/checks/" + id, map[string]any{"name": "changed"}},
		{"POST", "/api/v1/checks/" + id + "/pause", nil},
		{"POST", "/api/v1/checks/" + id + "/resume", nil},
	} {
		res := m.Do(r.method, r.path, r.body)
		p := res.Problem(t)
		if res.Status != http.StatusForbidden || !strings.Contains(p.Detail, "managed by GitOps") || p.Type != ProblemGitOps {
			t.Errorf("%s %s = %d %+v", r.method, r.path, res.Status, p)
		}
	}
	c, err := e.store.GetConfiguration(context.Background(), id)
	if err != nil || c.Name != "managed" || c.Paused {
		t.Fatalf("configuration changed: %+v %v", c, err)
	}
}

// RO-8: associating with (or otherwise changing the checks of) a GitOps-managed system is 403.
func TestRO8_AssociateGitOpsManagedSystemIsForbidden(t *testing.T) {
	t.Parallel()
	e, api := refClient(t)
	e.mustSystem("sys-1")
	id := e.mustCheck("c")
	other := e.mustCheck("assigned before")
	e.mustAssign("sys-1", other)
	if _, err := e.store.SetProvenance(context.Background(), "System", "sys-1", "git@example.com:ops/systems.yaml"); err != nil {
		t.Fatal(err)
	}
	m := api.WithToken(e.tokens[tokManage])
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/api/v1/systems/sys-1/checks/" + id, map[string]any{"enabled": true}},
		{"DELETE", "/api/v1/systems/sys-1/checks/" + other, nil},
		{"PUT", "/api/v1/systems/sys-1/checks/" + other + "/retention", map[string]any{"retentionConfig": nil}},
		{"PATCH", "/api/v1/systems/sys-1", map[string]any{"name": "x"}},
		{"DELETE", "/api/v1/systems/sys-1", nil},
	} {
		res := m.Do(r.method, r.path, r.body)
		if p := res.Problem(t); res.Status != http.StatusForbidden || p.Detail != "System is managed by GitOps and cannot be modified manually." {
			t.Errorf("%s %s = %d %+v", r.method, r.path, res.Status, p)
		}
	}
	list, err := e.store.ListAssignments(context.Background(), "sys-1")
	if err != nil || len(list) != 1 || list[0].ConfigurationID != other {
		t.Fatalf("assignments changed: %+v %v", list, err)
	}
	if got := e.entities.signalled(); len(got) != 0 {
		t.Errorf("entities were signalled after forbidden writes: %v", got)
	}
}

// §1.8: retention bounds, ordering messages, defaults for absent fields, null resets.
func TestRetentionValidationMessages_1_8(t *testing.T) {
	t.Parallel()
	e, api := refClient(t)
	e.mustSystem("ret")
	id := e.mustCheck("ret")
	e.mustAssign("ret", id)
	m := api.WithToken(e.tokens[tokManage])
	path := "/api/v1/systems/ret/checks/" + id + "/retention"
	for _, c := range []struct {
		name  string
		rc    map[string]any
		field string
		msg   string
	}{
		{"raw not below hourly", map[string]any{"rawRetentionDays": 30, "hourlyRetentionDays": 30}, "retentionConfig.rawRetentionDays", "Raw retention must be less than hourly retention"},
		{"raw above default hourly", map[string]any{"rawRetentionDays": 30}, "retentionConfig.rawRetentionDays", "Raw retention must be less than hourly retention"},
		{"hourly not below daily", map[string]any{"hourlyRetentionDays": 90, "dailyRetentionDays": 90}, "retentionConfig.hourlyRetentionDays", "Hourly retention must be less than daily retention"},
		{"raw below 1", map[string]any{"rawRetentionDays": 0}, "retentionConfig.rawRetentionDays", "must be an integer between 1 and 30"},
		{"raw above 30", map[string]any{"rawRetentionDays": 31}, "retentionConfig.rawRetentionDays", "must be an integer between 1 and 30"},
		{"hourly below 7", map[string]any{"hourlyRetentionDays": 6}, "retentionConfig.hourlyRetentionDays", "must be an integer between 7 and 90"},
		{"hourly above 90", map[string]any{"hourlyRetentionDays": 91}, "retentionConfig.hourlyRetentionDays", "must be an integer between 7 and 90"},
		{"daily below 30", map[string]any{"dailyRetentionDays": 29}, "retentionConfig.dailyRetentionDays", "must be an integer between 30 and 1095"},
		{"daily above 1095", map[string]any{"dailyRetentionDays": 1096}, "retentionConfig.dailyRetentionDays", "must be an integer between 30 and 1095"},
		{"not an integer", map[string]any{"dailyRetentionDays": 40.5}, "retentionConfig.dailyRetentionDays", "must be an integer"},
		{"unknown field", map[string]any{"weeklyRetentionDays": 3}, "weeklyRetentionDays", "unknown field"},
	} {
		res := m.Do("PUT", path, map[string]any{"retentionConfig": c.rc})
		p := res.Problem(t)
		found := false
		for _, fe := range p.Errors {
			found = found || (fe.Field == c.field && fe.Message == c.msg)
		}
		if res.Status != http.StatusUnprocessableEntity || !found {
			t.Errorf("%s: %d %s, want 422 with %s: %s", c.name, res.Status, res.Body, c.field, c.msg)
		}
	}
	if rc, _ := e.store.GetRetentionConfig(context.Background(), "ret", id); rc != nil {
		t.Fatalf("a rejected config was stored: %+v", rc)
	}

	res := m.Do("PUT", path, map[string]any{"retentionConfig": map[string]any{"rawRetentionDays": 3}})
	if res.Status != 200 || !strings.Contains(string(res.Body), `{"rawRetentionDays":3,"hourlyRetentionDays":30,"dailyRetentionDays":365}`) {
		t.Fatalf("partial config = %d %s, want the defaults filled", res.Status, res.Body)
	}
	res = api.WithToken(e.tokens[tokRead]).Do("GET", path, nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), `"rawRetentionDays":3`) {
		t.Fatalf("GET = %d %s", res.Status, res.Body)
	}
	res = m.Do("PUT", path, map[string]any{"retentionConfig": nil})
	if res.Status != 200 || strings.TrimSpace(string(res.Body)) != `{"retentionConfig":null}` {
		t.Fatalf("reset = %d %s", res.Status, res.Body)
	}
	if res := m.Do("PUT", path, map[string]any{}); res.Status != 422 {
		t.Fatalf("missing retentionConfig = %d %s", res.Status, res.Body)
	}
	if res := m.Do("PUT", "/api/v1/systems/ret/checks/00000000-0000-0000-0000-000000000000/retention", map[string]any{"retentionConfig": nil}); res.Status != 404 || res.Problem(t).Detail != "Assignment not found" {
		t.Fatalf("unknown assignment = %d %s", res.Status, res.Body)
	}
}

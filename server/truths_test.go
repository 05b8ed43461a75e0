package server

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/server/apitest"
)

// apiEnv is an env served over HTTP with a client validating every answer against the
// OpenAPI document.
func apiEnv(t *testing.T) (*env, *apitest.Client) {
	t.Helper()
	e := newEnv(t)
	hs := e.serve()
	return e, apitest.New(t, hs.URL, hs.Client())
}

type healthOut struct {
	Status        string `json:"status"`
	NoDataYet     bool   `json:"noDataYet"`
	CheckStatuses []struct {
		ConfigurationID string `json:"configurationId"`
		Status          string `json:"status"`
		RunsConsidered  int    `json:"runsConsidered"`
		Paused          bool   `json:"paused"`
		NoDataYet       bool   `json:"noDataYet"`
	} `json:"checkStatuses"`
}

// Bulk health and bulk health state list ids that are no system in unknown (instead of
// reporting them healthy) and keep the reference's shape for the systems that exist.
func TestBulkHealthReportsUnknownIDs(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	e.mustSystem("s")
	e.mustAssign("s", e.mustCheck("c"))
	ids := []string{"nope", "s", "gone"}
	var bh struct {
		Statuses map[string]healthOut `json:"statuses"`
		Unknown  []string             `json:"unknown"`
	}
	res := api.Do("POST", "/api/v1/health:bulk", map[string]any{"systemIds": ids})
	res.Decode(t, &bh)
	if res.Status != 200 || len(bh.Statuses) != 1 || bh.Statuses["s"].Status != "healthy" || !slices.Equal(bh.Unknown, []string{"nope", "gone"}) {
		t.Fatalf("bulk health = %d %s", res.Status, res.Body)
	}
	var bs struct {
		States  map[string]map[string]any `json:"states"`
		Unknown []string                  `json:"unknown"`
	}
	res = api.Do("POST", "/api/v1/health-state:bulk", map[string]any{"systemIds": ids})
	res.Decode(t, &bs)
	if _, ok := bs.States["s"]; res.Status != 200 || !ok || len(bs.States) != 1 || !slices.Equal(bs.Unknown, []string{"nope", "gone"}) {
		t.Fatalf("bulk health state = %d %s", res.Status, res.Body)
	}
	res = api.Do("POST", "/api/v1/health:bulk", map[string]any{"systemIds": []string{"s"}})
	bh.Unknown = nil
	res.Decode(t, &bh)
	if bh.Unknown == nil || len(bh.Unknown) != 0 {
		t.Fatalf("no unknown ids = %s, want unknown []", res.Body)
	}
}

// A system whose checks never ran keeps the reference's healthy status but says noDataYet, per
// system and per check; a run clears it for that check and the system; health state says it
// too. A paused check shows paused in /health.
func TestHealthSaysNoDataYetAndPaused(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	e.mustSystem("s")
	a, b := e.mustCheck("a"), e.mustCheck("b")
	e.mustAssign("s", a)
	e.mustAssign("s", b)
	read := func() healthOut {
		t.Helper()
		var h healthOut
		res := api.Do("GET", "/api/v1/systems/s/health", nil)
		res.Decode(t, &h)
		if res.Status != 200 || len(h.CheckStatuses) != 2 {
			t.Fatalf("health = %d %s", res.Status, res.Body)
		}
		return h
	}
	state := func() bool {
		t.Helper()
		var hs struct {
			NoDataYet bool `json:"noDataYet"`
		}
		res := api.Do("GET", "/api/v1/systems/s/health-state", nil)
		res.Decode(t, &hs)
		if res.Status != 200 {
			t.Fatalf("health state = %d %s", res.Status, res.Body)
		}
		return hs.NoDataYet
	}
	h := read()
	if h.Status != "healthy" || !h.NoDataYet || !h.CheckStatuses[0].NoDataYet || !h.CheckStatuses[1].NoDataYet || h.CheckStatuses[0].RunsConsidered != 0 {
		t.Fatalf("never ran: %+v", h)
	}
	if !state() {
		t.Fatal("health state of a system that never ran: noDataYet false")
	}
	e.mustRun("s", a, 1, health.Healthy)
	h = read()
	byID := map[string]bool{}
	for _, c := range h.CheckStatuses {
		byID[c.ConfigurationID] = c.NoDataYet
	}
	if h.NoDataYet || byID[a] || !byID[b] {
		t.Fatalf("after a run of %s: %+v", a, h)
	}
	if state() {
		t.Fatal("health state after a run: noDataYet true")
	}
	if _, err := e.store.PauseConfiguration(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	for _, c := range read().CheckStatuses {
		if c.Paused != (c.ConfigurationID == b) {
			t.Errorf("check %s paused = %v", c.ConfigurationID, c.Paused)
		}
	}
}

// GET /strategies/{id}/collectors is a 404 problem for an unknown strategy and lists the
// collectors of a known one (short or qualified id).
func TestCollectorsOfUnknownStrategyIs404(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokRead])
	for _, tc := range []struct {
		strategy string
		status   int
	}{
		{"nope", http.StatusNotFound},
		{"healthcheck-ssh", http.StatusNotFound},
		{"http", http.StatusOK},
		{"healthcheck-http.http", http.StatusOK},
	} {
		res := api.Do("GET", "/api/v1/strategies/"+tc.strategy+"/collectors", nil)
		if res.Status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.strategy, res.Status, res.Body, tc.status)
		}
		if tc.status == http.StatusNotFound && !strings.Contains(res.Problem(t).Detail, tc.strategy) {
			t.Errorf("%s: detail %q does not name the strategy", tc.strategy, res.Problem(t).Detail)
		}
	}
}

// A check that would check nothing is rejected with a 422 naming collectors (the http
// strategy needs a request collector with config.url); a collector field sent in the strategy
// config (config.url) is an unknown field whose message says where it belongs.
func TestCheckThatChecksNothingIsRejected(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokManage])
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
		want  []string
	}{
		{"http without collectors", map[string]any{"name": "n", "strategyId": "http", "intervalSeconds": 30},
			"collectors", []string{`"request" collector`, "config.url"}},
		{"http with empty collectors", map[string]any{"name": "n", "strategyId": "healthcheck-http.http", "intervalSeconds": 30, "collectors": []any{}},
			"collectors", []string{`"request" collector`, "config.url"}},
		{"http url in the strategy config", map[string]any{"name": "n", "strategyId": "http", "intervalSeconds": 30, "config": map[string]any{"url": "https://example.com"}},
			"config.url", []string{"unknown field", "collectors[].config.url", `"request"`}},
		{"http method in the strategy config", map[string]any{"name": "n", "strategyId": "http", "intervalSeconds": 30, "config": map[string]any{"method": "GET"},
			"collectors": []any{map[string]any{"collectorId": "request", "config": map[string]any{"url": "https://example.com"}}}},
			"config.method", []string{"unknown field", "collectors[].config.method"}},
		{"dns without lookup", map[string]any{"name": "n", "strategyId": "dns", "intervalSeconds": 30},
			"collectors", []string{`"lookup" collector`, "config.hostname"}},
	} {
		res := api.Do("POST", "/api/v1/checks", tc.body)
		if res.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s, want 422", tc.name, res.Status, res.Body)
			continue
		}
		p := res.Problem(t)
		i := slices.IndexFunc(p.Errors, func(f struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		}) bool {
			return f.Field == tc.field
		})
		if i < 0 {
			t.Errorf("%s: errors %+v do not name %s", tc.name, p.Errors, tc.field)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(p.Errors[i].Message, w) {
				t.Errorf("%s: %s message %q does not say %q", tc.name, tc.field, p.Errors[i].Message, w)
			}
		}
	}
	// A check with its collector is accepted; a PATCH removing every collector is rejected.
	var c struct {
		ID string `json:"id"`
	}
	res := api.Do("POST", "/api/v1/checks", map[string]any{"name": "ok", "strategyId": "http", "intervalSeconds": 30,
		"collectors": []any{map[string]any{"collectorId": "request", "config": map[string]any{"url": "https://example.com"}}}})
	res.Decode(t, &c)
	if res.Status != http.StatusCreated {
		t.Fatalf("valid http check = %d %s", res.Status, res.Body)
	}
	if res := api.Do("PATCH", "/api/v1/checks/"+c.ID, map[string]any{"collectors": nil}); res.Status != http.StatusUnprocessableEntity || res.Problem(t).Errors[0].Field != "collectors" {
		t.Fatalf("PATCH collectors null = %d %s", res.Status, res.Body)
	}
}

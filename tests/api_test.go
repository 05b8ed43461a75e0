package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/server/apitest"
)

type apiHealth struct {
	Status        string `json:"status"`
	HealthyChecks int    `json:"healthyChecks"`
	TotalChecks   int    `json:"totalChecks"`
	CheckStatuses []struct {
		ConfigurationID string `json:"configurationId"`
		Status          string `json:"status"`
		RunsConsidered  int    `json:"runsConsidered"`
	} `json:"checkStatuses"`
}

type apiTransition struct {
	FromStatus *string `json:"fromStatus"`
	ToStatus   string  `json:"toStatus"`
}

type apiEvent struct {
	ID             int64  `json:"id"`
	Type           string `json:"type"`
	IdempotencyKey string `json:"idempotencyKey"`
}

type apiRun struct {
	Run struct {
		ID         string    `json:"id"`
		Status     string    `json:"status"`
		ExecutedAt time.Time `json:"executedAt"`
	} `json:"run"`
	View *struct {
		Status string `json:"status"`
	} `json:"view"`
	Duplicate bool `json:"duplicate"`
}

func expectStatus(t *testing.T, res *apitest.Response, status int) *apitest.Response {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	return res
}

// TestAPIEndToEnd (issue 7, acceptance 1 and 3): over real HTTP against the real stack —
// embedded Temporal, PostgreSQL, the worker and a local HTTP target — create a system and two
// checks and assign both: runs appear and /health is healthy 2/2; the target answers 500:
// /health goes degraded, then unhealthy; /transitions lists both transitions; /events lists each
// trigger event once; run-now twice with one Idempotency-Key makes one run. Every response is
// validated against /api/v1/openapi.json.
func TestAPIEndToEnd(t *testing.T) {
	t.Parallel()
	a := newAPIStack(t)
	api := a.admin
	tg := newTarget(t)
	sys := apiSystemID(t, "shop")

	expectStatus(t, api.Do("POST", "/api/v1/systems", map[string]any{"id": sys, "name": "Shop", "labels": map[string]string{"team": "web"}}), 201)
	var checkIDs []string
	for _, name := range []string{"home page", "api"} {
		res := expectStatus(t, api.Do("POST", "/api/v1/checks", map[string]any{
			"name": name, "strategyId": "healthcheck-http.http", "intervalSeconds": 1,
			"config": map[string]any{"timeout": 2000},
			"collectors": []any{map[string]any{"collectorId": "request",
				"config": map[string]any{"url": tg.srv.URL + "/" + url.PathEscape(name), "method": "GET", "timeout": 1000}}},
		}), 201)
		var c struct {
			ID string `json:"id"`
		}
		res.Decode(t, &c)
		checkIDs = append(checkIDs, c.ID)
	}
	for _, id := range checkIDs {
		expectStatus(t, api.Do("PUT", "/api/v1/systems/"+sys+"/checks/"+id, map[string]any{"enabled": true}), 201)
	}

	health := func() apiHealth {
		var h apiHealth
		expectStatus(t, a.anon.Do("GET", "/api/v1/systems/"+sys+"/health", nil), 200).Decode(t, &h)
		return h
	}
	// Runs appear for both checks and the system is healthy 2/2.
	waitFor(t, 30*time.Second, "runs of both checks and healthy 2/2", func() (bool, error) {
		for _, id := range checkIDs {
			var page struct {
				Total int `json:"total"`
			}
			expectStatus(t, a.anon.Do("GET", "/api/v1/runs?systemId="+sys+"&checkId="+id, nil), 200).Decode(t, &page)
			if page.Total == 0 {
				return false, nil
			}
		}
		h := health()
		return h.Status == "healthy" && h.HealthyChecks == 2 && h.TotalChecks == 2 && len(h.CheckStatuses) == 2 &&
			h.CheckStatuses[0].RunsConsidered > 0 && h.CheckStatuses[1].RunsConsidered > 0, nil
	})

	// The target fails: degraded (2 failures each), then unhealthy (5).
	tg.code.Store(http.StatusInternalServerError)
	sawDegraded := false
	waitFor(t, 30*time.Second, "unhealthy after degraded", func() (bool, error) {
		h := health()
		switch h.Status {
		case "degraded":
			sawDegraded = true
		case "unhealthy":
			return true, nil
		}
		return false, nil
	})
	if h := health(); !sawDegraded || h.HealthyChecks != 0 || h.TotalChecks != 2 {
		t.Fatalf("saw degraded: %v; final health %+v", sawDegraded, h)
	}
	// The system turns unhealthy with the first check's fifth failure; the other check may be
	// one run behind. Wait for both so that each has at least five failed runs applied.
	waitFor(t, 30*time.Second, "both checks unhealthy", func() (bool, error) {
		h := health()
		n := 0
		for _, c := range h.CheckStatuses {
			if c.Status == "unhealthy" {
				n++
			}
		}
		return n == 2, nil
	})

	// Transitions, newest first: healthy → degraded → unhealthy.
	var tr struct {
		Transitions []apiTransition `json:"transitions"`
	}
	expectStatus(t, a.anon.Do("GET", "/api/v1/systems/"+sys+"/transitions", nil), 200).Decode(t, &tr)
	var got []string
	for i := len(tr.Transitions) - 1; i >= 0; i-- {
		from := "null"
		if tr.Transitions[i].FromStatus != nil {
			from = *tr.Transitions[i].FromStatus
		}
		got = append(got, from+"→"+tr.Transitions[i].ToStatus)
	}
	if fmt.Sprint(got) != "[healthy→degraded degraded→unhealthy]" {
		t.Fatalf("transitions = %v", got)
	}

	// Each trigger event exactly once: one system_degraded, two system_health_changed, no
	// system_healthy; every event has its own idempotency key.
	var ev struct {
		Events []apiEvent `json:"events"`
	}
	expectStatus(t, api.Do("GET", "/api/v1/events?systemId="+sys+"&limit=500", nil), 200).Decode(t, &ev)
	byType := map[string]int{}
	keys := map[string]bool{}
	for _, e := range ev.Events {
		byType[e.Type]++
		if keys[e.IdempotencyKey] {
			t.Errorf("event key %s listed twice", e.IdempotencyKey)
		}
		keys[e.IdempotencyKey] = true
	}
	if byType["healthcheck.system_degraded"] != 1 || byType["healthcheck.system_health_changed"] != 2 || byType["healthcheck.system_healthy"] != 0 {
		t.Fatalf("trigger events by type: %v", byType)
	}
	if byType["healthcheck.check_failed"] < 10 {
		t.Errorf("check_failed events = %d, want one per failed run (≥ 10)", byType["healthcheck.check_failed"])
	}
	var degradedOnly struct {
		Events []apiEvent `json:"events"`
	}
	expectStatus(t, api.Do("GET", "/api/v1/events?systemId="+sys+"&type=healthcheck.system_degraded", nil), 200).Decode(t, &degradedOnly)
	if len(degradedOnly.Events) != 1 {
		t.Fatalf("type filter: %+v", degradedOnly.Events)
	}

	// Run now, twice with the same Idempotency-Key: one run.
	key := "e2e-" + sys
	runPath := "/api/v1/systems/" + sys + "/checks/" + checkIDs[0] + "/run"
	var first, second apiRun
	expectStatus(t, api.Do("POST", runPath, nil, "Idempotency-Key", key), 200).Decode(t, &first)
	expectStatus(t, api.Do("POST", runPath, map[string]any{}, "Idempotency-Key", key), 200).Decode(t, &second)
	wantID := sys + ":run:" + key
	if first.Run.ID != wantID || second.Run.ID != wantID || !first.Run.ExecutedAt.Equal(second.Run.ExecutedAt) || first.Run.Status != "unhealthy" || first.View == nil {
		t.Fatalf("runs: %+v / %+v", first, second)
	}
	if first.Duplicate || !second.Duplicate {
		t.Fatalf("duplicate: %v then %v, want false then true", first.Duplicate, second.Duplicate)
	}
	if n := a.count(t, `SELECT count(*) FROM health_check_runs WHERE id = $1`, wantID); n != 1 {
		t.Fatalf("%d runs stored for one Idempotency-Key", n)
	}
	expectStatus(t, api.Do("GET", "/api/v1/runs/"+url.PathEscape(wantID), nil), 200)

	// The remaining reads answer and match the document.
	from, to := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/systems/" + sys + "/health/overview", nil},
		{"GET", "/api/v1/systems/" + sys + "/health-state?transitionWindowMinutes=30", nil},
		{"GET", "/api/v1/systems/" + sys + "/health-state?configurationId=" + checkIDs[1], nil},

		{"POST", "/api/v1/health-state:bulk", map[string]any{"systemIds": []string{sys}}},
		{"GET", "/api/v1/systems/" + sys + "/checks/" + checkIDs[0] + "/aggregated-history?targetPoints=10&startDate=" + from + "&endDate=" + to, nil},
		{"GET", "/api/v1/systems/" + sys + "/checks/" + checkIDs[0] + "/aggregated-history?detailed=true&startDate=" + from + "&endDate=" + to, nil},
		{"GET", "/api/v1/runs/detailed?systemId=" + sys + "&status=unhealthy&limit=5", nil},
		{"GET", "/api/v1/systems/" + sys + "/checks", nil},
		{"GET", "/api/v1/checks?limit=10", nil},
		{"GET", "/api/v1/strategies", nil},
	} {
		expectStatus(t, api.Do(r.method, r.path, r.body), 200)
	}
	// Bulk health: the system in statuses, an id that is no system in unknown.
	var bulk struct {
		Statuses map[string]apiHealth `json:"statuses"`
		Unknown  []string             `json:"unknown"`
	}
	expectStatus(t, a.anon.Do("POST", "/api/v1/health:bulk", map[string]any{"systemIds": []string{sys, "unknown-system"}}), 200).Decode(t, &bulk)
	if got, ok := bulk.Statuses[sys]; !ok || got.Status != "unhealthy" || len(bulk.Statuses) != 1 || fmt.Sprint(bulk.Unknown) != "[unknown-system]" {
		t.Errorf("bulk health = %+v", bulk)
	}
	var hs struct {
		Status              string `json:"status"`
		InStatusSince       *time.Time
		TransitionsInWindow int `json:"transitionsInWindow"`
	}
	expectStatus(t, a.anon.Do("GET", "/api/v1/systems/"+sys+"/health-state", nil), 200).Decode(t, &hs)
	if hs.Status != "unhealthy" || hs.TransitionsInWindow != 2 {
		t.Errorf("health state = %+v", hs)
	}

	// Pausing a check goes through the entity (config-changed) and removing both assignments
	// ends the system's view; the API keeps answering from PostgreSQL.
	expectStatus(t, api.Do("POST", "/api/v1/checks/"+checkIDs[1]+"/pause", nil), 200)
	for _, id := range checkIDs {
		expectStatus(t, api.Do("DELETE", "/api/v1/systems/"+sys+"/checks/"+id, nil), 204)
	}
	waitFor(t, 30*time.Second, "the view to be cleared", func() (bool, error) {
		h := health()
		return h.TotalChecks == 0 && len(h.CheckStatuses) == 0, nil
	})
	if n := api.Validated(); n < 30 {
		t.Fatalf("only %d responses were validated against the OpenAPI document", n)
	}
}

// TestAPIRunRightAfterAssigning: run-now of a check the database says is enabled but the
// running entity has not loaded (its config-changed signal is still queued, or was lost)
// succeeds: the API signals the entity again and waits for it to admit the run.
func TestAPIRunRightAfterAssigning(t *testing.T) {
	t.Parallel()
	a := newAPIStack(t)
	api := a.admin
	tg := newTarget(t)
	sys := apiSystemID(t, "late")
	expectStatus(t, api.Do("POST", "/api/v1/systems", map[string]any{"id": sys, "name": "Late"}), 201)
	newCheck := func(name string, interval int) string {
		var c struct {
			ID string `json:"id"`
		}
		expectStatus(t, api.Do("POST", "/api/v1/checks", map[string]any{
			"name": name, "strategyId": "http", "intervalSeconds": interval,
			"collectors": []any{map[string]any{"collectorId": "request", "config": map[string]any{"url": tg.srv.URL, "timeout": 1000}}},
		}), 201).Decode(t, &c)
		return c.ID
	}
	first, second := newCheck("first", 1), newCheck("second", 3600)
	expectStatus(t, api.Do("PUT", "/api/v1/systems/"+sys+"/checks/"+first, nil), 201)
	waitFor(t, 30*time.Second, "the entity to run the first check", func() (bool, error) {
		return a.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1`, sys) > 0, nil
	})
	// Assigned behind the API's back (a lost signal): the entity does not know the check yet.
	on := true
	if _, _, err := a.store.Associate(context.Background(), store.AssociateInput{SystemID: sys, ConfigurationID: second, Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	var out apiRun
	expectStatus(t, api.Do("POST", "/api/v1/systems/"+sys+"/checks/"+second+"/run", nil, "Idempotency-Key", "right-after"), 200).Decode(t, &out)
	if out.Run.ID != sys+":run:right-after" || out.Run.Status != "healthy" || out.View == nil {
		t.Fatalf("run = %+v", out)
	}
	// A check of another system is not this system's: 404 before anything reaches Temporal.
	res := api.Do("POST", "/api/v1/systems/"+sys+"/checks/00000000-0000-0000-0000-000000000000/run", nil)
	if res.Status != 404 {
		t.Fatalf("unknown check: %d %s", res.Status, res.Body)
	}
}

// TestAPIRunNowStartsTheEntity (issue 17, defect 6): run-now of a system whose entity is not
// running starts it with Update-with-Start and answers the run. The new entity loads its state
// before it registers its update handler, so the first attempt can be rejected as "unknown
// update run-check"; the entity client sends it again instead of answering 503. Concurrent
// identical requests on the cold entity get the same run, one of them as the original.
func TestAPIRunNowStartsTheEntity(t *testing.T) {
	t.Parallel()
	a := newAPIStack(t)
	tg := newTarget(t)
	sys := apiSystemID(t, "cold")
	if _, err := a.store.CreateSystem(context.Background(), store.SystemInput{ID: sys, Name: "Cold"}); err != nil {
		t.Fatal(err)
	}
	// Assigned through the store: nothing signals (or starts) the entity.
	check := a.httpCheck(t, sys, "cold check", tg.srv.URL, 3600, nil)
	type answer struct {
		status int
		run    apiRun
	}
	answers := make(chan answer, 3)
	for range 3 {
		go func() {
			res := a.admin.Do("POST", "/api/v1/systems/"+sys+"/checks/"+check+"/run", nil, "Idempotency-Key", "cold-start")
			var out apiRun
			_ = json.Unmarshal(res.Body, &out) // a non-200 answer fails below
			answers <- answer{res.Status, out}
		}()
	}
	originals := 0
	for range 3 {
		got := <-answers
		if got.status != 200 || got.run.Run.ID != sys+":run:cold-start" || got.run.Run.Status != "healthy" {
			t.Fatalf("run-now on a cold entity = %d %+v", got.status, got.run)
		}
		if !got.run.Duplicate {
			originals++
		}
	}
	if originals != 1 {
		t.Errorf("%d answers say duplicate false, want 1", originals)
	}
	if n := a.count(t, `SELECT count(*) FROM health_check_runs WHERE id = $1`, sys+":run:cold-start"); n != 1 {
		t.Fatalf("%d runs stored", n)
	}
}

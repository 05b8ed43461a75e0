package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/store"
)

type maintenanceOutT struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	SystemIDs   []string   `json:"systemIds"`
	StartsAt    time.Time  `json:"startsAt"`
	EndsAt      time.Time  `json:"endsAt"`
	State       string     `json:"state"`
	StartedAt   *time.Time `json:"startedAt"`
	EndedAt     *time.Time `json:"endedAt"`
}

func rfc(t time.Time) string { return t.Format(time.RFC3339) }

// Maintenance CRUD: the state follows the server clock, filters by system and state work, and
// every committed create, update and delete signals the window's workflow (and nothing else).
func TestMaintenanceCRUDSignalsTheWindow(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokManage])
	e.mustSystem("shop")
	e.mustSystem("db")
	signals := func() []string { return e.entities.maintenanceSignalled() }

	create := func(body map[string]any) maintenanceOutT {
		t.Helper()
		n := len(signals())
		res := api.Do("POST", "/api/v1/maintenances", body)
		var w maintenanceOutT
		res.Decode(t, &w)
		if res.Status != 201 || w.ID == "" {
			t.Fatalf("create = %d %s", res.Status, res.Body)
		}
		if got := signals()[n:]; !slices.Equal(got, []string{w.ID}) {
			t.Fatalf("create signalled %v, want [%s]", got, w.ID)
		}
		return w
	}
	active := create(map[string]any{"title": "db upgrade", "description": "pg 18", "systemIds": []string{"shop", "db"},
		"startsAt": rfc(t0.Add(-time.Hour)), "endsAt": rfc(t0.Add(time.Hour))})
	if active.State != "active" || active.Description != "pg 18" || !slices.Equal(active.SystemIDs, []string{"shop", "db"}) ||
		!active.StartsAt.Equal(t0.Add(-time.Hour)) || active.StartedAt != nil || active.EndedAt != nil {
		t.Fatalf("active window = %+v", active)
	}
	scheduled := create(map[string]any{"title": "network", "systemIds": []string{"db"},
		"startsAt": rfc(t0.Add(24 * time.Hour)), "endsAt": rfc(t0.Add(26 * time.Hour))})
	if scheduled.State != "scheduled" || scheduled.Description != "" {
		t.Fatalf("scheduled window = %+v", scheduled)
	}
	// A window in the past can only come from the store (the API refuses it).
	ended, err := e.store.CreateMaintenance(context.Background(), store.MaintenanceInput{Title: "old", SystemIDs: []string{"shop"},
		StartsAt: t0.Add(-48 * time.Hour), EndsAt: t0.Add(-47 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	res := api.Do("GET", "/api/v1/maintenances/"+ended.ID, nil)
	var got maintenanceOutT
	res.Decode(t, &got)
	if res.Status != 200 || got.State != "ended" {
		t.Fatalf("ended window = %d %s", res.Status, res.Body)
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{scheduled.ID, active.ID, ended.ID}},
		{"state=active", []string{active.ID}},
		{"state=scheduled", []string{scheduled.ID}},
		{"state=ended", []string{ended.ID}},
		{"systemId=shop", []string{active.ID, ended.ID}},
		{"systemId=db&state=scheduled", []string{scheduled.ID}},
		{"limit=1&offset=1", []string{active.ID}},
	} {
		res := api.Do("GET", "/api/v1/maintenances?"+c.query, nil)
		var list struct {
			Items []maintenanceOutT `json:"items"`
		}
		res.Decode(t, &list)
		var ids []string
		for _, w := range list.Items {
			ids = append(ids, w.ID)
		}
		if res.Status != 200 || !slices.Equal(ids, c.want) {
			t.Errorf("maintenances?%s = %v, want %v (%s)", c.query, ids, c.want, res.Body)
		}
	}
	if res := api.Do("GET", "/api/v1/maintenances?state=later", nil); res.Status != 422 || res.Problem(t).Errors[0].Field != "state" {
		t.Errorf("bad state filter = %d %s", res.Status, res.Body)
	}

	// Update: partial, merged, signalled.
	n := len(signals())
	res = api.Do("PATCH", "/api/v1/maintenances/"+scheduled.ID, map[string]any{"title": "network (moved)", "startsAt": rfc(t0.Add(-time.Minute))})
	res.Decode(t, &got)
	if res.Status != 200 || got.Title != "network (moved)" || got.State != "active" || !got.EndsAt.Equal(t0.Add(26*time.Hour)) || !slices.Equal(got.SystemIDs, []string{"db"}) {
		t.Fatalf("patch = %d %s", res.Status, res.Body)
	}
	if s := signals()[n:]; !slices.Equal(s, []string{scheduled.ID}) {
		t.Fatalf("patch signalled %v", s)
	}
	// A rejected patch changes and signals nothing.
	n = len(signals())
	res = api.Do("PATCH", "/api/v1/maintenances/"+scheduled.ID, map[string]any{"endsAt": rfc(t0.Add(-2 * time.Minute))})
	if res.Status != 422 || res.Problem(t).Errors[0].Field != "endsAt" || len(signals()) != n {
		t.Fatalf("patch ending before the start = %d %s (signals %v)", res.Status, res.Body, signals()[n:])
	}

	// Delete: signalled (the workflow reloads and finds the window gone), then 404.
	n = len(signals())
	if res := api.Do("DELETE", "/api/v1/maintenances/"+active.ID, nil); res.Status != 204 {
		t.Fatalf("delete = %d %s", res.Status, res.Body)
	}
	if s := signals()[n:]; !slices.Equal(s, []string{active.ID}) {
		t.Fatalf("delete signalled %v", s)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/maintenances/" + active.ID},
		{"DELETE", "/api/v1/maintenances/" + active.ID},
		{"PATCH", "/api/v1/maintenances/" + active.ID},
		{"GET", "/api/v1/maintenances/not-a-uuid"},
	} {
		var body any
		if r.method == "PATCH" {
			body = map[string]any{"title": "x"}
		}
		if res := api.Do(r.method, r.path, body); res.Status != 404 {
			t.Errorf("%s %s = %d %s", r.method, r.path, res.Status, res.Body)
		}
	}
	if len(e.entities.signalled()) != 0 {
		t.Fatalf("maintenance writes signalled system entities: %v", e.entities.signalled())
	}
}

// Invalid windows are 422 problems naming the field; nothing is stored or signalled.
func TestMaintenanceValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("shop")
	e.mustSystem("db")
	ok := func(extra map[string]any) map[string]any {
		b := map[string]any{"title": "t", "systemIds": []string{"shop"}, "startsAt": rfc(t0), "endsAt": rfc(t0.Add(time.Hour))}
		for k, v := range extra {
			if v == nil {
				delete(b, k)
				continue
			}
			b[k] = v
		}
		return b
	}
	w, err := e.store.CreateMaintenance(context.Background(), store.MaintenanceInput{Title: "w", SystemIDs: []string{"shop"}, StartsAt: t0, EndsAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	many := make([]string, 1001)
	for i := range many {
		many[i] = "shop"
	}
	for _, c := range []struct {
		name, method string
		body         any
		field        string
	}{
		{"missing title", "POST", ok(map[string]any{"title": nil}), "title"},
		{"blank title", "POST", ok(map[string]any{"title": " "}), "title"},
		{"long title", "POST", ok(map[string]any{"title": strings.Repeat("x", 201)}), "title"},
		{"long description", "POST", ok(map[string]any{"description": strings.Repeat("x", 4001)}), "description"},
		{"missing systemIds", "POST", ok(map[string]any{"systemIds": nil}), "systemIds"},
		{"no systems", "POST", ok(map[string]any{"systemIds": []string{}}), "systemIds"},
		{"too many systems", "POST", ok(map[string]any{"systemIds": many}), "systemIds"},
		{"unknown system", "POST", ok(map[string]any{"systemIds": []string{"shop", "nope"}}), "systemIds[1]"},
		{"repeated system", "POST", ok(map[string]any{"systemIds": []string{"db", "db"}}), "systemIds[1]"},
		{"missing startsAt", "POST", ok(map[string]any{"startsAt": nil}), "startsAt"},
		{"bad startsAt", "POST", ok(map[string]any{"startsAt": "tomorrow"}), "startsAt"},
		{"missing endsAt", "POST", ok(map[string]any{"endsAt": nil}), "endsAt"},
		{"endsAt before startsAt", "POST", ok(map[string]any{"endsAt": rfc(t0.Add(-time.Minute)), "startsAt": rfc(t0)}), "endsAt"},
		{"endsAt equal startsAt", "POST", ok(map[string]any{"endsAt": rfc(t0.Add(time.Hour)), "startsAt": rfc(t0.Add(time.Hour))}), "endsAt"},
		{"endsAt in the past", "POST", ok(map[string]any{"startsAt": rfc(t0.Add(-2 * time.Hour)), "endsAt": rfc(t0.Add(-time.Hour))}), "endsAt"},
		{"endsAt now", "POST", ok(map[string]any{"startsAt": rfc(t0.Add(-2 * time.Hour)), "endsAt": rfc(t0)}), "endsAt"},
		{"unknown field", "POST", ok(map[string]any{"recurring": true}), "recurring"},
		{"patch null title", "PATCH", map[string]any{"title": nil}, "title"},
		{"patch endsAt before start", "PATCH", map[string]any{"endsAt": rfc(t0.Add(-time.Hour))}, "endsAt"},
		{"patch startsAt after end", "PATCH", map[string]any{"startsAt": rfc(t0.Add(2 * time.Hour))}, "endsAt"},
		{"patch unknown system", "PATCH", map[string]any{"systemIds": []string{"nope"}}, "systemIds[0]"},
		{"patch empty systems", "PATCH", map[string]any{"systemIds": []string{}}, "systemIds"},
		{"patch bad endsAt", "PATCH", map[string]any{"endsAt": "2026-13-01T00:00:00Z"}, "endsAt"},
	} {
		path := "/api/v1/maintenances"
		if c.method == "PATCH" {
			path += "/" + w.ID
		}
		res := e.do(c.method, path, tokManage, c.body)
		if res.status != 422 || res.header.Get("Content-Type") != problemContentType {
			t.Errorf("%s: %s, want a 422 problem", c.name, res)
			continue
		}
		if p := res.problem(t); p.Type != ProblemValidation || !slices.ContainsFunc(p.Errors, func(f FieldError) bool { return f.Field == c.field }) {
			t.Errorf("%s: errors %+v do not name %s", c.name, p.Errors, c.field)
		}
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM maintenance_windows`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d windows stored (%v), want 1", n, err)
	}
	if got := e.entities.maintenanceSignalled(); len(got) != 0 {
		t.Fatalf("rejected requests signalled %v", got)
	}
}

// A write whose signal fails is saved and answered 503 entity-unreachable saying so (with
// Retry-After); repeating the update signals again.
func TestMaintenanceSignalFailureIs503AfterCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("shop")
	e.entities.setFail(true)
	res := e.do("POST", "/api/v1/maintenances", tokManage, map[string]any{"title": "saved anyway", "systemIds": []string{"shop"},
		"startsAt": rfc(t0), "endsAt": rfc(t0.Add(time.Hour))})
	if p := res.problem(t); res.status != 503 || p.Type != ProblemEntityUnreachable || !strings.Contains(p.Detail, "saved") || res.header.Get("Retry-After") == "" {
		t.Fatalf("create with Temporal down = %s", res)
	}
	list, err := e.store.ListMaintenances(context.Background(), store.MaintenanceFilter{At: t0})
	if err != nil || len(list) != 1 || list[0].Title != "saved anyway" {
		t.Fatalf("the window was not committed before the signal: %+v (%v)", list, err)
	}
	id := list[0].ID
	res = e.do("DELETE", "/api/v1/maintenances/"+id, tokManage, nil)
	if p := res.problem(t); res.status != 503 || p.Type != ProblemEntityUnreachable || !strings.Contains(p.Detail, "deleted") {
		t.Fatalf("delete with Temporal down = %s", res)
	}
	if _, err := e.store.GetMaintenance(context.Background(), id); err == nil {
		t.Fatal("the window survived its delete")
	}
	// Without any Temporal client, writes are saved and answered the same way.
	e.srv = New(Config{Pool: e.pool}, WithClock(func() time.Time { return t0 }))
	res = e.do("POST", "/api/v1/maintenances", tokManage, map[string]any{"title": "no temporal", "systemIds": []string{"shop"},
		"startsAt": rfc(t0), "endsAt": rfc(t0.Add(time.Hour))})
	if p := res.problem(t); res.status != 503 || p.Type != ProblemEntityUnreachable || !strings.Contains(p.Detail, "saved") {
		t.Fatalf("create without Temporal = %s", res)
	}
	e.entities.setFail(false)
	if got := e.entities.maintenanceSignalled(); len(got) != 0 {
		t.Fatalf("failed signals were recorded: %v", got)
	}
}

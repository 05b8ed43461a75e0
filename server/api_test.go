package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
)

// Secrets (x-secret fields) never appear in API output or logs; "****" sent back keeps the
// stored value; a mask with nothing stored is rejected.
func TestSecretsAreMaskedAndKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	logs := &testutil.LockedBuffer{}
	box := testutil.SecretBox(t)
	e.srv = New(Config{Pool: e.pool, Entities: e.entities, SecretBox: box, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	const secret = "s3cr3t-PASSWORD"
	create := map[string]any{"name": "db", "strategyId": "postgres", "intervalSeconds": 30,
		"config": map[string]any{"host": "db.internal", "port": 5432, "database": "app", "user": "mon", "password": secret}}
	res := e.do("POST", "/api/v1/checks", tokManage, create)
	if res.status != 201 || bytes.Contains(res.body, []byte(secret)) || !bytes.Contains(res.body, []byte(`"password":"****"`)) {
		t.Fatalf("create = %s", res)
	}
	var c struct {
		ID string `json:"id"`
	}
	res.decode(t, &c)
	// Stored sealed: the database never holds the password in plain text; the key opens it.
	stored := func() string {
		cfg, err := e.store.GetConfiguration(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(cfg.Config), secret) || strings.Contains(string(cfg.Config), "rotated-pass") || !strings.Contains(string(cfg.Config), secretbox.Prefix) {
			t.Fatalf("stored config is not sealed: %s", cfg.Config)
		}
		opened, err := box.OpenJSON(cfg.Config)
		if err != nil {
			t.Fatal(err)
		}
		return string(opened)
	}
	if !strings.Contains(stored(), secret) {
		t.Fatalf("stored config lost the password: %s", stored())
	}
	for _, path := range []string{"/api/v1/checks/" + c.ID, "/api/v1/checks"} {
		if res := e.do("GET", path, tokRead, nil); res.status != 200 || bytes.Contains(res.body, []byte(secret)) || !bytes.Contains(res.body, []byte(`"****"`)) {
			t.Errorf("GET %s = %s", path, res)
		}
	}
	// The masked config comes back unchanged with a new port: the password is kept.
	patch := map[string]any{"config": map[string]any{"host": "db.internal", "port": 5433, "database": "app", "user": "mon", "password": "****"}}
	if res := e.do("PATCH", "/api/v1/checks/"+c.ID, tokManage, patch); res.status != 200 || bytes.Contains(res.body, []byte(secret)) {
		t.Fatalf("patch = %s", res)
	}
	if s := stored(); !strings.Contains(s, secret) || !strings.Contains(s, "5433") {
		t.Fatalf("after patch with ****: %s", s)
	}
	// A new password replaces it.
	patch["config"].(map[string]any)["password"] = "rotated-pass"
	if res := e.do("PATCH", "/api/v1/checks/"+c.ID, tokManage, patch); res.status != 200 {
		t.Fatalf("patch = %s", res)
	}
	if s := stored(); strings.Contains(s, secret) || !strings.Contains(s, "rotated-pass") {
		t.Fatalf("after rotating: %s", s)
	}
	// "****" with nothing stored is an error, on create and on patch.
	create["config"].(map[string]any)["password"] = "****"
	if res := e.do("POST", "/api/v1/checks", tokManage, create); res.status != 422 || res.problem(t).Errors[0].Field != "config.password" {
		t.Fatalf("create with **** = %s", res)
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), "rotated-pass") {
		t.Fatalf("a secret reached the logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "route=/api/v1/checks") {
		t.Fatalf("the access log did not run:\n%s", logs.String())
	}
}

// Writes signal every affected system's entity after committing; reads signal nothing; a
// failed signal is a 503 that says the change was saved.
func TestWritesSignalAffectedEntities(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("a")
	e.mustSystem("b")
	e.mustSystem("c")
	id := e.mustCheck("shared")
	e.mustAssign("a", id)
	e.mustAssign("b", id)
	step := func(what, method, path string, body any, wantStatus int, want ...string) {
		t.Helper()
		n := len(e.entities.signalled())
		if res := e.do(method, path, tokManage, body); res.status != wantStatus {
			t.Fatalf("%s = %s", what, res)
		}
		got := e.entities.signalled()[n:]
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s signalled %v, want %v", what, got, want)
		}
	}
	step("patch check", "PATCH", "/api/v1/checks/"+id, map[string]any{"intervalSeconds": 15}, 200, "a", "b")
	step("pause", "POST", "/api/v1/checks/"+id+"/pause", nil, 200, "a", "b")
	step("resume", "POST", "/api/v1/checks/"+id+"/resume", nil, 200, "a", "b")
	step("associate", "PUT", "/api/v1/systems/c/checks/"+id, map[string]any{"stateThresholds": map[string]any{"mode": "consecutive", "degraded": map[string]any{"minFailureCount": 3}}}, 201, "c")
	step("re-associate", "PUT", "/api/v1/systems/c/checks/"+id, map[string]any{"enabled": false}, 200, "c")
	step("rename system", "PATCH", "/api/v1/systems/c", map[string]any{"name": "C"}, 200, "c")
	step("disassociate", "DELETE", "/api/v1/systems/c/checks/"+id, nil, 204, "c")
	step("retention", "PUT", "/api/v1/systems/a/checks/"+id+"/retention", map[string]any{"retentionConfig": nil}, 200)
	step("flap detection", "PUT", "/api/v1/systems/a/flap-detection", map[string]any{"flapDetection": map[string]any{"startPercent": 40, "stopPercent": 20}}, 200, "a")
	step("bad flap detection", "PUT", "/api/v1/systems/a/flap-detection", map[string]any{"flapDetection": map[string]any{"startPercent": 20, "stopPercent": 40}}, 422)
	step("create check", "POST", "/api/v1/checks", map[string]any{"name": "n", "strategyId": "tcp", "intervalSeconds": 9, "config": map[string]any{"host": "h", "port": 1}}, 201)
	step("read", "GET", "/api/v1/systems/a/health", nil, 200)
	step("defaults", "PUT", "/api/v1/settings/notification-defaults", map[string]any{"suppressDeEscalations": true}, 200, "a", "b")
	step("delete check", "DELETE", "/api/v1/checks/"+id, nil, 204, "a", "b")
	step("delete system", "DELETE", "/api/v1/systems/b", nil, 204, "b")

	e.entities.mu.Lock()
	e.entities.fail = true
	e.entities.mu.Unlock()
	res := e.do("PATCH", "/api/v1/systems/a", tokManage, map[string]any{"description": "saved anyway"})
	if p := res.problem(t); res.status != 503 || p.Type != ProblemEntityUnreachable || !strings.Contains(p.Detail, "saved") {
		t.Fatalf("failed signal = %s", res)
	}
	if sys, _ := e.store.GetSystem(context.Background(), "a"); sys.Description != "saved anyway" {
		t.Fatalf("the write was not committed before the signal: %+v", sys)
	}
}

// Run-now: 404 for a check not assigned, 409 for a disabled assignment or a paused check
// (unless force), the Idempotency-Key is the update id (generated and echoed when absent).
func TestRunNowChecksTheAssignmentFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("s")
	id := e.mustCheck("c")
	run := "/api/v1/systems/s/checks/" + id + "/run"
	if res := e.do("POST", run, tokManage, nil); res.status != 404 || !strings.Contains(res.problem(t).Detail, "not assigned") {
		t.Fatalf("unassigned = %s", res)
	}
	e.mustAssign("s", id)
	res := e.do("POST", run, tokManage, nil, "Idempotency-Key", "key-1")
	var out runResponse
	res.decode(t, &out)
	if res.status != 200 || out.Run.ID != "s:run:key-1" || out.View == nil || res.header.Get("Idempotency-Key") != "key-1" {
		t.Fatalf("run = %s", res)
	}
	res = e.do("POST", run, tokManage, nil)
	if key := res.header.Get("Idempotency-Key"); res.status != 200 || len(key) != 36 {
		t.Fatalf("run without key = %s (key %q)", res, key)
	}
	for _, bad := range []string{strings.Repeat("k", 201), "with space"} {
		if res := e.do("POST", run, tokManage, nil, "Idempotency-Key", bad); res.status != 422 {
			t.Errorf("key %q = %s", bad, res)
		}
	}
	if _, err := e.store.PauseConfiguration(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if res := e.do("POST", run, tokManage, nil); res.status != 409 || !strings.Contains(res.problem(t).Detail, "paused") {
		t.Fatalf("paused = %s", res)
	}
	if res := e.do("POST", run, tokManage, map[string]any{"force": true}); res.status != 200 {
		t.Fatalf("paused with force = %s", res)
	}
	if _, err := e.store.SetAssignmentEnabled(context.Background(), "s", id, false); err != nil {
		t.Fatal(err)
	}
	if res := e.do("POST", run, tokManage, map[string]any{"force": true}); res.status != 409 || !strings.Contains(res.problem(t).Detail, "disabled") {
		t.Fatalf("disabled = %s", res)
	}
	if got := len(e.entities.runs); got != 3 {
		t.Fatalf("entity runs = %d, want 3 (refused runs never reach the entity)", got)
	}
}

// Health reads the entity-written state; a system with enabled checks and no state row yet is
// the baseline {healthy, N, N}; a system without enabled checks is healthy with none.
func TestHealthBaselineAndStoredView(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("s")
	a, b := e.mustCheck("a"), e.mustCheck("b")
	e.mustAssign("s", a)
	e.mustAssign("s", b)
	var h systemHealthDTO
	res := e.do("GET", "/api/v1/systems/s/health", tokNone, nil)
	res.decode(t, &h)
	if res.status != 200 || h.Status != "healthy" || h.HealthyChecks != 2 || h.TotalChecks != 2 || len(h.CheckStatuses) != 2 {
		t.Fatalf("baseline = %s", res)
	}
	e.mustRun("s", a, 1, "unhealthy") // the entity wrote {unhealthy, 0, 1}
	res = e.do("GET", "/api/v1/systems/s/health", tokNone, nil)
	res.decode(t, &h)
	if h.Status != "unhealthy" || h.HealthyChecks != 0 || h.TotalChecks != 1 {
		t.Fatalf("stored view = %s", res)
	}
	e.mustSystem("empty")
	res = e.do("GET", "/api/v1/systems/empty/health", tokNone, nil)
	res.decode(t, &h)
	if h.Status != "healthy" || h.TotalChecks != 0 || h.CheckStatuses == nil {
		t.Fatalf("no checks = %s", res)
	}
	if res := e.do("GET", "/api/v1/systems/nope/health", tokNone, nil); res.status != 404 {
		t.Fatalf("unknown system = %s", res)
	}
}

// Request hygiene: unknown fields and parameters are named, malformed JSON is a 400, the body
// limit is a 413, other media types a 415 — all problem+json.
func TestRequestValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("s")
	for _, c := range []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
		field              string
	}{
		{"unknown body field", "POST", "/api/v1/systems", `{"id":"x","name":"y","color":"red"}`, nil, 422, "color"},
		{"wrong type", "POST", "/api/v1/systems", `{"id":"x","name":5}`, nil, 422, "name"},
		{"missing required", "POST", "/api/v1/systems", `{"name":"y"}`, nil, 422, "id"},
		{"unknown query parameter", "GET", "/api/v1/runs?sytemId=s", nil, nil, 422, "sytemId"},
		{"bad status filter", "GET", "/api/v1/runs?status=green", nil, nil, 422, "status"},
		{"bad date", "GET", "/api/v1/runs?startDate=yesterday", nil, nil, 422, "startDate"},
		{"limit above 500", "GET", "/api/v1/systems?limit=501", nil, nil, 422, "limit"},
		{"malformed JSON", "POST", "/api/v1/systems", `{"id":`, nil, 400, ""},
		{"two documents", "POST", "/api/v1/systems", `{"id":"a","name":"b"} {}`, nil, 400, ""},
		{"too deep", "POST", "/api/v1/systems", strings.Repeat("[", 100) + strings.Repeat("]", 100), nil, 400, ""},
		{"empty body", "POST", "/api/v1/systems", "", nil, 400, ""},
		{"not JSON media type", "POST", "/api/v1/systems", `{"id":"a","name":"b"}`, []string{"Content-Type", "text/plain"}, 415, ""},
		{"body too large", "POST", "/api/v1/systems", `{"id":"a","name":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, ""},
		{"null name", "PATCH", "/api/v1/systems/s", `{"name":null}`, nil, 422, "name"},
		{"threshold unknown key", "PUT", "/api/v1/systems/s/checks/00000000-0000-0000-0000-000000000000", `{"stateThresholds":{"mode":"window","size":3}}`, nil, 422, "stateThresholds.size"},
		{"threshold out of bounds", "PUT", "/api/v1/systems/s/checks/00000000-0000-0000-0000-000000000000", `{"stateThresholds":{"mode":"window","windowSize":101}}`, nil, 422, "stateThresholds.windowSize"},
		{"paused in patch", "PATCH", "/api/v1/checks/00000000-0000-0000-0000-000000000000", `{"paused":true}`, nil, 422, "paused"},
		{"bulk too many", "POST", "/api/v1/health:bulk", map[string]any{"systemIds": make([]string, 1001)}, nil, 422, "systemIds"},
		{"unknown route", "GET", "/api/v1/nothing", nil, nil, 404, ""},
	} {
		res := e.do(c.method, c.path, tokAdmin, c.body, c.headers...)
		if res.status != c.status || res.header.Get("Content-Type") != problemContentType {
			t.Errorf("%s: %d %s (%s), want %d problem+json", c.name, res.status, res.body, res.header.Get("Content-Type"), c.status)
			continue
		}
		if c.field != "" {
			p := res.problem(t)
			if !slices.ContainsFunc(p.Errors, func(f FieldError) bool { return f.Field == c.field }) {
				t.Errorf("%s: errors %+v do not name %s", c.name, p.Errors, c.field)
			}
		}
	}
}

// Pagination of the lists, and the run filters.
func TestListsPaginate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, id := range []string{"s1", "s2", "s3"} {
		e.mustSystem(id)
	}
	var page systemList
	res := e.do("GET", "/api/v1/systems?limit=2&offset=1", tokNone, nil)
	res.decode(t, &page)
	if page.Total != 3 || len(page.Systems) != 2 || page.Systems[0].ID != "s2" || page.Limit != 2 || page.Offset != 1 {
		t.Fatalf("systems page = %s", res)
	}
	c := e.mustCheck("c")
	e.mustAssign("s1", c)
	for seq := int64(1); seq <= 3; seq++ {
		e.mustRun("s1", c, seq, []health.Status{health.Healthy, health.Unhealthy, health.Healthy}[seq-1])
	}
	var runs runList
	res = e.do("GET", "/api/v1/runs?systemId=s1&status=healthy&limit=1&sortOrder=asc", tokNone, nil)
	res.decode(t, &runs)
	if runs.Total != 2 || len(runs.Runs) != 1 || runs.Runs[0].Result != nil {
		t.Fatalf("runs = %s", res)
	}
	res = e.do("GET", "/api/v1/runs/detailed?systemId=s1&checkId="+c, tokDetails, nil)
	res.decode(t, &runs)
	if runs.Total != 3 || len(runs.Runs[0].Result) == 0 {
		t.Fatalf("detailed runs = %s", res)
	}
	var ev eventList
	// Only the runs' events: assigning writes a healthcheck.assignment.changed hook too.
	res = e.do("GET", "/api/v1/events?systemId=s1&type=healthcheck.check.completed&limit=2", tokDetails, nil)
	res.decode(t, &ev)
	if len(ev.Events) != 2 || ev.NextCursor == nil {
		t.Fatalf("events page 1 = %s", res)
	}
	res = e.do("GET", "/api/v1/events?systemId=s1&type=healthcheck.check.completed&limit=2&cursor="+jsonInt(*ev.NextCursor), tokDetails, nil)
	ev = eventList{}
	res.decode(t, &ev)
	if len(ev.Events) != 1 || ev.NextCursor != nil {
		t.Fatalf("events page 2 = %s", res)
	}
	if res := e.do("GET", "/api/v1/runs/"+store.ProbeRunID("s1", 2), tokDetails, nil); res.status != 200 || !bytes.Contains(res.body, []byte(`"result"`)) {
		t.Fatalf("run by id = %s", res)
	}
	from, to := t0.Add(-time.Hour).Format(time.RFC3339), t0.Add(time.Hour).Format(time.RFC3339)
	var hist store.History
	res = e.do("GET", "/api/v1/systems/s1/checks/"+c+"/aggregated-history?targetPoints=10&startDate="+from+"&endDate="+to, tokNone, nil)
	res.decode(t, &hist)
	total := 0
	for _, b := range hist.Buckets {
		total += b.RunCount
	}
	if res.status != 200 || total != 3 {
		t.Fatalf("aggregated history = %s", res)
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A pool is required only for requests; the document and the route table need none.
func TestNewWithoutTemporalAnswersWritesWith503(t *testing.T) {
	t.Parallel()
	pool := testutil.NewPool(t)
	s := New(Config{Pool: pool})
	e := &env{t: t, pool: pool, store: store.New(pool), srv: s, tokens: map[string]string{}}
	secret, _, err := e.store.CreateToken(context.Background(), "a", []string{ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	e.tokens[tokAdmin] = secret
	e.mustSystem("s")
	res := e.do("PATCH", "/api/v1/systems/s", tokAdmin, map[string]any{"name": "x"})
	if res.status != http.StatusServiceUnavailable || !strings.Contains(res.problem(t).Detail, "saved") {
		t.Fatalf("= %s", res)
	}
}

// Without a secret key, a check carrying a secret is rejected (naming the field) and nothing is
// stored; one without a secret is accepted.
func TestSecretsNeedAKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.srv = New(Config{Pool: e.pool, Entities: e.entities})
	create := map[string]any{"name": "db", "strategyId": "postgres", "intervalSeconds": 30,
		"config": map[string]any{"host": "db.internal", "port": 5432, "database": "app", "user": "mon", "password": "pw-1234"}}
	res := e.do("POST", "/api/v1/checks", tokManage, create)
	if res.status != 422 || res.problem(t).Errors[0].Field != "config.password" {
		t.Fatalf("create with a secret and no key = %s", res)
	}
	delete(create["config"].(map[string]any), "password")
	if res := e.do("POST", "/api/v1/checks", tokManage, create); res.status != 201 {
		t.Fatalf("create without a secret = %s", res)
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM health_check_configurations WHERE config::text LIKE '%pw-1234%'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d configurations hold the password (%v)", n, err)
	}
}

// Flap detection thresholds: null until set, set and read back, bad ones a 422 naming the field
// that changes nothing, null resets.
func TestFlapDetectionThresholds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSystem("f")
	get := func() string {
		t.Helper()
		res := e.do("GET", "/api/v1/systems/f/flap-detection", tokRead, nil)
		if res.status != 200 {
			t.Fatalf("get = %s", res)
		}
		return strings.Join(strings.Fields(string(res.body)), "")
	}
	if got := get(); got != `{"flapDetection":null}` {
		t.Fatalf("a new system: %s", got)
	}
	if res := e.do("PUT", "/api/v1/systems/f/flap-detection", tokManage, map[string]any{"flapDetection": map[string]any{"startPercent": 60, "stopPercent": 30.5}}); res.status != 200 {
		t.Fatalf("put = %s", res)
	}
	if got := get(); got != `{"flapDetection":{"startPercent":60,"stopPercent":30.5}}` {
		t.Fatalf("after put: %s", got)
	}
	for _, bad := range []map[string]any{
		{"flapDetection": map[string]any{"startPercent": 30, "stopPercent": 60}},
		{"flapDetection": map[string]any{"startPercent": 101, "stopPercent": 60}},
		{"flapDetection": map[string]any{"startPercent": 60}},
		{"flapDetection": map[string]any{"startPercent": "60", "stopPercent": 30}},
		{},
	} {
		res := e.do("PUT", "/api/v1/systems/f/flap-detection", tokManage, bad)
		if p := res.problem(t); res.status != 422 && res.status != 400 || !strings.Contains(string(res.body), "flapDetection") {
			t.Errorf("%v = %s (%+v)", bad, res, p)
		}
	}
	if got := get(); got != `{"flapDetection":{"startPercent":60,"stopPercent":30.5}}` {
		t.Fatalf("a rejected write changed the thresholds: %s", got)
	}
	if res := e.do("PUT", "/api/v1/systems/nope/flap-detection", tokManage, map[string]any{"flapDetection": nil}); res.status != 404 {
		t.Errorf("unknown system = %s", res)
	}
	if res := e.do("PUT", "/api/v1/systems/f/flap-detection", tokManage, map[string]any{"flapDetection": nil}); res.status != 200 {
		t.Fatalf("reset = %s", res)
	}
	if got := get(); got != `{"flapDetection":null}` {
		t.Fatalf("after reset: %s", got)
	}
}

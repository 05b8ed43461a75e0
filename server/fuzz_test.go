package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/server/apitest"
)

// fuzzSeed makes the generated bodies reproducible; a failure names the request index.
const fuzzSeed = 20260530

// fuzzPerEndpoint is the number of generated requests per mutating endpoint.
const fuzzPerEndpoint = 1000

// configSnapshot fingerprints every configuration table: a rejected request must leave it as
// it was.
func (e *env) configSnapshot(t testing.TB) string {
	t.Helper()
	var s string
	err := e.pool.QueryRow(context.Background(), `SELECT md5(concat_ws('|',
		(SELECT coalesce(string_agg(t::text, ',' ORDER BY t.id), '') FROM systems t),
		(SELECT coalesce(string_agg(t::text, ',' ORDER BY t.id), '') FROM health_check_configurations t),
		(SELECT coalesce(string_agg(t::text, ',' ORDER BY t.system_id, t.configuration_id), '') FROM system_health_checks t),
		(SELECT coalesce(string_agg(t::text, ',' ORDER BY t.key), '') FROM platform_settings t),
		(SELECT coalesce(string_agg(t::text, ',' ORDER BY t.kind, t.entity_id), '') FROM gitops_provenance t),
		(SELECT coalesce(string_agg(t::text, ',' ORDER BY t.id), '') FROM notification_channels t),
		(SELECT coalesce(string_agg(t::text, ',' ORDER BY t.id), '') FROM maintenance_windows t),
		(SELECT coalesce(string_agg(t::text, ',' ORDER BY t.id), '') FROM automations t)))`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fuzzTarget is a mutating endpoint and a valid body to mutate.
type fuzzTarget struct {
	method, path string
	seed         any
	// pathFuzz varies the last path segment instead of only the body (bodiless endpoints).
	pathFuzz bool
}

func fuzzTargets(sys, check, pausable, channel, automationID string) []fuzzTarget {
	thresholds := map[string]any{"mode": "window", "windowSize": 5, "degraded": map[string]any{"minFailureCount": 2}, "unhealthy": map[string]any{"minFailureCount": 4}}
	httpCheck := map[string]any{
		"name": "fuzzed", "strategyId": "http", "intervalSeconds": 30, "paused": false,
		"config": map[string]any{"timeout": 2000},
		"collectors": []any{map[string]any{"id": "req", "collectorId": "request",
			"config":     map[string]any{"url": "http://127.0.0.1:9/", "method": "GET", "timeout": 1000},
			"assertions": []any{map[string]any{"field": "statusCode", "operator": "equals", "value": 200}}}},
	}
	pgCheck := map[string]any{"strategyId": "postgres", "config": map[string]any{"host": "db", "port": 5432, "database": "d", "user": "u", "password": "****"}}
	return []fuzzTarget{
		{method: "POST", path: "/api/v1/systems", seed: map[string]any{"id": "fz-new", "name": "New", "description": "d", "labels": map[string]any{"team": "a"}}},
		{method: "PATCH", path: "/api/v1/systems/" + sys, seed: map[string]any{"name": "Renamed", "description": "x", "labels": map[string]any{"k": "v"}}},
		{method: "POST", path: "/api/v1/checks", seed: httpCheck},
		{method: "PATCH", path: "/api/v1/checks/" + check, seed: pgCheck},
		{method: "PATCH", path: "/api/v1/checks/" + check, seed: httpCheck},
		{method: "PUT", path: "/api/v1/systems/" + sys + "/checks/" + check, seed: map[string]any{
			"enabled": true, "stateThresholds": thresholds, "notificationPolicy": map[string]any{"suppressDeEscalations": true}, "locations": []any{"eu-1"}}},
		{method: "PUT", path: "/api/v1/systems/" + sys + "/checks/" + check + "/retention", seed: map[string]any{
			"retentionConfig": map[string]any{"rawRetentionDays": 3, "hourlyRetentionDays": 14, "dailyRetentionDays": 90}}},
		{method: "POST", path: "/api/v1/systems/" + sys + "/checks/" + check + "/run", seed: map[string]any{"force": true}},
		{method: "PUT", path: "/api/v1/settings/notification-defaults", seed: map[string]any{"suppressDeEscalations": false}},
		{method: "POST", path: "/api/v1/health:bulk", seed: map[string]any{"systemIds": []any{sys, "other"}}},
		{method: "POST", path: "/api/v1/health-state:bulk", seed: map[string]any{"systemIds": []any{sys}, "transitionWindowMinutes": 30}},
		{method: "POST", path: "/api/v1/checks/" + pausable + "/pause", pathFuzz: true},
		{method: "POST", path: "/api/v1/checks/" + pausable + "/resume", pathFuzz: true},
		{method: "DELETE", path: "/api/v1/systems/" + sys + "/checks/" + check, pathFuzz: true},
		{method: "DELETE", path: "/api/v1/checks/" + check, pathFuzz: true},
		{method: "DELETE", path: "/api/v1/systems/" + sys, pathFuzz: true},
		{method: "POST", path: "/api/v1/channels", seed: map[string]any{"name": "hook", "type": "webhook",
			"config":  map[string]any{"url": "https://hooks.example.com/in", "secret": "s3cret", "headers": map[string]any{"Authorization": "Bearer x"}},
			"systems": []any{sys}, "events": []any{"escalation", "check_failed"}, "remindEvery": "30m", "enabled": true}},
		{method: "PATCH", path: "/api/v1/channels/" + channel, seed: map[string]any{"name": "slack", "type": "slack",
			"config": map[string]any{"webhookUrl": "https://hooks.slack.com/services/x"}, "systems": []any{"*"}, "remindEvery": nil}},
		{method: "POST", path: "/api/v1/maintenances", seed: map[string]any{"title": "upgrade", "description": "d", "systemIds": []any{sys},
			"startsAt": t0.Format(time.RFC3339), "endsAt": t0.Add(time.Hour).Format(time.RFC3339)}},
		{method: "POST", path: "/api/v1/automations", seed: fuzzAutomation(sys, check, channel, "s3cret")},
		{method: "PATCH", path: "/api/v1/automations/" + automationID, seed: fuzzAutomation(sys, check, channel, "****")},
		{method: "POST", path: "/api/v1/automations/" + automationID + ":test", seed: map[string]any{"event": map[string]any{
			"type": "healthcheck.system_health_changed", "payload": map[string]any{"systemId": sys, "previousStatus": "healthy", "newStatus": "degraded",
				"healthyChecks": 0, "totalChecks": 1, "timestamp": t0.Format(time.RFC3339)}}}},
	}
}

// fuzzAutomation is an automation body with every kind of action, a filter and a window.
func fuzzAutomation(sys, check, channel, secret string) map[string]any {
	return map[string]any{
		"name": "flapping", "enabled": true, "cooldownSeconds": 600,
		"trigger": map[string]any{"event": "healthcheck.system_health_changed", "filter": `trigger.payload.newStatus != "healthy" && trigger.payload.totalChecks > 0`,
			"window": map[string]any{"count": 3, "minutes": 60, "refire": "once", "partitionBy": "trigger.payload.systemId"}},
		"actions": []any{
			map[string]any{"type": "notify", "config": map[string]any{"channelId": channel, "title": "{{.Payload.systemId}} flaps", "body": "x"}},
			map[string]any{"type": "run_check", "config": map[string]any{"systemId": sys, "configurationId": check}},
			map[string]any{"type": "set_assignment_enabled", "config": map[string]any{"systemId": sys, "configurationId": check, "enabled": false}},
			map[string]any{"type": "webhook", "config": map[string]any{"url": "https://hooks.example.com/a", "secret": secret}},
		},
	}
}

// mutator generates deterministic random and mutated JSON bodies.
type mutator struct{ r *rand.Rand }

func (m mutator) scalar() any {
	switch m.r.IntN(16) {
	case 0:
		return nil
	case 1:
		return true
	case 2:
		return m.r.IntN(3) - 1
	case 3:
		return []any{0, 1, -1, 2147483647, 2147483648, 31536001, 1 << 53, 9223372036854775807}[m.r.IntN(8)]
	case 4:
		return []any{0.5, -0.0, 1e20, 1e300, 3.000000001}[m.r.IntN(5)]
	case 5:
		return ""
	case 6:
		return strings.Repeat("x", []int{199, 200, 201, 4001, 70000}[m.r.IntN(5)])
	case 7:
		return "héllo ☃ \u2028 \ufffd 🎉"
	case 8:
		return "nul\u0000byte"
	case 9:
		return "****"
	case 10:
		return []any{"healthy", "window", "consecutive", "request", "http", "tcp", "postgres", "healthcheck-http.http", "bogus"}[m.r.IntN(9)]
	case 11:
		return "http://127.0.0.1:9/"
	case 12:
		return "00000000-0000-0000-0000-000000000000"
	case 13:
		return []any{}
	case 14:
		return map[string]any{}
	default:
		return fmt.Sprintf("v%d", m.r.IntN(1000))
	}
}

func (m mutator) value(depth int) any {
	if depth > 3 || m.r.IntN(3) > 0 {
		return m.scalar()
	}
	if m.r.IntN(2) == 0 {
		arr := make([]any, m.r.IntN(4))
		for i := range arr {
			arr[i] = m.value(depth + 1)
		}
		return arr
	}
	obj := map[string]any{}
	for i := m.r.IntN(4); i > 0; i-- {
		obj[m.key()] = m.value(depth + 1)
	}
	return obj
}

func (m mutator) key() string {
	return []string{"id", "name", "mode", "config", "collectors", "enabled", "systemIds", "retentionConfig", "force",
		"windowSize", "degraded", "minFailureCount", "url", "password", "paused", "unknown", "", "a.b", "__proto__"}[m.r.IntN(19)]
}

// deepCopy copies a JSON-like value.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// mutate changes one random place of v (in place where possible) and returns the result.
func (m mutator) mutate(v any) any {
	switch x := v.(type) {
	case map[string]any:
		keys := sortedKeys(x)
		if len(keys) == 0 || m.r.IntN(5) == 0 {
			x[m.key()] = m.value(0)
			return x
		}
		k := keys[m.r.IntN(len(keys))]
		switch m.r.IntN(4) {
		case 0:
			delete(x, k)
		case 1:
			x[k] = m.value(0)
		default:
			x[k] = m.mutate(x[k])
		}
		return x
	case []any:
		if len(x) == 0 || m.r.IntN(4) == 0 {
			return append(x, m.value(0))
		}
		i := m.r.IntN(len(x))
		if m.r.IntN(3) == 0 {
			return append(x[:i], x[i+1:]...)
		}
		x[i] = m.mutate(x[i])
		return x
	}
	return m.value(0)
}

// body produces the i-th request body for a seed: mostly structural mutations, sometimes
// byte-level damage or entirely random documents.
func (m mutator) body(seed any) (string, string) {
	ct := "application/json"
	if m.r.IntN(40) == 0 {
		ct = []string{"text/plain", "application/x-www-form-urlencoded", "application/merge-patch+json", "application/json; charset=utf-8"}[m.r.IntN(4)]
	}
	switch k := m.r.IntN(20); {
	case k == 0:
		return []string{"", "null", "[]", "{}", "0", `"x"`, "{", "}", "[{}]", `{"a":1}{"b":2}`, "\xff\xfe{}", "{\"name\":\"\xc3\x28\"}"}[m.r.IntN(12)], ct
	case k == 1:
		return strings.Repeat("[", 40+m.r.IntN(200)) + strings.Repeat("]", 40+m.r.IntN(200)), ct
	case k == 2:
		raw, _ := json.Marshal(m.value(0))
		return string(raw), ct
	}
	v := deepCopy(seed)
	for n := 1 + m.r.IntN(3); n > 0; n-- {
		v = m.mutate(v)
	}
	raw, _ := json.Marshal(v)
	s := string(raw)
	if m.r.IntN(8) == 0 && len(s) > 2 { // byte-level damage
		i := m.r.IntN(len(s))
		switch m.r.IntN(4) {
		case 0:
			s = s[:i]
		case 1:
			s = s[:i] + string([]byte{byte(m.r.IntN(256))}) + s[i:]
		case 2:
			s = s[:i] + s[i+1:]
		default:
			s = s + " trailing"
		}
	}
	return s, ct
}

// pathVariant replaces the last id of a path with a random one (or keeps it).
func (m mutator) pathVariant(path string) string {
	i := strings.LastIndex(path, "/")
	last := path[i+1:]
	if last == "pause" || last == "resume" {
		j := strings.LastIndex(path[:i], "/")
		return path[:j+1] + m.pathID(path[j+1:i]) + path[i:]
	}
	return path[:i+1] + m.pathID(last)
}

func (m mutator) pathID(current string) string {
	switch m.r.IntN(6) {
	case 0:
		return current
	case 1:
		return "00000000-0000-0000-0000-000000000000"
	case 2:
		return "not-a-uuid"
	case 3:
		return "%00"
	case 4:
		return strings.Repeat("a", 300)
	}
	return fmt.Sprintf("x%d", m.r.IntN(1000))
}

// TestFuzzMutatingEndpoints sends fuzzPerEndpoint generated bodies (and, for bodiless
// endpoints, path ids) to every mutating endpoint, each endpoint on its own database: no
// answer is a 5xx, every answer matches the OpenAPI document, and after every rejected request
// the configuration tables are exactly as before it.
func TestFuzzMutatingEndpoints(t *testing.T) {
	t.Parallel()
	for ti, tg := range fuzzTargets("fz", "{check}", "{pausable}", "{channel}", "{automation}") {
		t.Run(fmt.Sprintf("%02d %s %s", ti, tg.method, tg.path), func(t *testing.T) {
			t.Parallel()
			fuzzEndpoint(t, ti)
		})
	}
}

// fuzzEndpoint fuzzes the ti-th target of fuzzTargets on a fresh database.
func fuzzEndpoint(t *testing.T, ti int) {
	e := newEnv(t)
	e.mustSystem("fz")
	check := e.mustCheck("fuzz check")
	e.mustAssign("fz", check)
	pausable := e.mustCheck("fuzz pausable")
	if _, err := e.store.SetProvenance(context.Background(), "System", "fz-managed", "git@example:repo"); err != nil {
		t.Fatal(err)
	}
	spec := loadSpec(t, e)
	channel, err := e.store.CreateChannel(context.Background(), store.ChannelInput{Name: "fuzz channel", Type: "slack",
		Config: json.RawMessage(`{"webhookUrl":"https://hooks.slack.com/services/old"}`), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	res := e.do("POST", "/api/v1/automations", tokManage, fuzzAutomation("fz", check, channel.ID, "s3cret"))
	var a struct {
		ID string `json:"id"`
	}
	res.decode(t, &a)
	if res.status != http.StatusCreated {
		t.Fatalf("create the fuzz automation = %s", res)
	}
	tg := fuzzTargets("fz", check, pausable, channel.ID, a.ID)[ti]

	m := mutator{r: rand.New(rand.NewPCG(fuzzSeed, uint64(ti)))}
	before := e.configSnapshot(t)
	counts := map[int]int{}
	validated := map[string]bool{} // identical answers are validated once
	for i := 0; i < fuzzPerEndpoint; i++ {
		path := tg.path
		var body, ct string
		if tg.pathFuzz {
			path = m.pathVariant(tg.path)
			if m.r.IntN(3) == 0 {
				body, ct = m.body(map[string]any{"x": 1})
			}
		} else {
			body, ct = m.body(tg.seed)
		}
		if m.r.IntN(50) == 0 && !tg.pathFuzz {
			path += "?unexpected=1"
		}
		req := httptest.NewRequest(tg.method, path, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Authorization", "Bearer "+e.tokens[tokAdmin])
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		counts[rec.Code]++
		if rec.Code >= 500 {
			t.Fatalf("%s %s #%d: %d %s\nbody: %q", tg.method, path, i, rec.Code, rec.Body.String(), body)
		}
		if key := fmt.Sprint(rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()); !validated[key] {
			validated[key] = true
			vreq, _ := http.NewRequest(tg.method, "http://x"+path, nil)
			if err := spec.ValidateResponse(context.Background(), vreq, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
				t.Fatalf("#%d body %q: %v", i, body, err)
			}
		}
		after := e.configSnapshot(t)
		if rec.Code >= 400 && after != before {
			t.Fatalf("%s %s #%d was rejected (%d %s) but changed the configuration tables\nbody: %q", tg.method, path, i, rec.Code, rec.Body.String(), body)
		}
		before = after
	}
	// The generator reaches both sides: accepted and rejected requests.
	accepted, rejected := 0, 0
	for code, n := range counts {
		if code < 400 {
			accepted += n
		} else {
			rejected += n
		}
	}
	if accepted == 0 || rejected == 0 || counts[http.StatusUnprocessableEntity]+counts[http.StatusNotFound] == 0 {
		t.Errorf("status counts %v: want accepted and rejected requests", counts)
	}
	t.Logf("status counts: %v", counts)
}

func loadSpec(t testing.TB, e *env) *apitest.Spec {
	t.Helper()
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	spec, err := apitest.LoadSpec(context.Background(), rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// FuzzCreateCheck is a native fuzz target for the richest body (go test -fuzz=FuzzCreateCheck
// ./server/): never a 5xx, and a rejected body changes nothing. Without -fuzz it runs the seeds.
func FuzzCreateCheck(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","strategyId":"http","intervalSeconds":5}`,
		`{"name":"a","strategyId":"tcp","intervalSeconds":5,"config":{"host":"h","port":1}}`,
		`{"name":"a","strategyId":"postgres","intervalSeconds":5,"config":{"host":"h","database":"d","user":"u","password":"****"}}`,
		`{"name":"a","strategyId":"http","intervalSeconds":5,"collectors":[{"collectorId":"request","config":{"url":"http://x/"},"assertions":[{"field":"statusCode","operator":"equals","value":200}]}]}`,
		`{"name":"\u0000","strategyId":"http","intervalSeconds":1e9}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	} {
		f.Add(s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		before := e.configSnapshot(t)
		req := httptest.NewRequest("POST", "/api/v1/checks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.tokens[tokAdmin])
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%d %s for %q", rec.Code, rec.Body, body)
		}
		if rec.Code >= 400 && e.configSnapshot(t) != before {
			t.Fatalf("rejected %q (%d %s) but the configuration changed", body, rec.Code, rec.Body)
		}
	})
}

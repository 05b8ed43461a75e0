package server

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// permCase is one endpoint of the permission matrix. Its required scope is written here by hand
// (not read from the route table) so that the test notices a route whose scope changes.
type permCase struct {
	method, path string // path template as documented; {…} are filled from the fixture
	query        string
	scope        string // "", status, read, manage, details, or "status+details"
	ok           int    // the status of an authorised request
	body         func(v map[string]string) any
	// fresh creates the objects a destructive request consumes.
	fresh func(e *env, v map[string]string)
	// stream: the endpoint streams; the request ends once the first bytes are flushed.
	stream bool
}

const (
	pPublic  = ""
	pStatus  = "status"
	pRead    = "read"
	pManage  = "manage"
	pDetails = "details"
	pStatDet = "status+details"
	pAdmin   = "admin"
)

func permCases() []permCase {
	uniq := func(v map[string]string) string { return v["n"] }
	window := "startDate=" + t0.Add(-time.Hour).Format(time.RFC3339) + "&endDate=" + t0.Add(time.Hour).Format(time.RFC3339)
	return []permCase{
		{method: "GET", path: "/healthz", scope: pPublic, ok: 200},
		{method: "GET", path: "/readyz", scope: pPublic, ok: 503}, // no Temporal client in this test
		{method: "GET", path: "/api/v1/version", scope: pPublic, ok: 200},
		{method: "GET", path: "/api/v1/openapi.json", scope: pPublic, ok: 200},

		{method: "GET", path: "/api/v1/systems", scope: pStatus, ok: 200},
		{method: "POST", path: "/api/v1/systems", scope: pManage, ok: 201,
			body: func(v map[string]string) any { return map[string]any{"id": "new-" + uniq(v), "name": "New"} }},
		{method: "GET", path: "/api/v1/systems/{systemId}", scope: pStatus, ok: 200},
		{method: "PATCH", path: "/api/v1/systems/{systemId}", scope: pManage, ok: 200,
			body: func(map[string]string) any { return map[string]any{"description": "patched"} }},
		{method: "DELETE", path: "/api/v1/systems/{systemId}", scope: pManage, ok: 204,
			fresh: func(e *env, v map[string]string) { v["systemId"] = "del-" + uniq(v); e.mustSystem(v["systemId"]) }},

		{method: "GET", path: "/api/v1/strategies", scope: pRead, ok: 200},
		{method: "GET", path: "/api/v1/strategies/{strategyId}/collectors", scope: pRead, ok: 200},

		{method: "GET", path: "/api/v1/checks", scope: pRead, ok: 200},
		{method: "POST", path: "/api/v1/checks", scope: pManage, ok: 201, body: func(v map[string]string) any {
			return map[string]any{"name": "c " + uniq(v), "strategyId": "tcp", "config": map[string]any{"host": "127.0.0.1", "port": 9}, "intervalSeconds": 30}
		}},
		{method: "GET", path: "/api/v1/checks/{checkId}", scope: pRead, ok: 200},
		{method: "PATCH", path: "/api/v1/checks/{checkId}", scope: pManage, ok: 200,
			body: func(v map[string]string) any { return map[string]any{"name": "renamed " + uniq(v)} }},
		{method: "DELETE", path: "/api/v1/checks/{checkId}", scope: pManage, ok: 204,
			fresh: func(e *env, v map[string]string) { v["checkId"] = e.mustCheck("del " + uniq(v)) }},
		{method: "POST", path: "/api/v1/checks/{checkId}/pause", scope: pManage, ok: 200,
			fresh: func(_ *env, v map[string]string) { v["checkId"] = v["pausable"] }},
		{method: "POST", path: "/api/v1/checks/{checkId}/resume", scope: pManage, ok: 200,
			fresh: func(_ *env, v map[string]string) { v["checkId"] = v["pausable"] }},

		{method: "GET", path: "/api/v1/systems/{systemId}/flap-detection", scope: pRead, ok: 200},
		{method: "PUT", path: "/api/v1/systems/{systemId}/flap-detection", scope: pManage, ok: 200,
			body: func(map[string]string) any {
				return map[string]any{"flapDetection": map[string]any{"startPercent": 40, "stopPercent": 20}}
			}},
		{method: "GET", path: "/api/v1/systems/{systemId}/checks", scope: pRead, ok: 200},
		{method: "PUT", path: "/api/v1/systems/{systemId}/checks/{checkId}", scope: pManage, ok: 200,
			body: func(map[string]string) any { return map[string]any{"enabled": true} }},
		{method: "DELETE", path: "/api/v1/systems/{systemId}/checks/{checkId}", scope: pManage, ok: 204,
			fresh: func(e *env, v map[string]string) {
				v["checkId"] = e.mustCheck("unassign " + uniq(v))
				e.mustAssign(v["systemId"], v["checkId"])
			}},
		{method: "GET", path: "/api/v1/systems/{systemId}/checks/{checkId}/retention", scope: pRead, ok: 200},
		{method: "PUT", path: "/api/v1/systems/{systemId}/checks/{checkId}/retention", scope: pManage, ok: 200,
			body: func(map[string]string) any {
				return map[string]any{"retentionConfig": map[string]any{"rawRetentionDays": 3}}
			}},
		{method: "POST", path: "/api/v1/systems/{systemId}/checks/{checkId}/run", scope: pManage, ok: 200},

		{method: "GET", path: "/api/v1/runs", scope: pStatus, ok: 200},
		{method: "GET", path: "/api/v1/runs/detailed", scope: pDetails, ok: 200},
		{method: "GET", path: "/api/v1/runs/{runId}", scope: pDetails, ok: 200},
		{method: "GET", path: "/api/v1/systems/{systemId}/checks/{checkId}/aggregated-history", query: window, scope: pStatus, ok: 200},
		{method: "GET", path: "/api/v1/systems/{systemId}/checks/{checkId}/aggregated-history", query: window + "&detailed=true", scope: pStatDet, ok: 200},

		{method: "GET", path: "/api/v1/systems/{systemId}/health", scope: pStatus, ok: 200},
		{method: "POST", path: "/api/v1/health:bulk", scope: pStatus, ok: 200,
			body: func(v map[string]string) any { return map[string]any{"systemIds": []string{v["systemId"], "unknown"}} }},
		{method: "GET", path: "/api/v1/systems/{systemId}/health/overview", scope: pStatus, ok: 200},
		{method: "GET", path: "/api/v1/systems/{systemId}/health-state", scope: pStatus, ok: 200},
		{method: "POST", path: "/api/v1/health-state:bulk", scope: pStatus, ok: 200,
			body: func(v map[string]string) any { return map[string]any{"systemIds": []string{v["systemId"]}} }},
		{method: "GET", path: "/api/v1/systems/{systemId}/transitions", scope: pStatus, ok: 200},
		{method: "GET", path: "/api/v1/events", scope: pDetails, ok: 200},

		{method: "GET", path: "/api/v1/systems/{systemId}/uptime", query: "window=7d", scope: pStatus, ok: 200},
		{method: "GET", path: "/api/v1/systems/{systemId}/badges/status.svg", scope: pStatus, ok: 200},
		{method: "GET", path: "/api/v1/systems/{systemId}/badges/uptime.svg", query: "window=30d", scope: pStatus, ok: 200},
		{method: "GET", path: "/api/v1/systems/{systemId}/badges/latency.svg", scope: pStatus, ok: 200},
		{method: "GET", path: "/api/v1/stream", query: "systemId={systemId}", scope: pStatus, ok: 200, stream: true},

		// The HTML status page (handlers_page.go): status:read, with its stream and assets.
		{method: "GET", path: "/", scope: pStatus, ok: 200},
		{method: "GET", path: "/status/{systemId}", scope: pStatus, ok: 200},
		{method: "GET", path: "/status-stream", query: "systemId={systemId}", scope: pStatus, ok: 200, stream: true},
		{method: "GET", path: "/static/status.css", scope: pPublic, ok: 200},
		{method: "GET", path: "/static/status.js", scope: pPublic, ok: 200},
		// Heartbeat pings: the ping token is the credential; a token no check has is a 404.
		{method: "GET", path: "/api/v1/ping/{token}", scope: pPublic, ok: 404},
		{method: "POST", path: "/api/v1/ping/{token}", scope: pPublic, ok: 404},
		{method: "GET", path: "/api/v1/ping/{token}/{action}", scope: pPublic, ok: 404},
		{method: "POST", path: "/api/v1/ping/{token}/{action}", scope: pPublic, ok: 404},

		{method: "GET", path: "/api/v1/settings/notification-defaults", scope: pRead, ok: 200},
		{method: "PUT", path: "/api/v1/settings/notification-defaults", scope: pManage, ok: 200,
			body: func(map[string]string) any { return map[string]any{"suppressDeEscalations": true} }},

		{method: "GET", path: "/api/v1/channels", scope: pRead, ok: 200},
		{method: "POST", path: "/api/v1/channels", scope: pManage, ok: 201, body: func(v map[string]string) any {
			return map[string]any{"name": "hook " + uniq(v), "type": "webhook", "config": map[string]any{"url": "https://hooks.example.com/" + uniq(v)}}
		}},
		{method: "GET", path: "/api/v1/channels/{channelId}", scope: pRead, ok: 200},
		{method: "PATCH", path: "/api/v1/channels/{channelId}", scope: pManage, ok: 200,
			body: func(v map[string]string) any { return map[string]any{"name": "renamed " + uniq(v)} }},
		{method: "DELETE", path: "/api/v1/channels/{channelId}", scope: pManage, ok: 204,
			fresh: func(e *env, v map[string]string) { v["channelId"] = e.mustChannel("del " + uniq(v)) }},
		// The fixture channel points at a closed port: the test answers 200 "failed".
		{method: "POST", path: "/api/v1/channels/{channelId}/test", scope: pManage, ok: 200},
		{method: "GET", path: "/api/v1/deliveries", scope: pRead, ok: 200},

		{method: "GET", path: "/api/v1/maintenances", scope: pRead, ok: 200},
		{method: "POST", path: "/api/v1/maintenances", scope: pManage, ok: 201, body: func(v map[string]string) any {
			return map[string]any{"title": "m " + uniq(v), "systemIds": []string{v["systemId"]},
				"startsAt": t0.Format(time.RFC3339), "endsAt": t0.Add(time.Hour).Format(time.RFC3339)}
		}},
		{method: "GET", path: "/api/v1/maintenances/{maintenanceId}", scope: pRead, ok: 200},
		{method: "PATCH", path: "/api/v1/maintenances/{maintenanceId}", scope: pManage, ok: 200,
			body: func(v map[string]string) any { return map[string]any{"title": "moved " + uniq(v)} }},
		{method: "DELETE", path: "/api/v1/maintenances/{maintenanceId}", scope: pManage, ok: 204,
			fresh: func(e *env, v map[string]string) { v["maintenanceId"] = e.mustMaintenance(v["systemId"]) }},

		{method: "GET", path: "/api/v1/automations", scope: pRead, ok: 200},
		{method: "POST", path: "/api/v1/automations", scope: pManage, ok: 201,
			body: func(v map[string]string) any { return runCheckAutomation(v["systemId"], v["checkId"]) }},
		{method: "GET", path: "/api/v1/automations/{automationId}", scope: pRead, ok: 200},
		{method: "PATCH", path: "/api/v1/automations/{automationId}", scope: pManage, ok: 200,
			body: func(v map[string]string) any { return map[string]any{"name": "renamed " + uniq(v)} }},
		{method: "DELETE", path: "/api/v1/automations/{automationId}", scope: pManage, ok: 204,
			fresh: func(e *env, v map[string]string) {
				v["automationId"] = e.mustAutomation(runCheckAutomation(v["systemId"], v["checkId"]))
			}},
		{method: "POST", path: "/api/v1/automations/{automationId}:test", scope: pManage, ok: 200,
			body: func(v map[string]string) any {
				return map[string]any{"event": map[string]any{"type": "healthcheck.system_degraded", "payload": map[string]any{"systemId": v["systemId"],
					"previousStatus": "healthy", "newStatus": "degraded", "healthyChecks": 0, "totalChecks": 1, "timestamp": t0.Format(time.RFC3339)}}}
			}},
		{method: "GET", path: "/api/v1/automations/{automationId}/runs", scope: pRead, ok: 200},

		// API tokens and GitOps provenance (handlers_gitops.go).
		{method: "POST", path: "/api/v1/tokens", scope: pAdmin, ok: 201,
			body: func(v map[string]string) any {
				return map[string]any{"name": "t " + uniq(v), "scopes": []string{"status:read"}}
			}},
		{method: "GET", path: "/api/v1/tokens", scope: pAdmin, ok: 200},
		{method: "DELETE", path: "/api/v1/tokens/{tokenId}", scope: pAdmin, ok: 204,
			fresh: func(e *env, v map[string]string) {
				_, tok, err := e.store.CreateToken(e.t.(*testing.T).Context(), "revoke "+uniq(v), []string{"status:read"})
				if err != nil {
					e.t.Fatal(err)
				}
				v["tokenId"] = tok.ID
			}},
		// The secret store (handlers_secretstore.go). The matrix's server has no secret key, so
		// an admin's PUT is the 503 saying so (the key's success path: api and tests packages).
		{method: "PUT", path: "/api/v1/secrets/{name}", scope: pAdmin, ok: http.StatusServiceUnavailable,
			body:  func(map[string]string) any { return map[string]any{"value": "perm-value", "description": "perm"} },
			fresh: func(_ *env, v map[string]string) { v["name"] = "PERM_PUT_" + uniq(v) }},
		{method: "GET", path: "/api/v1/secrets", scope: pAdmin, ok: 200},
		{method: "GET", path: "/api/v1/secrets/{name}", scope: pAdmin, ok: 200,
			fresh: func(e *env, v map[string]string) { v["name"] = e.mustSecret("PERM_GET_" + uniq(v)) }},
		{method: "DELETE", path: "/api/v1/secrets/{name}", scope: pAdmin, ok: 204,
			fresh: func(e *env, v map[string]string) { v["name"] = e.mustSecret("PERM_DEL_" + uniq(v)) }},
		// The script test endpoint (handlers_scripttest.go).
		{method: "POST", path: "/api/v1/collector-scripts:test", scope: pManage, ok: 200,
			body: func(map[string]string) any {
				return map[string]any{"kind": "javascript", "script": "return 1", "timeoutMs": 5000}
			}},
		{method: "GET", path: "/api/v1/provenance", query: "kind=System", scope: pRead, ok: 200},
		{method: "PUT", path: "/api/v1/provenance/{kind}/{entityId}", scope: pAdmin, ok: 200,
			body: func(map[string]string) any { return map[string]any{"source": "perm"} },
			fresh: func(e *env, v map[string]string) {
				v["kind"], v["entityId"] = "System", "prov-"+uniq(v)
				e.mustSystem(v["entityId"])
			}},
		{method: "DELETE", path: "/api/v1/provenance/{kind}/{entityId}", scope: pAdmin, ok: 204,
			fresh: func(e *env, v map[string]string) {
				v["kind"], v["entityId"] = "System", "unprov-"+uniq(v)
				e.mustSystem(v["entityId"])
				if _, err := e.store.SetProvenance(e.t.(*testing.T).Context(), "System", v["entityId"], "perm"); err != nil {
					e.t.Fatal(err)
				}
			}},
	}
}

// expectedStatus is the matrix: who may call an endpoint of the given scope.
func expectedStatus(scope, token string, public bool, ok int) int {
	holds := map[string][]string{
		pRead:    {tokRead, tokManage, tokAdmin},
		pManage:  {tokManage, tokAdmin},
		pDetails: {tokDetails, tokAdmin},
		pStatDet: {tokDetails, tokAdmin},
		pAdmin:   {tokAdmin},
	}
	switch scope {
	case pPublic:
		return ok
	case pStatus:
		if public || token != tokNone {
			return ok
		}
		return http.StatusUnauthorized
	}
	if token == tokNone {
		return http.StatusUnauthorized
	}
	for _, t := range holds[scope] {
		if t == token {
			return ok
		}
	}
	return http.StatusForbidden
}

// TestPermissionMatrix: every endpoint × {no token, status:read, config:read, config:manage,
// details:read, admin} answers the expected 2xx/401/403, with public status on and off; an
// unknown token is a 401 on every authenticated endpoint, even a public one.
func TestPermissionMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v := map[string]string{"systemId": "perm-sys", "strategyId": "http"}
	e.mustSystem(v["systemId"])
	v["checkId"] = e.mustCheck("perm check")
	e.mustAssign(v["systemId"], v["checkId"])
	v["pausable"] = e.mustCheck("pausable")
	v["runId"] = e.mustRun(v["systemId"], v["checkId"], 1, "healthy")
	v["channelId"] = e.mustChannel("perm channel")
	v["maintenanceId"] = e.mustMaintenance(v["systemId"])
	v["automationId"] = e.mustAutomation(runCheckAutomation(v["systemId"], v["checkId"]))
	v["token"], v["action"] = "0123456789012345678901234567890123456789012", "fail"

	// Every route is in the matrix.
	inMatrix := map[string]bool{}
	for _, c := range permCases() {
		inMatrix[c.method+" "+c.path] = true
	}
	var missing []string
	for _, r := range e.srv.routes {
		if !inMatrix[r.method+" "+r.path] {
			missing = append(missing, r.method+" "+r.path)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("routes missing from the permission matrix: %v", missing)
	}

	tokens := []string{tokNone, tokStatus, tokRead, tokManage, tokDetails, tokAdmin}
	n := 0
	for _, public := range []bool{true, false} {
		srv := New(Config{Pool: e.pool, Entities: e.entities, Version: "test"}, WithPublicStatus(public), WithClock(func() time.Time { return t0 }), WithStream(fastStream()))
		e.srv = srv
		for _, c := range permCases() {
			for _, tok := range append(tokens, "bogus") {
				n++
				vars := map[string]string{}
				for k, val := range v {
					vars[k] = val
				}
				vars["n"] = fmt.Sprint(n)
				if c.fresh != nil {
					c.fresh(e, vars)
				}
				path := c.path
				for k, val := range vars {
					path = strings.ReplaceAll(path, "{"+k+"}", val)
				}
				if c.query != "" {
					path += "?" + c.query
					for k, val := range vars {
						path = strings.ReplaceAll(path, "{"+k+"}", val)
					}
				}
				var body any
				if c.body != nil {
					body = c.body(vars)
				}
				secret := tok
				if tok == "bogus" {
					secret = "cf_not-a-token"
				}
				var res response
				if c.stream {
					res = e.doStream(path, secret)
				} else {
					res = e.do(c.method, path, secret, body)
				}
				want := expectedStatus(c.scope, tok, public, c.ok)
				if tok == "bogus" && c.scope != pPublic {
					want = http.StatusUnauthorized
				}
				if res.status != want {
					t.Errorf("public=%v %s %s token=%q: %d, want %d (%s)", public, c.method, c.path+"?"+c.query, tok, res.status, want, res.body)
					continue
				}
				switch res.status {
				case http.StatusUnauthorized:
					if res.header.Get("WWW-Authenticate") == "" || res.problem(t).Type != ProblemUnauthorized {
						t.Errorf("%s %s: 401 without WWW-Authenticate or problem type: %v %s", c.method, c.path, res.header, res.body)
					}
				case http.StatusForbidden:
					if p := res.problem(t); p.Type != ProblemForbidden || !strings.Contains(p.Detail, "scope") {
						t.Errorf("%s %s: 403 problem %+v", c.method, c.path, p)
					}
				}
			}
		}
	}
	if n < 2*len(permCases())*7 {
		t.Fatalf("ran %d requests", n)
	}
}

// mustSecret stores a secret named name (sealed with the env's key) and returns the name.
func (e *env) mustSecret(name string) string {
	sealed, err := e.box.Seal("perm-secret-value")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, _, err := e.store.PutSecret(e.t.(*testing.T).Context(), name, sealed, ""); err != nil {
		e.t.Fatal(err)
	}
	return name
}

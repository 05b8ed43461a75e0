package tests

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// storedSecret is the value of the stored secret API_TOKEN: it must never show up in plain text.
const storedSecret = "STORED-SECRET-5d7e1a-value"

// scriptCheck is a script check whose one collector maps API_TOKEN to ${{ secrets.<secret> }}.
func scriptCheck(name, secret, script string) map[string]any {
	return map[string]any{
		"name": name, "strategyId": "script", "intervalSeconds": 3600,
		"collectors": []any{map[string]any{"collectorId": "execute", "config": map[string]any{
			"script":    script,
			"secretEnv": map[string]any{"API_TOKEN": "${{ secrets." + secret + " }}"},
			"timeout":   10000,
		}}},
	}
}

// Issue 16, acceptance 1: a script check using $API_TOKEN from a stored secret passes against a
// local server that requires it; the value never appears in runs, logs, API responses,
// PostgreSQL or the entity's Temporal history; a secret that is gone fails the run naming it.
func TestSecretStoreEndToEnd(t *testing.T) {
	t.Parallel()
	logs := &testutil.LockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := newAPIStackWith(t, stackOptions{logger: logger})
	api := a.admin

	var authorized, refused atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+storedSecret {
			refused.Add(1)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
		_, _ = fmt.Fprint(w, "welcome")
	}))
	t.Cleanup(target.Close)

	// Store the secret: the answer is metadata only.
	put := string(expectStatus(t, api.Do("PUT", "/api/v1/secrets/API_TOKEN", map[string]any{"value": storedSecret, "description": "target token"}), http.StatusOK).Body)
	if !strings.Contains(put, `"name":"API_TOKEN"`) || !strings.Contains(put, "target token") {
		t.Fatalf("put answer: %s", put)
	}

	sys := apiSystemID(t, "secretenv")
	expectStatus(t, api.Do("POST", "/api/v1/systems", map[string]any{"id": sys, "name": "Secret env"}), http.StatusCreated)
	// The script echoes the token too: the output must come back masked.
	script := `echo "token=$API_TOKEN"; curl -fsS -H "Authorization: Bearer $API_TOKEN" ` + target.URL + `/private`
	var check struct {
		ID string `json:"id"`
	}
	expectStatus(t, api.Do("POST", "/api/v1/checks", scriptCheck("uses a secret", "API_TOKEN", script)), http.StatusCreated).Decode(t, &check)
	expectStatus(t, api.Do("PUT", "/api/v1/systems/"+sys+"/checks/"+check.ID, map[string]any{"enabled": true}), http.StatusCreated)

	runPath := "/api/v1/systems/" + sys + "/checks/" + check.ID + "/run"
	var ok apiRun
	okRes := expectStatus(t, api.Do("POST", runPath, nil, "Idempotency-Key", "with-secret"), http.StatusOK)
	okRes.Decode(t, &ok)
	if ok.Run.Status != "healthy" || authorized.Load() == 0 {
		t.Fatalf("run with the stored secret: status %q, %d authorized / %d refused requests: %s", ok.Run.Status, authorized.Load(), refused.Load(), okRes.Body)
	}
	runBody := string(expectStatus(t, api.Do("GET", "/api/v1/runs/"+url.PathEscape(ok.Run.ID), nil), http.StatusOK).Body)
	if !strings.Contains(runBody, "token=****") {
		t.Errorf("the run's output does not show the masked token: %s", runBody)
	}

	// An unknown secret fails the run with its name: delete the secret the check references.
	// Deleting a secret a check still references is refused, naming the check; force deletes it.
	refusedDelete := string(expectStatus(t, api.Do("DELETE", "/api/v1/secrets/API_TOKEN", nil), http.StatusConflict).Body)
	if !strings.Contains(refusedDelete, `\"uses a secret\" (`+check.ID+`)`) || !strings.Contains(refusedDelete, "force=true") {
		t.Fatalf("delete of a referenced secret: %s", refusedDelete)
	}
	expectStatus(t, api.Do("GET", "/api/v1/secrets/API_TOKEN", nil), http.StatusOK)
	expectStatus(t, api.Do("DELETE", "/api/v1/secrets/API_TOKEN?force=true", nil), http.StatusNoContent)
	expectStatus(t, api.Do("GET", "/api/v1/secrets/API_TOKEN", nil), http.StatusNotFound)
	var gone apiRun
	goneRes := expectStatus(t, api.Do("POST", runPath, nil, "Idempotency-Key", "secret-gone"), http.StatusOK)
	goneRes.Decode(t, &gone)
	goneBody := string(expectStatus(t, api.Do("GET", "/api/v1/runs/"+url.PathEscape(gone.Run.ID), nil), http.StatusOK).Body)
	if gone.Run.Status != "unhealthy" || !strings.Contains(goneBody, "Secret not found: API_TOKEN") {
		t.Fatalf("run without the secret: status %q: %s", gone.Run.Status, goneBody)
	}
	before := authorized.Load() + refused.Load()
	if before == 0 {
		t.Fatal("the target saw no request")
	}

	// API responses.
	bodies := []string{put, string(okRes.Body), runBody, string(goneRes.Body), goneBody}
	for _, path := range []string{"/api/v1/secrets", "/api/v1/checks/" + check.ID, "/api/v1/checks", "/api/v1/runs?systemId=" + sys, "/api/v1/runs/detailed?systemId=" + sys,
		"/api/v1/systems/" + sys + "/health", "/api/v1/events?systemId=" + sys} {
		bodies = append(bodies, string(expectStatus(t, api.Do("GET", path, nil), http.StatusOK).Body))
	}
	for i, b := range bodies {
		if strings.Contains(b, storedSecret) {
			t.Errorf("API response %d holds the secret: %s", i, b)
		}
	}

	// PostgreSQL: every row of every table, as text (the secrets table held the sealed value).
	ctx := context.Background()
	tables, err := a.pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(tables, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("only %d tables: %v", len(names), names)
	}
	for _, tbl := range names {
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM %s t WHERE t::text LIKE '%%' || $1 || '%%'`, pgx.Identifier{tbl}.Sanitize())
		if err := a.pool.QueryRow(ctx, q, storedSecret).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			t.Errorf("table %s has %d rows with the secret in plain text", tbl, n)
		}
	}
	if n := a.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1`, sys); n < 2 {
		t.Errorf("%d runs stored, want at least 2", n)
	}

	// The entity's Temporal history.
	it := shared.temporal.Client.GetWorkflowHistory(ctx, workflows.SystemWorkflowID(sys), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	events := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		if b, _ := protojson.Marshal(ev); strings.Contains(string(b), storedSecret) {
			t.Errorf("history holds the secret: %s", b)
		}
	}
	if events == 0 {
		t.Error("no history for the entity")
	}

	// Logs (DEBUG and up, worker and API).
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, storedSecret) {
			t.Errorf("log line holds the secret: %s", line)
		}
	}
	if !strings.Contains(logs.String(), "secret stored") {
		t.Error("the logs do not show the secret write: the log path was not captured")
	}
}

// Issue 16: the secret store's API validates names and values, never answers a value, and a
// check whose secretEnv references a secret that is not stored is a 422 naming field and secret.
func TestSecretStoreAPIValidation(t *testing.T) {
	t.Parallel()
	a := newAPIStack(t)
	api := a.admin

	cases := []struct {
		name, path string
		body       any
		field      string
	}{
		{"bad name", "/api/v1/secrets/1-starts-with-digit", map[string]any{"value": "v"}, "name"},
		{"missing value", "/api/v1/secrets/OK_NAME", map[string]any{"description": "d"}, "value"},
		{"empty value", "/api/v1/secrets/OK_NAME", map[string]any{"value": ""}, "value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := string(expectStatus(t, api.Do("PUT", c.path, c.body), http.StatusUnprocessableEntity).Body)
			if !strings.Contains(body, `"field":"`+c.field+`"`) {
				t.Fatalf("422 does not name %s: %s", c.field, body)
			}
		})
	}
	expectStatus(t, api.Do("PUT", "/api/v1/secrets/KNOWN", map[string]any{"value": storedSecret}), http.StatusOK)
	list := string(expectStatus(t, api.Do("GET", "/api/v1/secrets", nil), http.StatusOK).Body)
	if !strings.Contains(list, `"name":"KNOWN"`) || strings.Contains(list, storedSecret) || strings.Contains(list, "OK_NAME") {
		t.Fatalf("list: %s", list)
	}

	checkCases := []struct {
		name   string
		secret string
		status int
	}{
		{"unknown secret", "MISSING_TOKEN", http.StatusUnprocessableEntity},
		{"known secret", "KNOWN", http.StatusCreated},
	}
	var created string
	for _, c := range checkCases {
		res := expectStatus(t, api.Do("POST", "/api/v1/checks", scriptCheck(c.name, c.secret, "true")), c.status)
		if c.status == http.StatusUnprocessableEntity {
			body := string(res.Body)
			if !strings.Contains(body, `collectors[0].config.secretEnv.API_TOKEN`) || !strings.Contains(body, c.secret) {
				t.Fatalf("422 does not name the field and the secret: %s", body)
			}
			continue
		}
		var out struct {
			ID string `json:"id"`
		}
		res.Decode(t, &out)
		created = out.ID
	}
	// A PATCH that sends collectors referencing an unknown secret is checked too.
	patch := scriptCheck("patched", "ALSO_MISSING", "true")
	body := string(expectStatus(t, api.Do("PATCH", "/api/v1/checks/"+created, map[string]any{"collectors": patch["collectors"]}), http.StatusUnprocessableEntity).Body)
	if !strings.Contains(body, `collectors[0].config.secretEnv.API_TOKEN`) || !strings.Contains(body, "ALSO_MISSING") {
		t.Fatalf("PATCH 422 does not name the field and the secret: %s", body)
	}
}

// Issue 16: a probe-only worker (a remote location) resolves secretEnv from the secret store it
// is given (--secret-store-url); one without a secret store fails the run naming the secret it
// cannot resolve, instead of running the script without it.
func TestSecretsOnProbeOnlyWorkers(t *testing.T) {
	t.Parallel()
	a := newAPIStack(t)
	api := a.admin
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+storedSecret {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = fmt.Fprint(w, "welcome")
	}))
	t.Cleanup(target.Close)
	expectStatus(t, api.Do("PUT", "/api/v1/secrets/API_TOKEN", map[string]any{"value": storedSecret}), http.StatusOK)
	for _, w := range []struct {
		loc         string
		secretStore bool
	}{{"with-store", true}, {"without-store", false}} {
		cfg := worker.Config{Client: shared.temporal.Client, ProbesOnly: true, Location: w.loc, ProbeTaskQueue: a.probes,
			SecretBox: a.opts.box, Logger: testutil.Logger(t)}
		if w.secretStore {
			cfg.SecretStore = a.pool
		}
		wk, err := worker.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(wk.Stop)
	}
	var check struct {
		ID string `json:"id"`
	}
	expectStatus(t, api.Do("POST", "/api/v1/checks", scriptCheck("remote secret", "API_TOKEN",
		`curl -fsS -H "Authorization: Bearer $API_TOKEN" `+target.URL+`/private`)), http.StatusCreated).Decode(t, &check)
	for _, tc := range []struct {
		loc, status, message string
	}{
		{"with-store", "healthy", ""},
		{"without-store", "unhealthy", "Required secret not available: API_TOKEN (this worker has no secret store"},
	} {
		sys := apiSystemID(t, tc.loc)
		expectStatus(t, api.Do("POST", "/api/v1/systems", map[string]any{"id": sys, "name": sys}), http.StatusCreated)
		expectStatus(t, api.Do("PUT", "/api/v1/systems/"+sys+"/checks/"+check.ID, map[string]any{"enabled": true, "locations": []string{tc.loc}}), http.StatusCreated)
		var run apiRun
		expectStatus(t, api.Do("POST", "/api/v1/systems/"+sys+"/checks/"+check.ID+"/run", nil), http.StatusOK).Decode(t, &run)
		body := string(expectStatus(t, api.Do("GET", "/api/v1/runs/"+url.PathEscape(run.Run.ID), nil), http.StatusOK).Body)
		if run.Run.Status != tc.status || !strings.Contains(body, tc.message) || strings.Contains(body, storedSecret) {
			t.Errorf("%s: run %s: %s", tc.loc, run.Run.Status, body)
		}
	}
}

package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/server/apitest"
)

// TestOpenAPIDocumentIsValidAndInSyncWithTheRouter: the served document loads and validates as
// OpenAPI 3.1 (kin-openapi), every registered echo route is documented with its scope and every
// documented operation is routed, and every referenced schema exists.
func TestOpenAPIDocumentIsValidAndInSyncWithTheRouter(t *testing.T) {
	t.Parallel()
	s := New(Config{Version: "test"})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	spec, err := apitest.LoadSpec(context.Background(), rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if spec.Doc.OpenAPI != "3.1.0" || !spec.Doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi = %q, want 3.1.0", spec.Doc.OpenAPI)
	}

	// Documented operations (method + path template) …
	documented := map[string]string{}
	for path, item := range spec.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			scope, _ := op.Extensions["x-required-scope"].(string)
			documented[method+" "+path] = scope
		}
	}
	// … against the routes echo serves (its own registry, not the route table).
	served := map[string]bool{}
	for _, r := range s.echo.Routes() {
		served[r.Method+" "+openAPIPath(r.Path)] = true
	}
	var missing, unrouted []string
	for k := range served {
		if _, ok := documented[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			unrouted = append(unrouted, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unrouted)
	if len(missing) > 0 {
		t.Errorf("routes not in the OpenAPI document: %v", missing)
	}
	if len(unrouted) > 0 {
		t.Errorf("documented operations without a route: %v", unrouted)
	}
	if len(served) < 30 {
		t.Errorf("only %d routes served", len(served))
	}
	// The documented scope is the enforced one.
	for _, r := range s.routes {
		want := r.scope
		if !r.auth {
			want = ""
		} else if want == "" {
			want = "none"
		}
		if got := documented[r.method+" "+r.path]; got != want {
			t.Errorf("%s %s: x-required-scope %q, route scope %q", r.method, r.path, got, want)
		}
	}

	// Every $ref points at a defined schema, and every defined schema is used.
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	used := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				name := strings.TrimPrefix(r, "#/components/schemas/")
				used[name] = true
				if _, ok := schemas[name]; !ok {
					t.Errorf("$ref %s is not defined", r)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	for name := range schemas {
		if !used[name] {
			t.Errorf("schema %s is defined but never used", name)
		}
	}
}

// openAPIPath converts an echo route path back into an OpenAPI template. A parameter followed
// by an escaped colon is an inline verb (/:automationId\:test → /{automationId}:test).
func openAPIPath(p string) string {
	p = strings.ReplaceAll(p, `\:`, "\x00")
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, ":") {
			name, verb, _ := strings.Cut(part[1:], "\x00")
			parts[i] = "{" + name + "}"
			if verb != "" {
				parts[i] += "\x00" + verb
			}
		}
	}
	return strings.ReplaceAll(strings.Join(parts, "/"), "\x00", ":")
}

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// maxSecretValueBytes bounds a secret's value.
const maxSecretValueBytes = 64 << 10

// noSecretKeyDetail is the 503 detail of a secret write on a server without a secret key.
const noSecretKeyDetail = "storing a secret needs a secret key; start the server with --secret-key / CHECKFLOW_SECRET_KEY (the key the workers use)"

// secretStoreRoutes lists this file's endpoints (appended to routeTable): the secret store that
// collectors' secretEnv references as ${{ secrets.NAME }}.
func (s *Server) secretStoreRoutes() []route {
	const get, put, del = http.MethodGet, http.MethodPut, http.MethodDelete
	return []route{
		{method: put, path: v1 + "/secrets/{name}", auth: true, scope: ScopeAdmin, handler: s.putSecret, doc: opDoc{id: "putSecret", tag: "Settings", summary: "Create or replace a secret",
			desc: "Body `{\"value\": \"…\", \"description\"?: \"…\"}`. The name is a letter followed by letters, digits, `_` or `-` (at most 63 characters); collectors reference it in `secretEnv` as `${{ secrets.NAME }}`. " +
				"The value is sealed with the server's secret key before it is stored and is never shown again: the answer is the secret's metadata. 503 when the server has no secret key.",
			body: "SecretPut", status: 200, response: "Secret", errors: []int{503}}},
		{method: get, path: v1 + "/secrets", auth: true, scope: ScopeAdmin, handler: s.listSecrets, doc: opDoc{id: "listSecrets", tag: "Settings", summary: "List secrets (names and metadata, never values), by name",
			status: 200, response: "SecretList"}},
		{method: get, path: v1 + "/secrets/{name}", auth: true, scope: ScopeAdmin, handler: s.getSecret, doc: opDoc{id: "getSecret", tag: "Settings", summary: "A secret's metadata (never its value)",
			status: 200, response: "Secret"}},
		{method: del, path: v1 + "/secrets/{name}", auth: true, scope: ScopeAdmin, handler: s.deleteSecret, doc: opDoc{id: "deleteSecret", tag: "Settings", summary: "Delete a secret",
			desc:   "409 naming them when checks still reference the secret in their `secretEnv`; with `force=true` it is deleted anyway and their runs fail with `Secret not found: NAME`.",
			query:  []param{{name: "force", desc: "Delete even when checks reference the secret.", schema: schema{"type": "boolean", "default": false}}},
			status: 204, errors: []int{409}}},
	}
}

type secretPutBody struct {
	Value       *string `json:"value"`
	Description *string `json:"description"`
}

func (s *Server) putSecret(c echo.Context) error {
	name, err := pathParam(c, "name")
	if err != nil {
		return err
	}
	var b secretPutBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	var fe []FieldError
	if !health.ValidSecretName(name) {
		fe = append(fe, FieldError{Field: "name", Message: fmt.Sprintf("must start with a letter and contain only letters, digits, '_' and '-' (at most %d characters)", health.MaxSecretNameLength)})
	}
	switch {
	case b.Value == nil:
		fe = append(fe, FieldError{Field: "value", Message: "is required"})
	case *b.Value == "":
		fe = append(fe, FieldError{Field: "value", Message: "must not be empty"})
	case len(*b.Value) > maxSecretValueBytes:
		fe = append(fe, FieldError{Field: "value", Message: fmt.Sprintf("must be at most %d bytes", maxSecretValueBytes)})
	}
	if len(fe) > 0 {
		return invalidFields(fe...)
	}
	if s.box == nil {
		return newProblem(http.StatusServiceUnavailable, ProblemUnavailable, noSecretKeyDetail)
	}
	sealed, err := s.box.Seal(*b.Value)
	if err != nil {
		return fmt.Errorf("seal secret %s: %w", name, err)
	}
	desc := ""
	if b.Description != nil {
		desc = *b.Description
	}
	sec, _, err := s.store.PutSecret(c.Request().Context(), name, sealed, desc)
	if err != nil {
		return err
	}
	s.log.Info("secret stored", "name", name)
	return c.JSON(http.StatusOK, sec)
}

func (s *Server) listSecrets(c echo.Context) error {
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	list, err := s.store.ListSecrets(c.Request().Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.Secret{}
	}
	return c.JSON(http.StatusOK, map[string]any{"secrets": list})
}

func (s *Server) getSecret(c echo.Context) error {
	name, err := pathParam(c, "name")
	if err != nil {
		return err
	}
	sec, err := s.store.GetSecret(c.Request().Context(), name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sec)
}

func (s *Server) deleteSecret(c echo.Context) error {
	name, err := pathParam(c, "name")
	if err != nil {
		return err
	}
	q := newQuery(c)
	force := q.boolean("force")
	if err := q.finish(); err != nil {
		return err
	}
	if !health.ValidSecretName(name) {
		return notFoundProblem(fmt.Sprintf("secret %q not found", name))
	}
	ctx := c.Request().Context()
	users, err := s.store.SecretUsers(ctx, name)
	if err != nil {
		return err
	}
	if len(users) > 0 && !force {
		var names []string
		for _, u := range users {
			names = append(names, fmt.Sprintf("%q (%s)", u.Name, u.ID))
		}
		return conflictProblem(fmt.Sprintf("secret %s is referenced by %d check(s): %s; change them first, or delete with ?force=true (their runs then fail with \"Secret not found: %s\")",
			name, len(users), strings.Join(names, ", "), name))
	}
	if err := s.store.DeleteSecret(ctx, name); err != nil {
		return err
	}
	s.log.Info("secret deleted", "name", name)
	return c.NoContent(http.StatusNoContent)
}

// unknownSecretFields reports every secretEnv entry of the collectors that references a secret
// not in the store, as collectors[i].config.secretEnv.ENV naming the secret.
func (s *Server) unknownSecretFields(ctx context.Context, entries []checks.CollectorEntry) ([]FieldError, error) {
	type use struct {
		field string
		refs  []string
	}
	var uses []use
	var names []string
	for i, e := range entries {
		var cfg struct {
			SecretEnv map[string]any `json:"secretEnv"`
		}
		if len(e.Config) == 0 || json.Unmarshal(e.Config, &cfg) != nil {
			continue // the schema validation reports a bad config
		}
		for _, env := range sortedKeys(cfg.SecretEnv) {
			tmpl, ok := cfg.SecretEnv[env].(string)
			if !ok {
				continue
			}
			refs := health.SecretReferences(tmpl)
			uses = append(uses, use{field: fmt.Sprintf("collectors[%d].config.secretEnv.%s", i, env), refs: refs})
			for _, r := range refs {
				if !slices.Contains(names, r) {
					names = append(names, r)
				}
			}
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	missing, err := s.store.MissingSecrets(ctx, names)
	if err != nil {
		return nil, err
	}
	var fe []FieldError
	for _, u := range uses {
		for _, r := range u.refs {
			if slices.Contains(missing, r) {
				fe = append(fe, FieldError{Field: u.field, Message: fmt.Sprintf("secret %q is not in the secret store (create it with PUT /api/v1/secrets/%s)", r, r)})
			}
		}
	}
	return fe, nil
}

// secretStoreSchemas are this file's component schemas (merged in componentSchemas).
func secretStoreSchemas() schema {
	return schema{
		"SecretPut": object([]string{"value"}, schema{
			"value":       strDesc("The secret value (sealed before it is stored; never shown again)."),
			"description": strDesc("What the secret is for (at most 1000 characters)."),
		}),
		"Secret": object([]string{"name", "description", "createdAt", "updatedAt"}, schema{
			"name":        strDesc("Referenced in secretEnv as ${{ secrets.NAME }}."),
			"description": str(),
			"createdAt":   dateTime(),
			"updatedAt":   dateTime(),
		}),
		"SecretList": object([]string{"secrets"}, schema{"secrets": arrayOf(ref("Secret"))}),
	}
}

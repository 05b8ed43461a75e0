package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/store"
)

// ForceHeader is the request header with which a caller holding the admin scope writes to an
// entity managed by GitOps (the §12.3 lock answers 403 otherwise). `checkflow apply` sends it
// with an admin token to reconcile the entities of its context.
const ForceHeader = "X-Checkflow-Force"

// forceDoc documents ForceHeader on the locked operations' route descriptions.
const forceDoc = "An entity managed by GitOps (provenance) is locked: writes to it answer 403 managed-by-gitops unless the token has the admin scope and the request sends the header `" +
	ForceHeader + ": true` (how `checkflow apply` reconciles its own entities)."

// provenanceKinds are the kinds the lock knows.
var provenanceKinds = []string{store.ProvenanceKindHealthcheck, store.ProvenanceKindSystem, store.ProvenanceKindAutomation,
	store.ProvenanceKindNotificationChannel, store.ProvenanceKindMaintenanceWindow}

// gitOpsRoutes lists this file's endpoints (appended to routeTable): API tokens and GitOps
// provenance.
func (s *Server) gitOpsRoutes() []route {
	const get, post, put, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
	return []route{
		{method: post, path: v1 + "/tokens", auth: true, scope: ScopeAdmin, handler: s.createToken, doc: opDoc{id: "createToken", tag: "Settings", summary: "Create an API token",
			desc: "Body `{\"name\": \"ci\", \"scopes\": [\"config:manage\"]}` (scopes: status:read, config:read, config:manage, details:read, admin). " +
				"Answers 201 with the token `{id, name, scopes, createdAt, secret}`: the secret (`cf_…`) is shown only in this answer (only its hash is stored).",
			body: "TokenCreate", status: 201, response: "TokenCreated"}},
		{method: get, path: v1 + "/tokens", auth: true, scope: ScopeAdmin, handler: s.listTokens, doc: opDoc{id: "listTokens", tag: "Settings", summary: "List API tokens (revoked ones too), oldest first",
			desc: "Answers `{\"tokens\": [{id, name, scopes, createdAt, lastUsedAt?, revokedAt?}]}`; secrets are never shown.", status: 200, response: "TokenList"}},
		{method: del, path: v1 + "/tokens/{tokenId}", auth: true, scope: ScopeAdmin, handler: s.revokeToken, doc: opDoc{id: "revokeToken", tag: "Settings", summary: "Revoke an API token",
			desc: "It stops authenticating at once; revoking a revoked token keeps its first revocation time.", status: 204}},
		{method: get, path: v1 + "/provenance", auth: true, scope: ScopeConfigRead, handler: s.listProvenance, doc: opDoc{id: "listProvenance", tag: "Settings", summary: "List the entities managed by GitOps",
			desc:  "Answers `{\"provenance\": [{kind, entityId, source, createdAt, updatedAt}]}` ordered by kind and entity id; source is the GitOps context (`checkflow apply --context`). " + forceDoc,
			query: []param{{name: "kind", desc: "Only this kind.", schema: schema{"type": "string", "enum": provenanceKinds}}}, status: 200, response: "ProvenanceList"}},
		{method: put, path: v1 + "/provenance/{kind}/{entityId}", auth: true, scope: ScopeAdmin, handler: s.putProvenance, doc: opDoc{id: "setProvenance", tag: "Settings", summary: "Mark an entity as managed by a GitOps context",
			desc: "Body `{\"source\": \"<context>\"}` (1–200 characters). kind is Healthcheck (entityId: the check id), System (the system id), Automation (the automation id), NotificationChannel (the channel id) or MaintenanceWindow (the window id); the entity must exist. " +
				"Answers 200 with the record. " + forceDoc, body: "ProvenancePut", status: 200, response: "Provenance"}},
		{method: del, path: v1 + "/provenance/{kind}/{entityId}", auth: true, scope: ScopeAdmin, handler: s.deleteProvenance, doc: opDoc{id: "deleteProvenance", tag: "Settings", summary: "Release an entity from GitOps management",
			desc: "404 when the entity is not managed.", status: 204}},
	}
}

// lockRequestKey carries the request's echo.Context in the request context, so that
// gitOpsLock — which handlers call with the request context only — can see the caller's
// principal and the force header.
type lockRequestKey struct{}

// installLockContext registers the Pre middleware that puts the echo.Context in the request
// context (New calls it once, before the routes).
func (s *Server) installLockContext() {
	if s.echo == nil {
		return
	}
	s.echo.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), lockRequestKey{}, c)))
			return next(c)
		}
	})
}

// forceOverride reports whether the request of ctx may write to a managed entity: it sends
// ForceHeader: true and its token has the admin scope. A forced request without admin is a
// 403 saying so.
func (s *Server) forceOverride(ctx context.Context, kind, id string) (bool, error) {
	c, ok := ctx.Value(lockRequestKey{}).(echo.Context)
	if !ok || !strings.EqualFold(strings.TrimSpace(c.Request().Header.Get(ForceHeader)), "true") {
		return false, nil
	}
	p, _ := c.Get(principalKey).(*principal)
	if !p.has(ScopeAdmin) {
		return false, newProblem(http.StatusForbidden, ProblemGitOps,
			kind+" is managed by GitOps; "+ForceHeader+" needs a token with the admin scope.")
	}
	s.log.Info("gitops lock overridden", "kind", kind, "entityId", id, "tokenId", p.tokenID)
	return true, nil
}

type tokenCreateBody struct {
	Name   *string  `json:"name"`
	Scopes []string `json:"scopes"`
}

type createdToken struct {
	store.Token
	Secret string `json:"secret"`
}

func (s *Server) createToken(c echo.Context) error {
	var b tokenCreateBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	name := ""
	if b.Name != nil {
		name = *b.Name
	}
	secret, tok, err := s.store.CreateToken(c.Request().Context(), name, b.Scopes)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, createdToken{Token: tok, Secret: secret})
}

func (s *Server) listTokens(c echo.Context) error {
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	list, err := s.store.ListTokens(c.Request().Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.Token{}
	}
	return c.JSON(http.StatusOK, map[string]any{"tokens": list})
}

func (s *Server) revokeToken(c echo.Context) error {
	id, err := pathParam(c, "tokenId")
	if err != nil {
		return err
	}
	if err := s.store.RevokeToken(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listProvenance(c echo.Context) error {
	q := newQuery(c)
	kind := q.oneOf("kind", provenanceKinds...)
	if err := q.finish(); err != nil {
		return err
	}
	list, err := s.store.ListProvenance(c.Request().Context(), kind)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.Provenance{}
	}
	return c.JSON(http.StatusOK, map[string]any{"provenance": list})
}

// provenanceParams reads {kind} and {entityId} and checks that the entity exists.
func (s *Server) provenanceParams(c echo.Context, mustExist bool) (kind, id string, err error) {
	if kind, err = pathParam(c, "kind"); err != nil {
		return "", "", err
	}
	if id, err = pathParam(c, "entityId"); err != nil {
		return "", "", err
	}
	ctx := c.Request().Context()
	switch kind {
	case store.ProvenanceKindHealthcheck:
		if mustExist {
			_, err = s.store.GetConfiguration(ctx, id)
		}
	case store.ProvenanceKindSystem:
		if mustExist {
			_, err = s.store.GetSystem(ctx, id)
		}
	case store.ProvenanceKindAutomation:
		if mustExist {
			_, err = s.store.GetAutomation(ctx, id)
		}
	case store.ProvenanceKindNotificationChannel:
		if mustExist {
			_, err = s.store.GetChannel(ctx, id)
		}
	case store.ProvenanceKindMaintenanceWindow:
		if mustExist {
			_, err = s.store.GetMaintenance(ctx, id)
		}
	default:
		return "", "", notFoundProblem("unknown kind " + kind + " (Healthcheck, System, Automation, NotificationChannel or MaintenanceWindow)")
	}
	return kind, id, err
}

type provenanceBody struct {
	Source *string `json:"source"`
}

func (s *Server) putProvenance(c echo.Context) error {
	kind, id, err := s.provenanceParams(c, true)
	if err != nil {
		return err
	}
	var b provenanceBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	if b.Source == nil || strings.TrimSpace(*b.Source) == "" {
		return invalidField("source", "is required")
	}
	if len([]rune(*b.Source)) > 200 {
		return invalidField("source", "must be at most 200 characters")
	}
	p, err := s.store.SetProvenance(c.Request().Context(), kind, id, *b.Source)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) deleteProvenance(c echo.Context) error {
	kind, id, err := s.provenanceParams(c, false)
	if err != nil {
		return err
	}
	if err := s.store.DeleteProvenance(c.Request().Context(), kind, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// gitOpsSchemas are the OpenAPI schemas of the tokens and provenance operations.
func gitOpsSchemas() schema {
	scopes := arrayOf(schema{"type": "string", "enum": store.TokenScopes()})
	tokenProps := func(extra schema) schema {
		p := schema{
			"id":         str(),
			"name":       str(),
			"scopes":     scopes,
			"createdAt":  dateTime(),
			"lastUsedAt": describe(dateTime(), "When it last authenticated a request (absent: never)."),
			"revokedAt":  describe(dateTime(), "When it was revoked (absent: it is valid)."),
		}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	provenance := object([]string{"kind", "entityId", "source", "createdAt", "updatedAt"}, schema{
		"kind":      schema{"type": "string", "enum": provenanceKinds},
		"entityId":  str(),
		"source":    strDesc("The GitOps context that manages the entity (`checkflow apply --context`)."),
		"createdAt": dateTime(),
		"updatedAt": dateTime(),
	})
	return schema{
		"TokenCreate": object([]string{"scopes"}, schema{
			"name":   strDesc("A name to recognise the token by."),
			"scopes": describe(scopes, "What the token may do."),
		}),
		"Token":          object([]string{"id", "name", "scopes", "createdAt"}, tokenProps(nil)),
		"TokenCreated":   object([]string{"id", "name", "scopes", "createdAt", "secret"}, tokenProps(schema{"secret": strDesc("The bearer token (`cf_…`): shown only in this answer.")})),
		"TokenList":      object([]string{"tokens"}, schema{"tokens": arrayOf(ref("Token"))}),
		"Provenance":     provenance,
		"ProvenanceList": object([]string{"provenance"}, schema{"provenance": arrayOf(ref("Provenance"))}),
		"ProvenancePut": object([]string{"source"}, schema{"source": schema{"type": "string", "minLength": 1, "maxLength": 200,
			"description": "The GitOps context that manages the entity."}}),
	}
}

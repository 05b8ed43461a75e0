package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/store"
)

// Scopes a token may carry (stored with the token; see store.TokenScopes).
//
//   - status:read — health status, history, transitions (public unless PublicStatus is off);
//   - config:read — systems' checks, strategies, assignments, retention, settings, notification
//     channels, maintenance windows, the delivery log, automations and their runs;
//   - config:manage — every configuration change and run-now (implies config:read);
//   - details:read — run results and the event outbox;
//   - admin — everything.
//
// Every valid token may read status, like every signed-in user in the reference.
const (
	ScopeStatusRead   = store.ScopeStatusRead
	ScopeConfigRead   = store.ScopeConfigRead
	ScopeConfigManage = store.ScopeConfigManage
	ScopeDetailsRead  = store.ScopeDetailsRead
	ScopeAdmin        = store.ScopeAdmin
)

// ParseScopes parses a comma-separated scope list ("status:read,config:read").
func ParseScopes(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !slices.Contains(store.TokenScopes(), part) {
			return nil, fmt.Errorf("unknown scope %q (known: %s)", part, strings.Join(store.TokenScopes(), ", "))
		}
		out = append(out, part)
	}
	if len(out) == 0 {
		return nil, errors.New("at least one scope is required")
	}
	return out, nil
}

// principal is the authenticated caller of a request (nil when no token was sent).
type principal struct {
	tokenID string
	scopes  []string
}

// has reports whether the principal holds scope, with the implications: admin implies every
// scope, config:manage implies config:read, and any token implies status:read.
func (p *principal) has(scope string) bool {
	if p == nil {
		return false
	}
	if scope == ScopeStatusRead || slices.Contains(p.scopes, ScopeAdmin) || slices.Contains(p.scopes, scope) {
		return true
	}
	return scope == ScopeConfigRead && slices.Contains(p.scopes, ScopeConfigManage)
}

const principalKey = "checkflow.principal"

// authenticate reads the bearer token, if any. A malformed Authorization header or an unknown
// or revoked token is a 401, even on public endpoints.
func (s *Server) authenticate(c echo.Context) (*principal, error) {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	if h == "" {
		return nil, nil
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, unauthorized(c, "the Authorization header must be \"Bearer <token>\"")
	}
	// Bounded like any request, also on routes that set their own (longer) deadline.
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.timeouts.Request)
	defer cancel()
	t, err := s.store.AuthenticateToken(ctx, strings.TrimSpace(token), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, unauthorized(c, "the token is unknown or revoked")
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return &principal{tokenID: t.ID, scopes: t.Scopes}, nil
}

func unauthorized(c echo.Context, detail string) *Problem {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="checkflow"`)
	return newProblem(http.StatusUnauthorized, ProblemUnauthorized, detail)
}

func forbidden(c echo.Context, scope string) *Problem {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, fmt.Sprintf(`Bearer realm="checkflow", error="insufficient_scope", scope=%q`, scope))
	return newProblem(http.StatusForbidden, ProblemForbidden, fmt.Sprintf("this request needs a token with the %s scope", scope))
}

// requireScope authenticates the caller and checks that it holds scope ("" = public). With
// PublicStatus on, status:read needs no token.
func (s *Server) requireScope(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, err := s.authenticate(c)
			if err != nil {
				return err
			}
			c.Set(principalKey, p)
			if err := s.allow(c, p, scope); err != nil {
				return err
			}
			return next(c)
		}
	}
}

func (s *Server) allow(c echo.Context, p *principal, scope string) error {
	switch {
	case scope == "":
		return nil
	case scope == ScopeStatusRead && s.publicStatus:
		return nil
	case p == nil:
		return unauthorized(c, fmt.Sprintf("this request needs a bearer token with the %s scope", scope))
	case !p.has(scope):
		return forbidden(c, scope)
	}
	return nil
}

// requireMore checks an additional scope inside a handler (a parameter that reveals more, such
// as detailed=true on the aggregated history).
func (s *Server) requireMore(c echo.Context, scope string) error {
	p, _ := c.Get(principalKey).(*principal)
	return s.allow(c, p, scope)
}

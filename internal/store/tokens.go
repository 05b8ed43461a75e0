package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// API token scopes (the api_tokens_scopes_check constraint lists the same names).
const (
	// ScopeStatusRead reads health status, run history and transitions.
	ScopeStatusRead = "status:read"
	// ScopeConfigRead reads systems' check configuration, strategies and settings.
	ScopeConfigRead = "config:read"
	// ScopeConfigManage changes configuration and runs checks on demand.
	ScopeConfigManage = "config:manage"
	// ScopeDetailsRead reads run results and the event outbox.
	ScopeDetailsRead = "details:read"
	// ScopeAdmin implies every other scope.
	ScopeAdmin = "admin"
)

// TokenScopes lists every scope a token may carry, in a stable order.
func TokenScopes() []string {
	return []string{ScopeStatusRead, ScopeConfigRead, ScopeConfigManage, ScopeDetailsRead, ScopeAdmin}
}

// tokenPrefix starts every token, so that a leaked token is recognisable (secret scanners).
const tokenPrefix = "cf_"

// maxTokenLength bounds what AuthenticateToken hashes; real tokens are 46 characters.
const maxTokenLength = 256

// tokenTouchInterval is how stale last_used_at may get before a use rewrites it (one write per
// token per interval, not one per request).
const tokenTouchInterval = time.Minute

// Token is an API token without its secret (only a hash of the secret is stored).
type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
}

// HashToken is the stored form of a token: its SHA-256 digest.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// newTokenSecret returns "cf_" followed by 256 random bits, base64url-encoded.
func newTokenSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("store: token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// normScopes validates scopes (at least one, each known) and returns them deduplicated in the
// order of TokenScopes.
func normScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, invalid("scopes", "at least one scope is required")
	}
	known := TokenScopes()
	for _, sc := range scopes {
		if !slices.Contains(known, sc) {
			return nil, invalid("scopes", fmt.Sprintf("unknown scope %q (known: %s)", sc, strings.Join(known, ", ")))
		}
	}
	out := make([]string, 0, len(scopes))
	for _, k := range known {
		if slices.Contains(scopes, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

const tokenColumns = `id::text, name, scopes, created_at, last_used_at, revoked_at`

func scanToken(row pgx.Row) (Token, error) {
	var t Token
	if err := row.Scan(&t.ID, &t.Name, &t.Scopes, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt); err != nil {
		return Token{}, err
	}
	t.CreatedAt, t.LastUsedAt, t.RevokedAt = utc(t.CreatedAt), utcPtr(t.LastUsedAt), utcPtr(t.RevokedAt)
	return t, nil
}

func insertToken(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string, scopes []string) (string, Token, error) {
	secret, err := newTokenSecret()
	if err != nil {
		return "", Token{}, err
	}
	t, err := scanToken(q.QueryRow(ctx, `INSERT INTO api_tokens (name, token_hash, scopes) VALUES ($1, $2, $3)
		RETURNING `+tokenColumns, name, HashToken(secret), scopes))
	if err != nil {
		return "", Token{}, err
	}
	return secret, t, nil
}

func checkTokenName(name string) error {
	if len([]rune(name)) > 200 {
		return invalid("name", "must be at most 200 characters")
	}
	return nil
}

// CreateToken creates a token with the given scopes and returns its secret — the only time the
// secret exists outside the caller — and the stored token. Unknown scopes are a
// *ValidationError.
func (s *Store) CreateToken(ctx context.Context, name string, scopes []string) (string, Token, error) {
	sc, err := normScopes(scopes)
	if err != nil {
		return "", Token{}, err
	}
	if err := checkTokenName(name); err != nil {
		return "", Token{}, err
	}
	secret, t, err := insertToken(ctx, s.pool, name, sc)
	if err != nil {
		return "", Token{}, wrapErr("create token", err)
	}
	return secret, t, nil
}

// RotateToken revokes every active token named name and creates a new one with scopes, in one
// transaction: afterwards exactly one active token has that name (the dev bootstrap token).
func (s *Store) RotateToken(ctx context.Context, name string, scopes []string) (string, Token, error) {
	sc, err := normScopes(scopes)
	if err != nil {
		return "", Token{}, err
	}
	if err := checkTokenName(name); err != nil {
		return "", Token{}, err
	}
	var secret string
	var t Token
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL`, name); err != nil {
			return err
		}
		var err error
		secret, t, err = insertToken(ctx, tx, name, sc)
		return err
	})
	if err != nil {
		return "", Token{}, wrapErr("rotate token", err)
	}
	return secret, t, nil
}

// AuthenticateToken returns the active (not revoked) token whose secret is secret, or a
// *NotFoundError ("Token not found") for an unknown, malformed or revoked one. It records the
// use in last_used_at when that is older than a minute (one round trip either way).
func (s *Store) AuthenticateToken(ctx context.Context, secret string, now time.Time) (Token, error) {
	if secret == "" || len(secret) > maxTokenLength {
		return Token{}, notFound("Token", "")
	}
	t, err := scanToken(s.pool.QueryRow(ctx, `WITH t AS (
			SELECT `+tokenColumns+` FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL
		), touched AS (
			UPDATE api_tokens SET last_used_at = $2
			WHERE id = (SELECT id::uuid FROM t) AND (last_used_at IS NULL OR last_used_at < $3)
			RETURNING id
		)
		SELECT * FROM t`, HashToken(secret), now.UTC(), now.UTC().Add(-tokenTouchInterval)))
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, notFound("Token", "")
	}
	if err != nil {
		return Token{}, wrapErr("authenticate token", err)
	}
	return t, nil
}

// GetToken returns one token (revoked or not) or a *NotFoundError.
func (s *Store) GetToken(ctx context.Context, id string) (Token, error) {
	n, ok := normUUID(id)
	if !ok {
		return Token{}, notFound("Token", id)
	}
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1`, n))
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, notFound("Token", id)
	}
	return t, wrapErr("get token", err)
}

// ListTokens returns every token (revoked ones too), oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, wrapErr("list tokens", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) { return scanToken(r) })
	return out, wrapErr("list tokens", err)
}

// RevokeToken revokes a token; it stops authenticating at once. A missing token is a
// *NotFoundError; revoking a revoked token keeps its first revocation time.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	n, ok := normUUID(id)
	if !ok {
		return notFound("Token", id)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, n)
	if err != nil {
		return wrapErr("revoke token", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Token", id)
	}
	return nil
}

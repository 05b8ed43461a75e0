package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokensCreateAuthenticateRevoke(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := ctxT(t)

	secret, tok, err := s.CreateToken(ctx, "ci", []string{ScopeConfigRead, ScopeStatusRead, ScopeConfigRead})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) < 40 {
		t.Fatalf("secret %q does not look like a token", secret)
	}
	if got, want := strings.Join(tok.Scopes, ","), "status:read,config:read"; got != want {
		t.Errorf("scopes = %s, want %s (deduplicated, canonical order)", got, want)
	}
	// Only the hash is stored.
	var stored []byte
	if err := pool.QueryRow(ctx, `SELECT token_hash FROM api_tokens WHERE id = $1`, tok.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, HashToken(secret)) || bytes.Contains(stored, []byte(secret)) {
		t.Fatalf("stored hash %x is not sha256 of the secret", stored)
	}

	got, err := s.AuthenticateToken(ctx, secret, t0)
	if err != nil || got.ID != tok.ID || got.Name != "ci" {
		t.Fatalf("authenticate = %+v, %v", got, err)
	}
	after, _ := s.GetToken(ctx, tok.ID)
	if after.LastUsedAt == nil || !after.LastUsedAt.Equal(t0) {
		t.Fatalf("last_used_at = %v, want %v", after.LastUsedAt, t0)
	}
	// Within a minute the use is not written again; after a minute it is.
	if _, err := s.AuthenticateToken(ctx, secret, t0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if after, _ = s.GetToken(ctx, tok.ID); !after.LastUsedAt.Equal(t0) {
		t.Errorf("last_used_at rewritten within a minute: %v", after.LastUsedAt)
	}
	if _, err := s.AuthenticateToken(ctx, secret, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if after, _ = s.GetToken(ctx, tok.ID); !after.LastUsedAt.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("last_used_at = %v after a minute, want %v", after.LastUsedAt, t0.Add(2*time.Minute))
	}

	for _, bad := range []string{"", secret + "x", "cf_nope", strings.Repeat("a", 1000)} {
		if _, err := s.AuthenticateToken(ctx, bad, t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("authenticate %q: %v, want ErrNotFound", bad, err)
		}
	}

	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, secret, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token authenticates: %v", err)
	}
	if err := s.RevokeToken(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke missing: %v", err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 1 || list[0].RevokedAt == nil {
		t.Fatalf("list = %+v, %v", list, err)
	}
}

func TestTokenScopesAreValidated(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	for _, scopes := range [][]string{nil, {}, {"root"}, {ScopeAdmin, "status:write"}} {
		if _, _, err := s.CreateToken(ctx, "x", scopes); !isValidation(err, "scopes") {
			t.Errorf("scopes %v: %v, want a validation error on scopes", scopes, err)
		}
	}
	if _, _, err := s.CreateToken(ctx, strings.Repeat("n", 201), []string{ScopeAdmin}); !isValidation(err, "name") {
		t.Errorf("long name: %v", err)
	}
}

func TestRotateTokenKeepsOneActive(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	first, _, err := s.RotateToken(ctx, "dev bootstrap", []string{ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := s.CreateToken(ctx, "other", []string{ScopeStatusRead})
	if err != nil {
		t.Fatal(err)
	}
	second, tok, err := s.RotateToken(ctx, "dev bootstrap", []string{ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Fatal("rotation returned the same secret")
	}
	if _, err := s.AuthenticateToken(ctx, first, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("rotated-out token still authenticates: %v", err)
	}
	if got, err := s.AuthenticateToken(ctx, second, t0); err != nil || got.ID != tok.ID {
		t.Errorf("new token: %+v %v", got, err)
	}
	if _, err := s.AuthenticateToken(ctx, other, t0); err != nil {
		t.Errorf("a token of another name was revoked: %v", err)
	}
}

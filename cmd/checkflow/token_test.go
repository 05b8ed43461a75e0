package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/server"
)

// `checkflow token create` prints a working token once, with the asked scopes; bad scopes are
// one clear line naming --scopes.
func TestTokenCreate(t *testing.T) {
	t.Parallel()
	dbURL := testutil.NewDatabase(t)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"token", "create", "--scopes", "status:read, config:manage", "--name", "ci", "--database-url", dbURL}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	secret := strings.TrimSpace(out.String())
	if strings.Count(out.String(), "\n") != 1 || !strings.HasPrefix(secret, "cf_") {
		t.Fatalf("stdout = %q, want exactly the token", out.String())
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tok, err := store.New(pool).AuthenticateToken(context.Background(), secret, time.Now())
	if err != nil || tok.Name != "ci" || strings.Join(tok.Scopes, ",") != "status:read,config:manage" {
		t.Fatalf("token = %+v, %v", tok, err)
	}
	if strings.Contains(errb.String(), secret) {
		t.Error("the token was also printed to stderr")
	}

	for _, args := range [][]string{
		{"token", "create", "--scopes", "root", "--database-url", dbURL},
		{"token", "create", "--database-url", dbURL},
		{"token", "delete"},
		{"token"},
	} {
		var o, e bytes.Buffer
		if code := run(context.Background(), args, &o, &e); code != 2 || o.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q", args, code, o.String())
		}
		lines := nonEmptyLines(e.String())
		if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "--") {
			t.Errorf("%v: stderr %q does not name the flag", args, e.String())
		}
	}
}

// dev's bootstrap admin token is new at every start and only the newest one works.
func TestDevAdminTokenRotates(t *testing.T) {
	t.Parallel()
	pool := testutil.NewPool(t)
	ctx := context.Background()
	first, err := devAdminToken(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	second, err := devAdminToken(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(pool)
	if _, err := s.AuthenticateToken(ctx, first, time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("previous dev token still works: %v", err)
	}
	tok, err := s.AuthenticateToken(ctx, second, time.Now())
	if err != nil || len(tok.Scopes) != 1 || tok.Scopes[0] != store.ScopeAdmin {
		t.Fatalf("dev token = %+v, %v", tok, err)
	}
}

// `checkflow token list|create --api|revoke` manage tokens through a real API server with an
// admin token, while `token create` without --api stays on the database; secrets are printed
// once, on stdout only, and never listed.
func TestTokenThroughAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testutil.NewDatabase(t)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	admin, _, err := st.CreateToken(ctx, "bootstrap", []string{store.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	reader, _, err := st.CreateToken(ctx, "reader", []string{store.ScopeStatusRead})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(server.New(server.Config{Pool: pool}).Handler())
	defer hs.Close()
	cmd := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"token"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}

	// create through the API (--server implies --api; --api with --server too).
	code, out, errOut := cmd("create", "--server", hs.URL, "--token", admin, "--scopes", "config:read,status:read", "--name", "ci")
	secret := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(secret, "cf_") || strings.Count(out, "\n") != 1 || strings.Contains(errOut, secret) {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	tok, err := st.AuthenticateToken(ctx, secret, time.Now())
	if err != nil || tok.Name != "ci" || strings.Join(tok.Scopes, ",") != "status:read,config:read" {
		t.Fatalf("created token = %+v, %v", tok, err)
	}

	// list shows it (and the others) without any secret.
	code, out, errOut = cmd("list", "--server", hs.URL, "--token", admin)
	if code != 0 || !strings.Contains(out, tok.ID) || !strings.Contains(out, "status:read,config:read") || strings.Count(out, "\n") != 4 {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}
	for _, s := range []string{secret, admin, reader} {
		if strings.Contains(out, s) {
			t.Error("list prints a token secret")
		}
	}

	// revoke (flags after the id) stops it at once.
	if code, out, errOut = cmd("revoke", tok.ID, "--server", hs.URL, "--token", admin); code != 0 || !strings.Contains(out, "revoked token "+tok.ID) {
		t.Fatalf("revoke: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := st.AuthenticateToken(ctx, secret, time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked token still authenticates: %v", err)
	}

	// Without the admin scope: 403, exit 1, nothing created.
	code, out, errOut = cmd("create", "--api", "--server", hs.URL, "--token", reader, "--scopes", "admin")
	if code != 1 || out != "" || !strings.Contains(errOut, "403") {
		t.Errorf("create with a status:read token: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Missing scopes and a missing id are errors before any request.
	if code, _, errOut = cmd("create", "--api", "--server", hs.URL, "--token", admin); code != 1 || !strings.Contains(errOut, "--scopes is required") {
		t.Errorf("create without scopes: exit %d, %q", code, errOut)
	}
	if code, _, errOut = cmd("revoke", "--server", hs.URL, "--token", admin); code != 1 || !strings.Contains(errOut, "expected the id") {
		t.Errorf("revoke without id: exit %d, %q", code, errOut)
	}
	list, err := st.ListTokens(ctx)
	if err != nil || len(list) != 3 {
		t.Errorf("tokens after the refused calls = %d (%v), want 3", len(list), err)
	}
}

// Only --api (not --api=false) and --server send `token create` to the API.
func TestTokenCreateViaAPI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"--scopes", "admin"}, false},
		{[]string{"--scopes", "admin", "--database-url", "postgres://x"}, false},
		{[]string{"--api", "--scopes", "admin"}, true},
		{[]string{"-api=true"}, true},
		{[]string{"--api=false", "--scopes", "admin"}, false},
		{[]string{"--server", "http://x"}, true},
		{[]string{"--server=http://x"}, true},
		{[]string{"--", "--api"}, false},
	}
	for _, tt := range tests {
		if got := viaAPI(tt.args); got != tt.want {
			t.Errorf("viaAPI(%v) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
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

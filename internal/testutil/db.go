// Package testutil gives tests real infrastructure: a fresh migrated PostgreSQL database per test
// and one embedded Temporal server per test binary, plus small helpers around them.
package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/schema"
)

// DefaultTestServerURL is tried when TEST_DATABASE_URL is not set.
const DefaultTestServerURL = "postgres://postgres@127.0.0.1:5432/postgres"

// ServerURL finds the PostgreSQL server tests use: TEST_DATABASE_URL, else 127.0.0.1:5432, else a
// private cluster under $TMPDIR/checkflow-test-pg (created on first use and left running so that
// later test binaries reuse it). The returned URL names the "postgres" maintenance database.
func ServerURL(ctx context.Context) (string, error) {
	raw := os.Getenv("TEST_DATABASE_URL")
	cfg := devenv.PostgresConfig{URL: raw}
	if raw == "" {
		cfg.URL = DefaultTestServerURL
		cfg.ClusterDir = filepath.Join(os.TempDir(), "checkflow-test-pg")
	}
	pg, err := devenv.EnsurePostgres(ctx, cfg)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(pg.URL)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", pg.URL, err)
	}
	u.Path = "/postgres"
	return u.String(), nil
}

func withDatabase(serverURL, name string) string {
	u, _ := url.Parse(serverURL)
	u.Path = "/" + name
	return u.String()
}

// templateName is the migrated template database for the current set of migrations.
func templateName() string { return "checkflow_tmpl_" + schema.Fingerprint() }

// ensureTemplate creates and migrates the template database once per migration fingerprint.
// A session-level advisory lock makes concurrent test binaries wait for the first one.
func ensureTemplate(ctx context.Context, admin *pgx.Conn, serverURL string) error {
	name := templateName()
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended('checkflow-test-template', 0))"); err != nil {
		return fmt.Errorf("lock template: %w", err)
	}
	defer func() {
		_, _ = admin.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtextextended('checkflow-test-template', 0))")
	}()
	var isTemplate *bool
	err := admin.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&isTemplate)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("look up template: %w", err)
	}
	if isTemplate != nil && *isTemplate {
		return nil
	}
	if isTemplate != nil { // left half-made by a crashed run
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop stale template: %w", err)
		}
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	if _, err := schema.MigrateURL(ctx, withDatabase(serverURL, name)); err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" IS_TEMPLATE true"); err != nil {
		return fmt.Errorf("mark template: %w", err)
	}
	return nil
}

// NewDatabase creates a fresh database with every migration applied and returns its URL. The
// database is dropped when the test passes and kept (its URL logged) when it fails. Safe with
// t.Parallel().
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serverURL, err := ServerURL(ctx)
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatalf("testutil: connect %s: %v", serverURL, err)
	}
	defer admin.Close(context.Background())
	if err := ensureTemplate(ctx, admin, serverURL); err != nil {
		t.Fatalf("testutil: %v", err)
	}
	name := "checkflow_test_" + randomHex(6)
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{templateName()}.Sanitize()
	for attempt := 0; ; attempt++ {
		_, err = admin.Exec(ctx, create)
		var pgErr *pgconn.PgError
		// 55006: the template is briefly in use by another CREATE DATABASE; try again.
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || attempt == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("testutil: create test database: %v", err)
	}
	dbURL := withDatabase(serverURL, name)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testutil: keeping database of failed test: %s", dbURL)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			t.Logf("testutil: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("testutil: drop %s: %v", name, err)
		}
	})
	return dbURL
}

// NewPool returns a pool on a fresh migrated database (see NewDatabase), closed at cleanup.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dbURL := NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("testutil: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// UniqueName returns a name derived from the test's name that is unique across runs, fit for a
// task queue, workflow id or system id.
func UniqueName(t testing.TB) string {
	n := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		}
		return '-'
	}, t.Name())
	if len(n) > 40 {
		n = n[:40]
	}
	return n + "-" + randomHex(4)
}

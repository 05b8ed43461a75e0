// Package schema holds checkflow's database shape: numbered SQL migrations embedded in the binary
// and applied with tern. It is the only place in the repository with DDL.
package schema

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var files embed.FS

// VersionTable is tern's bookkeeping table.
const VersionTable = "checkflow_schema_version"

// Migrations returns the embedded migration files (000_name.sql …).
func Migrations() fs.FS {
	sub, err := fs.Sub(files, "migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// Migrate applies every pending migration on conn. tern takes an advisory lock, so concurrent
// starts of several processes are safe; an up-to-date database is left untouched.
func Migrate(ctx context.Context, conn *pgx.Conn) (applied int32, err error) {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return 0, fmt.Errorf("migrator: %w", err)
	}
	if err := m.LoadMigrations(Migrations()); err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	before, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("current schema version: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	after, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("current schema version: %w", err)
	}
	return after - before, nil
}

// MigrateURL connects to databaseURL and applies pending migrations.
func MigrateURL(ctx context.Context, databaseURL string) (int32, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return 0, fmt.Errorf("connect for migrations: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return Migrate(ctx, conn)
}

// Fingerprint is a short hash of all migration files; databases migrated from the same
// fingerprint have the same shape (used to name test template databases).
func Fingerprint() string {
	names, _ := fs.Glob(Migrations(), "*.sql")
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, _ := fs.ReadFile(Migrations(), n)
		h.Write([]byte(n))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

package store

import (
	"context"
	"io/fs"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/schema"
)

// TestMigrateTwiceIsNoop: on an empty database schema.Migrate applies every migration and
// creates every table; a second run applies nothing and leaves the shape unchanged (issue 4,
// acceptance 1).
func TestMigrateTwiceIsNoop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := newEmptyDatabase(ctx, t)

	files, _ := fs.Glob(schema.Migrations(), "*.sql")
	applied, err := schema.Migrate(ctx, conn)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if int(applied) != len(files) {
		t.Fatalf("first migrate applied %d migrations, want %d", applied, len(files))
	}
	shape := func() string {
		var s string
		if err := conn.QueryRow(ctx, `SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' ORDER BY table_name, column_name)
			FROM information_schema.columns WHERE table_schema = 'public'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := shape()
	for _, table := range []string{"systems", "health_check_configurations", "system_health_checks", "health_check_runs",
		"health_check_aggregates", "health_check_state_transitions", "system_health_state", "check_health_state",
		"health_events", "platform_settings", "gitops_provenance"} {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing after migrate (err %v)", table, err)
		}
	}
	var tsCols int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = 'public' AND data_type = 'timestamp without time zone'`).Scan(&tsCols); err != nil {
		t.Fatal(err)
	}
	if tsCols != 0 {
		t.Errorf("%d columns are timestamp without time zone; want timestamptz everywhere", tsCols)
	}
	var hasRunIndex bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = 'health_check_runs'
		AND indexdef LIKE '%(system_id, configuration_id, "timestamp" DESC)%')`).Scan(&hasRunIndex); err != nil {
		t.Fatal(err)
	}
	if !hasRunIndex {
		t.Error("runs index (system_id, configuration_id, timestamp desc) missing")
	}

	applied, err = schema.Migrate(ctx, conn)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if applied != 0 {
		t.Fatalf("second migrate applied %d migrations, want 0", applied)
	}
	if after := shape(); after != before {
		t.Fatal("second migrate changed the schema")
	}
}

func randomSuffix(t *testing.T) string {
	u := testutil.UniqueName(t)
	return u[len(u)-8:]
}

// newEmptyDatabase creates a database without any migration, dropped when the test ends.
func newEmptyDatabase(ctx context.Context, t *testing.T) *pgx.Conn {
	t.Helper()
	serverURL, err := testutil.ServerURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	name := "checkflow_migrate_" + time.Now().UTC().Format("150405") + "_" + randomSuffix(t)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), serverURL)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	u, _ := url.Parse(serverURL)
	u.Path = "/" + name
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })

	return conn
}

// Migration 006 moves existing runs into day partitions (none left in the default partition
// for the days it covers, nothing lost), and its down migration brings them back.
func TestRunsPartitionMigrationKeepsRuns(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := newEmptyDatabase(ctx, t)
	m, err := migrate.NewMigrator(ctx, conn, schema.VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(schema.Migrations()); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO systems (id, name) VALUES ('s', 's')`)
	exec(`INSERT INTO health_check_configurations (id, name, strategy_id, interval_seconds) VALUES ('00000000-0000-0000-0000-000000000001', 'c', 'http', 60)`)
	exec(`INSERT INTO health_check_runs (id, configuration_id, system_id, status, "timestamp")
		SELECT 's:' || d, '00000000-0000-0000-0000-000000000001', 's', 'healthy', now() - d * interval '1 day'
		FROM generate_series(0, 9) d`)
	count := func(table string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := m.MigrateTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if n, d := count("health_check_runs"), count("health_check_runs_default"); n != 10 || d != 0 {
		t.Fatalf("after 006: %d runs (%d in the default partition), want 10 in day partitions", n, d)
	}
	var parts int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'health_check_runs'::regclass`).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts < 18 {
		t.Fatalf("%d partitions, want the 10 days of runs, a week ahead and the default", parts)
	}
	if err := m.MigrateTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if n := count("health_check_runs"); n != 10 {
		t.Fatalf("after the down migration: %d runs, want 10", n)
	}
}

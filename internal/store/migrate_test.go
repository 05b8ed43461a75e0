package store

import (
	"context"
	"io/fs"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	defer conn.Close(context.Background())

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

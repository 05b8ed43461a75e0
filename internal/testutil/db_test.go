package testutil

import (
	"context"
	"testing"

	"github.com/checkflow/checkflow/schema"
)

// Each test gets its own migrated database: the same row can be inserted in both without conflict,
// and the migration version table is filled.
func TestNewDatabaseIsMigratedAndIsolated(t *testing.T) {
	names := make(chan string, 2)
	for _, sub := range []string{"a", "b"} {
		t.Run(sub, func(t *testing.T) {
			t.Parallel()
			pool := NewPool(t)
			ctx := context.Background()
			var version int32
			if err := pool.QueryRow(ctx, "SELECT version FROM "+schema.VersionTable).Scan(&version); err != nil || version < 1 {
				t.Fatalf("schema version = %d, %v; want ≥1", version, err)
			}
			if _, err := pool.Exec(ctx, "INSERT INTO systems (id, name) VALUES ('same-id', 'x')"); err != nil {
				t.Fatalf("insert into a fresh database: %v", err)
			}
			var db string
			if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
				t.Fatal(err)
			}
			names <- db
		})
	}
	t.Cleanup(func() {
		close(names)
		a, b := <-names, <-names
		if a == b || a == "" {
			t.Errorf("parallel tests shared database %q / %q", a, b)
		}
	})
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName(t), UniqueName(t)
	if a == b {
		t.Errorf("UniqueName repeated %q", a)
	}
	for _, r := range a {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			t.Fatalf("UniqueName %q has %q", a, r)
		}
	}
}

package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/schema"
	"github.com/checkflow/checkflow/workflows"
)

// Diagnostics are read-only activities that report on the worker's environment.
type Diagnostics struct {
	Pool *pgxpool.Pool
}

// DatabaseInfo reports the PostgreSQL server version, database name, schema version and time.
func (d *Diagnostics) DatabaseInfo(ctx context.Context) (workflows.DatabaseInfo, error) {
	var info workflows.DatabaseInfo
	err := d.Pool.QueryRow(ctx, "SELECT current_setting('server_version'), current_database(), now()").
		Scan(&info.ServerVersion, &info.Database, &info.DatabaseTimeUT)
	if err != nil {
		return info, fmt.Errorf("query database info: %w", err)
	}
	err = d.Pool.QueryRow(ctx, "SELECT version FROM "+pgx.Identifier{schema.VersionTable}.Sanitize()).Scan(&info.SchemaVersion)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return info, fmt.Errorf("query schema version: %w", err)
	}
	return info, nil
}

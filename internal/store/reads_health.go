package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// HealthRead is what the health endpoints show of one system: its stored view (nil when the
// entity has not written one) and its enabled checks with their stored state.
type HealthRead struct {
	View   *CurrentView
	Checks []CheckRow
}

// ReadHealth reads the health of many systems with two set-based queries whatever their
// number (the views, the enabled checks). Every requested system is in the result; whether
// a system exists is ExistingSystems' business.
func (s *Store) ReadHealth(ctx context.Context, systemIDs []string) (map[string]HealthRead, error) {
	out := make(map[string]HealthRead, len(systemIDs))
	if len(systemIDs) == 0 {
		return out, nil
	}
	views, err := s.GetViews(ctx, systemIDs)
	if err != nil {
		return nil, err
	}
	checks, err := s.CheckStates(ctx, systemIDs)
	if err != nil {
		return nil, err
	}
	for _, id := range systemIDs {
		hr := HealthRead{Checks: checks[id]}
		if v, ok := views[id]; ok {
			hr.View = &v
		}
		out[id] = hr
	}
	return out, nil
}

// ExistingSystems returns which of systemIDs are systems, with ONE query; an empty list does
// not touch the database.
func (s *Store) ExistingSystems(ctx context.Context, systemIDs []string) (map[string]bool, error) {
	out := make(map[string]bool, len(systemIDs))
	if len(systemIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM systems WHERE id = ANY($1)`, systemIDs)
	if err != nil {
		return nil, wrapErr("existing systems", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrapErr("existing systems", err)
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

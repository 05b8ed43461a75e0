package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// HealthRead is what the health endpoints show of one system: its stored view (nil when the
// entity has not written one), its enabled checks with their stored state, and whether a
// maintenance window covers it at the evaluation time.
type HealthRead struct {
	View   *CurrentView
	Checks []CheckRow
	// InMaintenance: a maintenance window covers the system at the evaluation time (false when
	// the lookup failed: fail-open, as the reference does).
	InMaintenance bool
}

// ReadHealth is ReadHealthAt with the current time as evaluation time.
func (s *Store) ReadHealth(ctx context.Context, systemIDs []string) (map[string]HealthRead, error) {
	return s.ReadHealthAt(ctx, systemIDs, time.Now())
}

// ReadHealthAt reads the health of many systems at evaluation time `at` with three set-based
// queries whatever their number (the views, the enabled checks, the maintenance windows
// covering them at `at`). Every requested system is in the result; whether a system exists is
// ExistingSystems' business. A failed maintenance lookup leaves InMaintenance false.
func (s *Store) ReadHealthAt(ctx context.Context, systemIDs []string, at time.Time) (map[string]HealthRead, error) {
	out, err := s.readHealth(ctx, systemIDs)
	if err != nil || len(systemIDs) == 0 {
		return out, err
	}
	inMaint, err := s.SystemsInMaintenance(ctx, systemIDs, at)
	if err != nil {
		return out, nil // fail-open: not in maintenance
	}
	for id, hr := range out {
		hr.InMaintenance = inMaint[id]
		out[id] = hr
	}
	return out, nil
}

// readHealth reads the views and enabled checks of many systems (two queries).
func (s *Store) readHealth(ctx context.Context, systemIDs []string) (map[string]HealthRead, error) {
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

package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Maintenance window states relative to a time (MaintenanceFilter.State).
const (
	MaintenanceScheduled = "scheduled"
	MaintenanceActive    = "active"
	MaintenanceEnded     = "ended"
)

// Maintenance edges (MarkMaintenanceEdge).
const (
	MaintenanceEdgeStarted = "started"
	MaintenanceEdgeEnded   = "ended"
)

// MaintenanceWindow is a maintenance window. StartedAt/EndedAt are when its workflow handled
// the start/end edge.
type MaintenanceWindow struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	SystemIDs   []string   `json:"systemIds"`
	StartsAt    time.Time  `json:"startsAt"`
	EndsAt      time.Time  `json:"endsAt"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	EndedAt     *time.Time `json:"endedAt,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

// MaintenanceInput is a window's configuration (create, or full replacement on update).
type MaintenanceInput struct {
	Title, Description string
	SystemIDs          []string
	StartsAt, EndsAt   time.Time
}

// MaintenanceFilter: SystemID (windows covering it), State "scheduled"|"active"|"ended"
// relative to At (starts_at > At | starts_at <= At < ends_at | ends_at <= At; "" = all).
// Ordered by starts_at DESC, id. Limit/Offset as Page.
type MaintenanceFilter struct {
	SystemID, State string
	At              time.Time
	Limit, Offset   int
}

const maintenanceColumns = `id::text, title, description, system_ids, starts_at, ends_at, started_at, ended_at,
	created_at, updated_at`

func scanMaintenance(row pgx.Row) (MaintenanceWindow, error) {
	var m MaintenanceWindow
	if err := row.Scan(&m.ID, &m.Title, &m.Description, &m.SystemIDs, &m.StartsAt, &m.EndsAt, &m.StartedAt, &m.EndedAt,
		&m.CreatedAt, &m.UpdatedAt); err != nil {
		return MaintenanceWindow{}, err
	}
	if m.SystemIDs == nil {
		m.SystemIDs = []string{}
	}
	m.StartsAt, m.EndsAt, m.CreatedAt, m.UpdatedAt = utc(m.StartsAt), utc(m.EndsAt), utc(m.CreatedAt), utc(m.UpdatedAt)
	m.StartedAt, m.EndedAt = utcPtr(m.StartedAt), utcPtr(m.EndedAt)
	return m, nil
}

// validate checks a window's configuration; it returns the de-duplicated system ids.
func (in MaintenanceInput) validate() ([]string, error) {
	var fe fieldErrors
	if n := len([]rune(in.Title)); strings.TrimSpace(in.Title) == "" || n > 200 {
		fe.add("title", "must be 1 to 200 characters")
	}
	if len([]rune(in.Description)) > 4000 {
		fe.add("description", "must be at most 4000 characters")
	}
	systems := dedupe(in.SystemIDs)
	switch {
	case len(systems) == 0:
		fe.add("systemIds", "must list at least one system id")
	case len(systems) > MaxChannelSystems:
		fe.add("systemIds", fmt.Sprintf("at most %d system ids", MaxChannelSystems))
	case slices.Contains(systems, ""):
		fe.add("systemIds", "a system id must not be empty")
	}
	if in.StartsAt.IsZero() {
		fe.add("startsAt", "is required")
	}
	if in.EndsAt.IsZero() {
		fe.add("endsAt", "is required")
	} else if !in.StartsAt.IsZero() && !in.EndsAt.After(in.StartsAt) {
		fe.add("endsAt", "must be after startsAt")
	}
	return systems, fe.err()
}

// CreateMaintenance validates in and inserts the window. Invalid input is a *ValidationError
// (e.g. "endsAt" when it is not after startsAt).
func (s *Store) CreateMaintenance(ctx context.Context, in MaintenanceInput) (MaintenanceWindow, error) {
	systems, err := in.validate()
	if err != nil {
		return MaintenanceWindow{}, err
	}
	m, err := scanMaintenance(s.pool.QueryRow(ctx, `INSERT INTO maintenance_windows (title, description, system_ids, starts_at, ends_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+maintenanceColumns,
		in.Title, in.Description, systems, in.StartsAt.UTC(), in.EndsAt.UTC()))
	return m, wrapErr("create maintenance", err)
}

// GetMaintenance returns one window or a *NotFoundError (also for a malformed id).
func (s *Store) GetMaintenance(ctx context.Context, id string) (MaintenanceWindow, error) {
	uid, ok := normUUID(id)
	if !ok {
		return MaintenanceWindow{}, notFound("Maintenance", id)
	}
	m, err := scanMaintenance(s.pool.QueryRow(ctx, `SELECT `+maintenanceColumns+` FROM maintenance_windows WHERE id = $1`, uid))
	if errors.Is(err, pgx.ErrNoRows) {
		return MaintenanceWindow{}, notFound("Maintenance", id)
	}
	return m, wrapErr("get maintenance", err)
}

// ListMaintenances returns a page of windows matching f, by starts_at DESC, then id. A state
// filter without At is relative to the current time.
func (s *Store) ListMaintenances(ctx context.Context, f MaintenanceFilter) ([]MaintenanceWindow, error) {
	p, err := Page{Limit: f.Limit, Offset: f.Offset}.normalize(DefaultListLimit)
	var fe fieldErrors
	var ve *ValidationError
	if errors.As(err, &ve) {
		fe = append(fe, ve.Errors...)
	}
	at := f.At
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC()
	var state string
	switch f.State {
	case "":
	case MaintenanceScheduled:
		state = "starts_at > $4"
	case MaintenanceActive:
		state = "starts_at <= $4 AND ends_at > $4"
	case MaintenanceEnded:
		state = "ends_at <= $4"
	default:
		fe.add("state", "must be scheduled, active or ended")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	where := "($3 = '' OR system_ids @> ARRAY[$3]::text[])"
	if state != "" {
		where += " AND " + state
	}
	args := []any{p.Limit, p.Offset, f.SystemID}
	if state != "" {
		args = append(args, at)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+maintenanceColumns+` FROM maintenance_windows WHERE `+where+`
		ORDER BY starts_at DESC, id LIMIT $1 OFFSET $2`, args...)
	if err != nil {
		return nil, wrapErr("list maintenances", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MaintenanceWindow, error) { return scanMaintenance(r) })
	return out, wrapErr("list maintenances", err)
}

// UpdateMaintenance replaces the configuration (edge markers untouched; the workflow decides).
func (s *Store) UpdateMaintenance(ctx context.Context, id string, in MaintenanceInput) (MaintenanceWindow, error) {
	uid, ok := normUUID(id)
	if !ok {
		return MaintenanceWindow{}, notFound("Maintenance", id)
	}
	systems, err := in.validate()
	if err != nil {
		return MaintenanceWindow{}, err
	}
	m, err := scanMaintenance(s.pool.QueryRow(ctx, `UPDATE maintenance_windows SET
			title = $2, description = $3, system_ids = $4, starts_at = $5, ends_at = $6, updated_at = now()
		WHERE id = $1 RETURNING `+maintenanceColumns,
		uid, in.Title, in.Description, systems, in.StartsAt.UTC(), in.EndsAt.UTC()))
	if errors.Is(err, pgx.ErrNoRows) {
		return MaintenanceWindow{}, notFound("Maintenance", id)
	}
	return m, wrapErr("update maintenance", err)
}

// DeleteMaintenance deletes a window; a missing one is a *NotFoundError.
func (s *Store) DeleteMaintenance(ctx context.Context, id string) error {
	uid, ok := normUUID(id)
	if !ok {
		return notFound("Maintenance", id)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM maintenance_windows WHERE id = $1`, uid)
	if err != nil {
		return wrapErr("delete maintenance", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Maintenance", id)
	}
	return nil
}

// MarkMaintenanceEdge sets started_at (edge "started") or ended_at ("ended") to at when NULL; a
// marker already set keeps its first time. A missing window is a *NotFoundError, another edge
// a *ValidationError on "edge".
func (s *Store) MarkMaintenanceEdge(ctx context.Context, id, edge string, at time.Time) error {
	var col string
	switch edge {
	case MaintenanceEdgeStarted:
		col = "started_at"
	case MaintenanceEdgeEnded:
		col = "ended_at"
	default:
		return invalid("edge", "must be started or ended")
	}
	uid, ok := normUUID(id)
	if !ok {
		return notFound("Maintenance", id)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE maintenance_windows SET `+col+` = coalesce(`+col+`, $2) WHERE id = $1`, uid, at.UTC())
	if err != nil {
		return wrapErr("mark maintenance edge", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Maintenance", id)
	}
	return nil
}

// InMaintenance reports whether some window covers systemID at `at` (starts_at <= at < ends_at).
func (s *Store) InMaintenance(ctx context.Context, systemID string, at time.Time) (bool, error) {
	var in bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM maintenance_windows
		WHERE system_ids @> ARRAY[$1]::text[] AND starts_at <= $2 AND ends_at > $2)`, systemID, at.UTC()).Scan(&in)
	if err != nil {
		return false, wrapErr("in maintenance", err)
	}
	return in, nil
}

// SystemsInMaintenance returns which of systemIDs a window covers at `at` (starts_at <= at <
// ends_at), with ONE query; an empty id list does not touch the database.
func (s *Store) SystemsInMaintenance(ctx context.Context, systemIDs []string, at time.Time) (map[string]bool, error) {
	out := make(map[string]bool, len(systemIDs))
	if len(systemIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT s.id FROM maintenance_windows m
		CROSS JOIN LATERAL unnest(m.system_ids) AS s(id)
		WHERE m.system_ids && $1::text[] AND m.starts_at <= $2 AND m.ends_at > $2 AND s.id = ANY ($1::text[])`,
		systemIDs, at.UTC())
	if err != nil {
		return nil, wrapErr("systems in maintenance", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrapErr("systems in maintenance", err)
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// UnfinishedMaintenances lists ids of windows whose end edge was not handled (ended_at IS NULL),
// oldest start first: the reconcile job makes sure their workflows run.
func (s *Store) UnfinishedMaintenances(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text FROM maintenance_windows WHERE ended_at IS NULL ORDER BY starts_at, id`)
	if err != nil {
		return nil, wrapErr("unfinished maintenances", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, wrapErr("unfinished maintenances", err)
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// System is a service a team runs (checkflow keeps its own small catalog).
type System struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Labels      map[string]string `json:"labels"`
	CreatedAt   time.Time         `json:"createdAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
}

// SystemInput creates a system. ID must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}.
type SystemInput struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Labels      map[string]string `json:"labels"`
}

// SystemPatch updates the fields that are non-nil.
type SystemPatch struct {
	Name        *string            `json:"name,omitempty"`
	Description *string            `json:"description,omitempty"`
	Labels      *map[string]string `json:"labels,omitempty"`
}

const systemColumns = `id, name, description, labels, created_at, updated_at`

func scanSystem(row pgx.Row) (System, error) {
	var s System
	var labels []byte
	if err := row.Scan(&s.ID, &s.Name, &s.Description, &labels, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return System{}, err
	}
	s.Labels = map[string]string{}
	if len(labels) > 0 {
		if err := json.Unmarshal(labels, &s.Labels); err != nil {
			// Labels written by other tools may hold non-string values; keep what fits.
			var loose map[string]any
			_ = json.Unmarshal(labels, &loose)
			for k, v := range loose {
				if str, ok := v.(string); ok {
					s.Labels[k] = str
				}
			}
		}
	}
	s.CreatedAt, s.UpdatedAt = utc(s.CreatedAt), utc(s.UpdatedAt)
	return s, nil
}

func labelsJSON(l map[string]string) []byte {
	if l == nil {
		return []byte("{}")
	}
	b, _ := json.Marshal(l) // map[string]string always marshals
	return b
}

// CreateSystem inserts a system. A duplicate id is ErrConflict; a malformed id or name is a
// *ValidationError.
func (s *Store) CreateSystem(ctx context.Context, in SystemInput) (System, error) {
	row := s.pool.QueryRow(ctx, `INSERT INTO systems (id, name, description, labels)
		VALUES ($1, $2, $3, $4) RETURNING `+systemColumns,
		in.ID, in.Name, in.Description, labelsJSON(in.Labels))
	sys, err := scanSystem(row)
	return sys, wrapErr("create system", err)
}

// GetSystem returns one system or a *NotFoundError.
func (s *Store) GetSystem(ctx context.Context, id string) (System, error) {
	sys, err := scanSystem(s.pool.QueryRow(ctx, `SELECT `+systemColumns+` FROM systems WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return System{}, notFound("System", id)
	}
	return sys, wrapErr("get system", err)
}

// ListSystems returns a page of systems ordered by id, and the total number of systems.
func (s *Store) ListSystems(ctx context.Context, page Page) ([]System, int, error) {
	page, err := page.normalize(DefaultListLimit)
	if err != nil {
		return nil, 0, err
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+systemColumns+` FROM systems ORDER BY id LIMIT $1 OFFSET $2`, page.Limit, page.Offset)
	b.Queue(`SELECT count(*) FROM systems`)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, 0, wrapErr("list systems", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (System, error) { return scanSystem(r) })
	if err != nil {
		return nil, 0, wrapErr("list systems", err)
	}
	var total int
	if err := br.QueryRow().Scan(&total); err != nil {
		return nil, 0, wrapErr("count systems", err)
	}
	return out, total, nil
}

// UpdateSystem applies patch and returns the updated system (*NotFoundError when absent).
func (s *Store) UpdateSystem(ctx context.Context, id string, patch SystemPatch) (System, error) {
	var labels []byte
	if patch.Labels != nil {
		labels = labelsJSON(*patch.Labels)
	}
	row := s.pool.QueryRow(ctx, `UPDATE systems SET
			name = coalesce($2, name),
			description = coalesce($3, description),
			labels = coalesce($4::jsonb, labels),
			updated_at = now()
		WHERE id = $1 RETURNING `+systemColumns,
		id, patch.Name, patch.Description, labels)
	sys, err := scanSystem(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return System{}, notFound("System", id)
	}
	return sys, wrapErr("update system", err)
}

// DeleteSystem deletes a system and, by cascade, its assignments, runs, aggregates, transitions,
// current state and events. A missing system is a *NotFoundError.
func (s *Store) DeleteSystem(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM systems WHERE id = $1`, id)
	if err != nil {
		return wrapErr("delete system", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("System", id)
	}
	return nil
}

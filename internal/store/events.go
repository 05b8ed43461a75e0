package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is an outbox row (health_events): a trigger event or hook written by Persist.
type Event struct {
	ID             int64           `json:"id"`
	SystemID       string          `json:"systemId"`
	Seq            int64           `json:"seq"`
	Type           string          `json:"type"`
	Payload        json.RawMessage `json:"payload"`
	IdempotencyKey string          `json:"idempotencyKey"`
	CreatedAt      time.Time       `json:"createdAt"`
	DeliveredAt    *time.Time      `json:"deliveredAt,omitempty"`
}

// EventFilter selects events. Results are ordered by id (the write order); Cursor continues a
// previous page: ids greater than Cursor (ascending) or smaller (Descending). Every filter is
// optional.
type EventFilter struct {
	SystemID string
	Type     string
	// Since and Until bound created_at (inclusive).
	Since, Until *time.Time
	// Cursor is the last id of the previous page (0 = from the start).
	Cursor int64
	// Limit defaults to DefaultListLimit, at most MaxListLimit.
	Limit int
	// Descending lists newest first.
	Descending bool
	// UndeliveredOnly keeps events not yet marked delivered.
	UndeliveredOnly bool
}

const eventColumns = `id, system_id, seq, type, payload, idempotency_key, created_at, delivered_at`

func scanEvent(r pgx.CollectableRow) (Event, error) {
	var e Event
	var payload []byte
	if err := r.Scan(&e.ID, &e.SystemID, &e.Seq, &e.Type, &payload, &e.IdempotencyKey, &e.CreatedAt, &e.DeliveredAt); err != nil {
		return e, err
	}
	e.Payload = json.RawMessage(payload)
	e.CreatedAt, e.DeliveredAt = utc(e.CreatedAt), utcPtr(e.DeliveredAt)
	return e, nil
}

// ListEvents returns a page of events matching f.
func (s *Store) ListEvents(ctx context.Context, f EventFilter) ([]Event, error) {
	page, err := Page{Limit: f.Limit}.normalize(DefaultListLimit)
	if err != nil {
		return nil, err
	}
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.SystemID != "" {
		conds = append(conds, "system_id = "+arg(f.SystemID))
	}
	if f.Type != "" {
		conds = append(conds, "type = "+arg(f.Type))
	}
	if f.Since != nil {
		conds = append(conds, "created_at >= "+arg(f.Since.UTC()))
	}
	if f.Until != nil {
		conds = append(conds, "created_at <= "+arg(f.Until.UTC()))
	}
	if f.UndeliveredOnly {
		conds = append(conds, "delivered_at IS NULL")
	}
	dir := "ASC"
	if f.Descending {
		dir = "DESC"
		if f.Cursor > 0 {
			conds = append(conds, "id < "+arg(f.Cursor))
		}
	} else if f.Cursor > 0 {
		conds = append(conds, "id > "+arg(f.Cursor))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM health_events`+where+` ORDER BY id `+dir+` LIMIT `+arg(page.Limit), args...)
	if err != nil {
		return nil, wrapErr("list events", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, wrapErr("list events", err)
	}
	return out, nil
}

// ListUndelivered returns the oldest undelivered outbox events (of one system when systemID is
// set), in write order: the dispatcher's work list.
func (s *Store) ListUndelivered(ctx context.Context, systemID string, limit int) ([]Event, error) {
	return s.ListEvents(ctx, EventFilter{SystemID: systemID, Limit: limit, UndeliveredOnly: true})
}

// MarkDelivered marks events as delivered at `at` and returns how many were newly marked
// (already delivered ones keep their first delivery time).
func (s *Store) MarkDelivered(ctx context.Context, ids []int64, at time.Time) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE health_events SET delivered_at = $2 WHERE id = ANY($1) AND delivered_at IS NULL`, ids, at.UTC())
	if err != nil {
		return 0, wrapErr("mark delivered", err)
	}
	return tag.RowsAffected(), nil
}

// DeleteDeliveredEventsBefore deletes delivered events created before cutoff (outbox hygiene).
func (s *Store) DeleteDeliveredEventsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM health_events WHERE delivered_at IS NOT NULL AND created_at < $1`, cutoff.UTC())
	if err != nil {
		return 0, wrapErr("delete delivered events", err)
	}
	return tag.RowsAffected(), nil
}

package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// Reads the automations API needs besides the automation tables (issue 13): the past event a
// POST /automations/{id}:test evaluates, and whether the channels and checks an automation's
// actions name exist. All of them only read.

// EventByKey returns the outbox event (health_events) with an idempotency key, or a
// *NotFoundError ("Event not found").
func (s *Store) EventByKey(ctx context.Context, idempotencyKey string) (Event, error) {
	if idempotencyKey == "" {
		return Event{}, notFound("Event", idempotencyKey)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM health_events WHERE idempotency_key = $1`, idempotencyKey)
	if err != nil {
		return Event{}, wrapErr("event by key", err)
	}
	ev, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	if errors.Is(err, pgx.ErrNoRows) {
		return Event{}, notFound("Event", idempotencyKey)
	}
	if err != nil {
		return Event{}, wrapErr("event by key", err)
	}
	return ev, nil
}

// ExistingChannels reports which of the given notification channel ids exist (keyed by the ids
// as given; a malformed id does not exist).
func (s *Store) ExistingChannels(ctx context.Context, ids []string) (map[string]bool, error) {
	return s.existingUUIDs(ctx, "existing channels", `SELECT id::text FROM notification_channels WHERE id = ANY($1::uuid[])`, ids)
}

// ExistingConfigurations reports which of the given check (configuration) ids exist (keyed by
// the ids as given; a malformed id does not exist).
func (s *Store) ExistingConfigurations(ctx context.Context, ids []string) (map[string]bool, error) {
	return s.existingUUIDs(ctx, "existing configurations", `SELECT id::text FROM health_check_configurations WHERE id = ANY($1::uuid[])`, ids)
}

// existingUUIDs runs query (one parameter: a uuid[]; one column: the ids found as text) for the
// well-formed ids and maps the answer back to the ids as given.
func (s *Store) existingUUIDs(ctx context.Context, op, query string, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	var lookup []string
	for _, id := range ids {
		if n, ok := normUUID(id); ok {
			lookup = append(lookup, n)
		}
	}
	if len(lookup) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, query, lookup)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrapErr(op, err)
	}
	have := make(map[string]bool, len(found))
	for _, id := range found {
		have[id] = true
	}
	for _, id := range ids {
		if n, ok := normUUID(id); ok && have[n] {
			out[id] = true
		}
	}
	return out, nil
}

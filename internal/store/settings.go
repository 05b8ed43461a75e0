package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// GetSetting returns the JSON document stored under key, or a *NotFoundError.
func (s *Store) GetSetting(ctx context.Context, key string) (json.RawMessage, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM platform_settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Setting", key)
	}
	if err != nil {
		return nil, wrapErr("get setting", err)
	}
	return json.RawMessage(v), nil
}

// PutSetting stores value (valid JSON) under key, replacing any previous document.
func (s *Store) PutSetting(ctx context.Context, key string, value json.RawMessage) error {
	if !json.Valid(value) {
		return invalid("value", "must be valid JSON")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO platform_settings (key, value, updated_at) VALUES ($1, $2::jsonb, now())
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, key, []byte(value))
	return wrapErr("put setting", err)
}

// GetNotificationDefaults returns the platform notification defaults (document
// "healthcheck.notification-defaults"), or the compile-time default {suppressDeEscalations:false}
// when none were set.
func (s *Store) GetNotificationDefaults(ctx context.Context) (health.NotificationPolicy, error) {
	raw, err := s.GetSetting(ctx, health.NotificationDefaultsConfigID)
	if errors.Is(err, ErrNotFound) {
		return health.NotificationPolicy{}, nil
	}
	if err != nil {
		return health.NotificationPolicy{}, err
	}
	p, _, err := health.ParseNotificationPolicy(raw)
	if err != nil {
		return health.NotificationPolicy{}, wrapErr("notification defaults", err)
	}
	return p, nil
}

// SetNotificationDefaults stores the platform notification defaults.
func (s *Store) SetNotificationDefaults(ctx context.Context, p health.NotificationPolicy) error {
	raw, _ := json.Marshal(p)
	return s.PutSetting(ctx, health.NotificationDefaultsConfigID, raw)
}

// GitOps provenance kinds of the reference (§12.3).
const (
	ProvenanceKindHealthcheck = "Healthcheck"
	ProvenanceKindSystem      = "System"
)

// Provenance records that an entity is managed by GitOps, and from where.
type Provenance struct {
	Kind      string    `json:"kind"`
	EntityID  string    `json:"entityId"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func scanProvenance(row pgx.Row) (Provenance, error) {
	var p Provenance
	err := row.Scan(&p.Kind, &p.EntityID, &p.Source, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = utc(p.CreatedAt), utc(p.UpdatedAt)
	return p, err
}

// SetProvenance marks (kind, entityID) as managed by GitOps from source (upsert).
func (s *Store) SetProvenance(ctx context.Context, kind, entityID, source string) (Provenance, error) {
	p, err := scanProvenance(s.pool.QueryRow(ctx, `INSERT INTO gitops_provenance (kind, entity_id, source) VALUES ($1, $2, $3)
		ON CONFLICT (kind, entity_id) DO UPDATE SET source = EXCLUDED.source, updated_at = now()
		RETURNING kind, entity_id, source, created_at, updated_at`, kind, entityID, source))
	return p, wrapErr("set provenance", err)
}

// GetProvenance returns the provenance of (kind, entityID) or a *NotFoundError (not managed).
func (s *Store) GetProvenance(ctx context.Context, kind, entityID string) (Provenance, error) {
	p, err := scanProvenance(s.pool.QueryRow(ctx, `SELECT kind, entity_id, source, created_at, updated_at
		FROM gitops_provenance WHERE kind = $1 AND entity_id = $2`, kind, entityID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Provenance{}, notFound("Provenance", kind+"/"+entityID)
	}
	return p, wrapErr("get provenance", err)
}

// IsManaged reports whether (kind, entityID) is managed by GitOps (the §12.3 lock check).
func (s *Store) IsManaged(ctx context.Context, kind, entityID string) (bool, error) {
	_, err := s.GetProvenance(ctx, kind, entityID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// DeleteProvenance releases (kind, entityID) from GitOps management; a missing record is a
// *NotFoundError.
func (s *Store) DeleteProvenance(ctx context.Context, kind, entityID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM gitops_provenance WHERE kind = $1 AND entity_id = $2`, kind, entityID)
	if err != nil {
		return wrapErr("delete provenance", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Provenance", kind+"/"+entityID)
	}
	return nil
}

// ListProvenance returns the provenance records of a kind ("" = all kinds), ordered.
func (s *Store) ListProvenance(ctx context.Context, kind string) ([]Provenance, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, entity_id, source, created_at, updated_at FROM gitops_provenance
		WHERE $1 = '' OR kind = $1 ORDER BY kind, entity_id`, kind)
	if err != nil {
		return nil, wrapErr("list provenance", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Provenance, error) { return scanProvenance(r) })
	return out, wrapErr("list provenance", err)
}

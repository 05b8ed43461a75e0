package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// SetFlapThresholds sets a system's flap detection thresholds (nil: back to the defaults). Bad
// thresholds are a *ValidationError naming the field; an unknown system a *NotFoundError. The
// system's entity reads them when it (re)loads, so signal it afterwards.
func (s *Store) SetFlapThresholds(ctx context.Context, systemID string, th *health.FlapThresholds) error {
	var raw []byte
	if th != nil {
		if err := th.Validate(); err != nil {
			return invalid("flapDetection", err.Error())
		}
		b, err := json.Marshal(th)
		if err != nil {
			return fmt.Errorf("encode flap thresholds: %w", err)
		}
		raw = b
	}
	tag, err := s.pool.Exec(ctx, `UPDATE systems SET flap_thresholds = $2::jsonb, updated_at = now() WHERE id = $1`, systemID, raw)
	if err != nil {
		return wrapErr("set flap thresholds", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("System", systemID)
	}
	return nil
}

// FlapThresholdsOf returns a system's flap detection thresholds (nil: the defaults).
func (s *Store) FlapThresholdsOf(ctx context.Context, systemID string) (*health.FlapThresholds, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT flap_thresholds FROM systems WHERE id = $1`, systemID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("System", systemID)
	}
	if err != nil {
		return nil, wrapErr("flap thresholds", err)
	}
	if len(raw) == 0 {
		return nil, nil
	}
	var th health.FlapThresholds
	if err := json.Unmarshal(raw, &th); err != nil {
		return nil, fmt.Errorf("stored flap thresholds of %s: %w", systemID, err)
	}
	return &th, nil
}

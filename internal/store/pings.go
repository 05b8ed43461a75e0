package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

func tokenHash(t *PingToken) []byte {
	if t == nil {
		return nil
	}
	return t.Hash
}

func tokenSealed(t *PingToken) string {
	if t == nil {
		return ""
	}
	return t.Sealed
}

// PingTarget is the heartbeat check a ping token belongs to, and the systems it counts for.
type PingTarget struct {
	ConfigurationID string
	Name            string
	StrategyID      string
	Paused          bool
	// SystemIDs are the systems the check is enabled in, sorted.
	SystemIDs []string
}

// PingTargetByHash finds the check whose ping token has the SHA-256 hash; a *NotFoundError when
// no check has it.
func (s *Store) PingTargetByHash(ctx context.Context, hash []byte) (PingTarget, error) {
	var t PingTarget
	err := s.pool.QueryRow(ctx, `SELECT c.id::text, c.name, c.strategy_id, c.paused,
			coalesce(array_agg(a.system_id ORDER BY a.system_id) FILTER (WHERE a.enabled), '{}')
		FROM health_check_configurations c
		LEFT JOIN system_health_checks a ON a.configuration_id = c.id
		WHERE c.ping_token_hash = $1
		GROUP BY c.id`, hash).Scan(&t.ConfigurationID, &t.Name, &t.StrategyID, &t.Paused, &t.SystemIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		return PingTarget{}, notFound("Ping token", "")
	}
	return t, wrapErr("ping target", err)
}

package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// LastNotified is what subscribers were last told about a system (ok=false: never).
func (s *Store) LastNotified(ctx context.Context, systemID string) (st health.Status, ok bool, err error) {
	var status string
	err = s.pool.QueryRow(ctx, `SELECT last_notified_status::text FROM notification_state WHERE system_id = $1`, systemID).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, wrapErr("last notified", err)
	}
	return health.Status(status), true, nil
}

// SetLastNotified records what subscribers were last told about a system (upsert). An unknown
// system is a *NotFoundError, a status that is not one of the three a *ValidationError.
func (s *Store) SetLastNotified(ctx context.Context, systemID string, st health.Status, at time.Time) error {
	switch st {
	case health.Healthy, health.Degraded, health.Unhealthy:
	default:
		return invalid("status", "must be healthy, degraded or unhealthy")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO notification_state (system_id, last_notified_status, last_notified_at)
		VALUES ($1, $2::health_check_status, $3)
		ON CONFLICT (system_id) DO UPDATE SET last_notified_status = EXCLUDED.last_notified_status,
			last_notified_at = EXCLUDED.last_notified_at, updated_at = now()`, systemID, string(st), at.UTC())
	return wrapErr("set last notified", err)
}

// currentSeqSQL is the system's current seq ($1 = system id), 0 without a state row.
const currentSeqSQL = `coalesce((SELECT seq FROM system_health_state WHERE system_id = $1), 0)`

// InsertEvent writes one outbox event outside Persist (e.g. notification.channel_failing):
// seq = the system's current seq (0 without a state row); an existing idempotency key is a
// no-op (inserted=false). An unknown system is a *NotFoundError.
func (s *Store) InsertEvent(ctx context.Context, systemID, eventType, idempotencyKey string, payload map[string]any) (inserted bool, err error) {
	if idempotencyKey == "" {
		return false, invalid("idempotencyKey", "is required")
	}
	raw, err := jsonValue(payload)
	if err != nil {
		return false, invalid("payload", "must be JSON-encodable")
	}
	if raw == nil {
		raw = []byte("{}")
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO health_events (system_id, seq, type, payload, idempotency_key)
		VALUES ($1, `+currentSeqSQL+`, $2, $3::jsonb, $4) ON CONFLICT (idempotency_key) DO NOTHING`,
		systemID, eventType, []byte(safeJSON(raw)), idempotencyKey)
	if err != nil {
		return false, wrapErr("insert event", err)
	}
	return tag.RowsAffected() == 1, nil
}

// TransitionConfiguration returns the configuration id ("" when NULL) of the system's transition
// written with seq; *NotFoundError{Entity:"Transition"} when none.
func (s *Store) TransitionConfiguration(ctx context.Context, systemID string, seq int64) (string, error) {
	var cfg *string
	err := s.pool.QueryRow(ctx, `SELECT configuration_id::text FROM health_check_state_transitions
		WHERE system_id = $1 AND seq = $2 ORDER BY transitioned_at DESC, id LIMIT 1`, systemID, seq).Scan(&cfg)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound("Transition", ProbeRunID(systemID, seq))
	}
	if err != nil {
		return "", wrapErr("transition configuration", err)
	}
	if cfg == nil {
		return "", nil
	}
	return *cfg, nil
}

// NotificationPolicyFor resolves reference §7 step 2 for the check that ran (configurationID may
// be ""): the assignment's policy, else the platform default, else {false}
// (health.ResolveNotificationPolicy). A malformed configuration id is a *ValidationError.
func (s *Store) NotificationPolicyFor(ctx context.Context, systemID, configurationID string) (health.NotificationPolicy, error) {
	var cfgID *string
	if configurationID != "" {
		id, ok := normUUID(configurationID)
		if !ok {
			return health.NotificationPolicy{}, invalid("configurationId", "must be a UUID")
		}
		cfgID = &id
	}
	// One round trip: the assignment row (if any) and the platform default side by side.
	var hasRow bool
	var policy, defaults []byte
	err := s.pool.QueryRow(ctx, `SELECT a.found IS NOT NULL, a.notification_policy,
			(SELECT value FROM platform_settings WHERE key = $3)
		FROM (SELECT 1) one
		LEFT JOIN (SELECT true AS found, notification_policy FROM system_health_checks
			WHERE system_id = $1 AND configuration_id = $2::uuid) a ON true`,
		systemID, cfgID, health.NotificationDefaultsConfigID).Scan(&hasRow, &policy, &defaults)
	if err != nil {
		return health.NotificationPolicy{}, wrapErr("notification policy", err)
	}
	return health.ResolveNotificationPolicy(policy, hasRow, defaults), nil
}

// CheckStatus is one enabled check of a system with its evaluated status (nil: not evaluated).
type CheckStatus struct {
	ConfigurationID string
	Name            string
	Status          *health.Status
}

// CheckStatuses lists the enabled checks of a system, by name (then configuration id).
func (s *Store) CheckStatuses(ctx context.Context, systemID string) ([]CheckStatus, error) {
	rows, err := s.pool.Query(ctx, `SELECT a.configuration_id::text, c.name, h.status::text
		FROM system_health_checks a
		JOIN health_check_configurations c ON c.id = a.configuration_id
		LEFT JOIN check_health_state h ON h.system_id = a.system_id AND h.configuration_id = a.configuration_id
		WHERE a.system_id = $1 AND a.enabled
		ORDER BY c.name, a.configuration_id`, systemID)
	if err != nil {
		return nil, wrapErr("check statuses", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CheckStatus, error) {
		var cs CheckStatus
		var st *string
		err := r.Scan(&cs.ConfigurationID, &cs.Name, &st)
		cs.Status = statusPtr(st)
		return cs, err
	})
	return out, wrapErr("check statuses", err)
}

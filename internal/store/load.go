package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// LoadedCheck is one enabled assignment as the entity needs it on (re)start.
type LoadedCheck struct {
	Assignment
	// Configuration is the assigned configuration (strategy, config, collectors, interval, paused).
	Configuration Configuration `json:"configuration"`
	// Thresholds are the effective thresholds (defaults when the assignment has none).
	Thresholds health.Thresholds `json:"thresholds"`
	// Policy is the effective notification policy: the assignment's, else the platform
	// defaults, else {suppressDeEscalations:false} (health.ResolveNotificationPolicy).
	Policy health.NotificationPolicy `json:"policy"`
	// RecentStatuses are the statuses of the newest ≤ health.MaxWindowRuns runs, newest first.
	RecentStatuses []health.Status `json:"recentStatuses"`
	// LastRunAt is the newest run's time (nil when the check never ran).
	LastRunAt *time.Time `json:"lastRunAt,omitempty"`
}

// SystemState is what the entity loads on its first start.
type SystemState struct {
	SystemID string `json:"systemId"`
	// Checks are the enabled assignments in assignment order.
	Checks []LoadedCheck `json:"checks"`
	// View is the stored view (nil when there is none or it was cleared).
	View *health.View `json:"view"`
	// InStatusSince is when the view entered its status (nil without a view).
	InStatusSince *time.Time `json:"inStatusSince,omitempty"`
	// Seq is the last persisted seq (0 when the entity never persisted); continue from Seq+1.
	Seq int64 `json:"seq"`
	// FlapThresholds are the system's flap detection thresholds (zero: the defaults).
	FlapThresholds health.FlapThresholds `json:"flapThresholds"`
	// InMaintenance is true when a maintenance window covers the system now.
	InMaintenance bool `json:"inMaintenance"`
}

// Load reads a system's state for its entity's (re)start: the enabled assignments with their
// configurations, thresholds and resolved policies, the newest ≤100 run statuses per assignment
// (one query), the current view and seq. An unknown system is a *NotFoundError.
func (s *Store) Load(ctx context.Context, systemID string) (SystemState, error) {
	st := SystemState{SystemID: systemID, Checks: []LoadedCheck{}}
	b := &pgx.Batch{}
	b.Queue(`SELECT s.id, h.status::text, h.healthy_checks, h.total_checks, h.in_status_since, coalesce(h.seq, 0), s.flap_thresholds
		FROM systems s LEFT JOIN system_health_state h ON h.system_id = s.id WHERE s.id = $1`, systemID)
	b.Queue(`SELECT value FROM platform_settings WHERE key = $1`, health.NotificationDefaultsConfigID)
	b.Queue(`SELECT `+assignmentColumns+`,
			c.strategy_id, c.config, c.collectors, c.interval_seconds, c.paused, c.created_at, c.updated_at,
			coalesce(r.statuses, '{}'), r.last_at
		FROM system_health_checks a
		JOIN health_check_configurations c ON c.id = a.configuration_id
		LEFT JOIN LATERAL (
			SELECT array_agg(x.status::text ORDER BY x."timestamp" DESC, x.id DESC) AS statuses, max(x."timestamp") AS last_at
			FROM (SELECT status, "timestamp", id FROM health_check_runs
			      WHERE system_id = a.system_id AND configuration_id = a.configuration_id
			      ORDER BY "timestamp" DESC, id DESC LIMIT $2) x
		) r ON true
		WHERE a.system_id = $1 AND a.enabled
		ORDER BY a.created_at, a.configuration_id`, systemID, health.MaxWindowRuns)
	b.Queue(`SELECT EXISTS (SELECT 1 FROM maintenance_windows
		WHERE system_ids @> ARRAY[$1]::text[] AND starts_at <= now() AND ends_at > now())`, systemID)
	err := func() error {
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		var status *string
		var healthy, total *int
		var since *time.Time
		var id string
		var flap []byte
		if err := br.QueryRow().Scan(&id, &status, &healthy, &total, &since, &st.Seq, &flap); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return notFound("System", systemID)
			}
			return err
		}
		if len(flap) > 0 {
			// Written through SetFlapThresholds (validated); anything unreadable means the defaults.
			_ = json.Unmarshal(flap, &st.FlapThresholds)
		}
		if status != nil {
			st.View = &health.View{Status: health.Status(*status), HealthyChecks: *healthy, TotalChecks: *total}
			st.InStatusSince = utcPtr(since)
		}
		var defaults []byte
		if err := br.QueryRow().Scan(&defaults); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var lc LoadedCheck
			a := &lc.Assignment
			c := &lc.Configuration
			var th, rc, np, cfg, collectors []byte
			var statuses []string
			var lastAt *time.Time
			if err := rows.Scan(&a.SystemID, &a.ConfigurationID, &a.ConfigurationName, &a.Enabled, &th, &rc, &a.Locations, &np,
				&a.CreatedAt, &a.UpdatedAt, &a.Quorum, &c.StrategyID, &cfg, &collectors, &c.IntervalSeconds, &c.Paused, &c.CreatedAt,
				&c.UpdatedAt, &statuses, &lastAt); err != nil {
				return err
			}
			if err := decodeAssignmentJSON(a, th, rc, np); err != nil {
				return err
			}
			if a.Locations == nil {
				a.Locations = []string{}
			}
			a.CreatedAt, a.UpdatedAt = utc(a.CreatedAt), utc(a.UpdatedAt)
			c.ID, c.Name = a.ConfigurationID, a.ConfigurationName
			c.Config = json.RawMessage(cfg)
			if len(collectors) > 0 {
				c.Collectors = json.RawMessage(collectors)
			}
			c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
			if a.StateThresholds != nil {
				lc.Thresholds = a.StateThresholds.WithDefaults()
			} else {
				lc.Thresholds = health.DefaultThresholds()
			}
			lc.Policy = health.ResolveNotificationPolicy(np, true, defaults)
			lc.RecentStatuses = make([]health.Status, len(statuses))
			for i, x := range statuses {
				lc.RecentStatuses[i] = health.Status(x)
			}
			lc.LastRunAt = utcPtr(lastAt)
			st.Checks = append(st.Checks, lc)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		return br.QueryRow().Scan(&st.InMaintenance)
	}()
	if err != nil {
		return SystemState{}, wrapErr("load", err)
	}
	return st, nil
}

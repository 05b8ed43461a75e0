package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// MetricsSnapshot is what the Prometheus metrics read from PostgreSQL when they are scraped
// (internal/metrics). Every label it carries is an id or a value of a closed set: no names,
// messages or other free text.
type MetricsSnapshot struct {
	// Checks are the evaluated statuses of the enabled, unpaused assignments that have one.
	Checks []CheckStatusSample
	// Systems are the stored statuses of the systems that have one (a system without enabled
	// checks, or whose checks never ran, has none).
	Systems []SystemStatusSample
	// OutboxBacklog is the number of outbox events (health_events) not yet dispatched.
	OutboxBacklog int64
	// OutboxOldest is the creation time of the oldest undispatched event (nil: none).
	OutboxOldest *time.Time
	// Deliveries counts the rows of the delivery log by channel type, event and status.
	Deliveries []DeliveryCount
}

// CheckStatusSample is one assignment's evaluated status.
type CheckStatusSample struct {
	SystemID        string
	ConfigurationID string
	Status          health.Status
}

// SystemStatusSample is one system's stored status.
type SystemStatusSample struct {
	SystemID string
	Status   health.Status
	// InMaintenance: a maintenance window covers the system at the snapshot's time.
	InMaintenance bool
}

// DeliveryCount is the number of deliveries of one (channel type, event, status). Every field
// comes from a closed set (the table's CHECK constraints).
type DeliveryCount struct {
	ChannelType string
	Event       string
	Status      string
	Count       int64
}

const (
	metricsChecksSQL = `SELECT a.system_id, a.configuration_id::text, h.status::text
		FROM system_health_checks a
		JOIN health_check_configurations c ON c.id = a.configuration_id
		JOIN check_health_state h ON h.system_id = a.system_id AND h.configuration_id = a.configuration_id
		WHERE a.enabled AND NOT c.paused AND h.status IS NOT NULL`
	metricsSystemsSQL = `WITH m AS (
			SELECT DISTINCT unnest(system_ids) AS system_id FROM maintenance_windows
			WHERE starts_at <= $1 AND ends_at > $1)
		SELECT h.system_id, h.status::text, m.system_id IS NOT NULL
		FROM system_health_state h LEFT JOIN m ON m.system_id = h.system_id
		WHERE h.status IS NOT NULL`
	metricsOutboxSQL     = `SELECT count(*), min(created_at) FROM health_events WHERE delivered_at IS NULL`
	metricsDeliveriesSQL = `SELECT c.type, d.event, d.status, count(*)
		FROM notification_deliveries d JOIN notification_channels c ON c.id = d.channel_id
		GROUP BY 1, 2, 3`
)

// MetricsSnapshot reads the current check and system statuses, the outbox backlog and the
// delivery counts in one round trip (four statements of one pipeline). now decides which
// maintenance windows are active. Deleted systems and assignments are simply absent.
func (s *Store) MetricsSnapshot(ctx context.Context, now time.Time) (MetricsSnapshot, error) {
	var out MetricsSnapshot
	b := &pgx.Batch{}
	b.Queue(metricsChecksSQL).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var c CheckStatusSample
			var st string
			if err := rows.Scan(&c.SystemID, &c.ConfigurationID, &st); err != nil {
				return err
			}
			c.Status = health.Status(st)
			out.Checks = append(out.Checks, c)
		}
		return rows.Err()
	})
	b.Queue(metricsSystemsSQL, now.UTC()).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var v SystemStatusSample
			var st string
			if err := rows.Scan(&v.SystemID, &st, &v.InMaintenance); err != nil {
				return err
			}
			v.Status = health.Status(st)
			out.Systems = append(out.Systems, v)
		}
		return rows.Err()
	})
	b.Queue(metricsOutboxSQL).QueryRow(func(row pgx.Row) error {
		return row.Scan(&out.OutboxBacklog, &out.OutboxOldest)
	})
	b.Queue(metricsDeliveriesSQL).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var d DeliveryCount
			if err := rows.Scan(&d.ChannelType, &d.Event, &d.Status, &d.Count); err != nil {
				return err
			}
			out.Deliveries = append(out.Deliveries, d)
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return MetricsSnapshot{}, wrapErr("metrics snapshot", err)
	}
	if out.OutboxOldest != nil {
		t := out.OutboxOldest.UTC()
		out.OutboxOldest = &t
	}
	return out, nil
}

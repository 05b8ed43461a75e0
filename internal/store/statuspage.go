package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// HourlyLatencyRow is one hourly aggregate row of a check (one per source) as the status page's
// latency chart reads it.
type HourlyLatencyRow struct {
	ConfigurationID string
	BucketStart     time.Time
	health.HourlyMetricsRow
}

// HourlyLatency reads the hourly aggregate rows of a system's checks with from ≤ bucket_start <
// to, oldest first (every source: the caller combines the rows of one hour like the health
// state's windowed metrics do).
func (s *Store) HourlyLatency(ctx context.Context, systemID string, from, to time.Time) ([]HourlyLatencyRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT configuration_id::text, bucket_start, run_count, healthy_count, latency_sum_ms, p95_latency_ms
		FROM health_check_aggregates
		WHERE system_id = $1 AND bucket_size = 'hourly' AND bucket_start >= $2 AND bucket_start < $3
		ORDER BY bucket_start, configuration_id`, systemID, from.UTC(), to.UTC())
	if err != nil {
		return nil, wrapErr("hourly latency", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HourlyLatencyRow, error) {
		var h HourlyLatencyRow
		var sum *int64
		if err := r.Scan(&h.ConfigurationID, &h.BucketStart, &h.RunCount, &h.HealthyCount, &sum, &h.P95LatencyMs); err != nil {
			return h, err
		}
		if sum != nil {
			v := int(*sum)
			h.LatencySumMs = &v
		}
		h.BucketStart = utc(h.BucketStart)
		return h, nil
	})
	if err != nil {
		return nil, wrapErr("hourly latency", err)
	}
	return out, nil
}

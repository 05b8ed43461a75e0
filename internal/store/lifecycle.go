package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// Bounded-batch data lifecycle: the statements the retention, rollup and prune jobs loop over.
// Each one touches at most limit rows in its own short transaction and returns how many it
// touched, so a caller loops until a call returns fewer than limit. No statement takes a lock an
// entity's write waits for: entities insert new runs, hourly buckets of the current hour,
// transitions and events, while these statements delete old rows (selected by the indexes the
// writes use) and write daily buckets, which entities never write.
//
// Every delete selects its victims by primary key through the table's time index ("the oldest
// limit rows older than the cutoff"), so dropping whole time partitions can later replace the
// batches of raw runs without changing the callers' contract (rows affected, loop until fewer
// than limit).

// RetentionCutoffs are the cutoffs of one retention config at a given time.
type RetentionCutoffs struct {
	// Raw: raw runs with timestamp < Raw are deleted (now − rawRetentionDays days).
	Raw time.Time `json:"raw"`
	// Rollup: hourly buckets starting before Rollup are rolled into daily buckets
	// (now − hourlyRetentionDays days, floored to UTC midnight: health.RollupCutoff).
	Rollup time.Time `json:"rollup"`
	// Daily: daily buckets starting before Daily are deleted (now − dailyRetentionDays days).
	Daily time.Time `json:"daily"`
}

// Cutoffs returns the config's cutoffs at now (reference §11 steps a–c, in UTC).
func (c RetentionConfig) Cutoffs(now time.Time) RetentionCutoffs {
	return RetentionCutoffs{
		Raw:    daysBefore(now, c.RawRetentionDays),
		Rollup: health.RollupCutoff(now.UTC(), c.HourlyRetentionDays),
		Daily:  daysBefore(now, c.DailyRetentionDays),
	}
}

// RetentionDay is the length of one day of a retention age: the day the ages of
// RetentionConfig count in (UTC calendar days, which are all 24 hours long).
const RetentionDay = 24 * time.Hour

// CutoffsWithDay returns the config's cutoffs at now when one day of its ages lasts day: time
// compression for soak tests and demos, where "7 days" of raw retention may mean 7 minutes.
// With day ≤ 0 or RetentionDay it is exactly Cutoffs(now).
//
// With any other day, N days of each age mean N×day, but the buckets stay real hours and UTC
// days (the entities write them so), and a bucket leaves a tier only once its whole span is
// older than the age:
//   - Raw is now − rawRetentionDays×day;
//   - Rollup is now − hourlyRetentionDays×day floored to the hour (not to UTC midnight): an
//     hourly bucket whose hour lies wholly before it is rolled into the daily bucket of its real
//     UTC day. The current hour, which the entities still write, is never rolled up. A UTC day
//     so receives its hours in several rollups (health.UpsertDaily, the reference's ON CONFLICT
//     rule): counts, latency sums and min/max are those of one whole rollup, avg is sum / runs
//     in integer division (one whole rollup rounds: up to 1 ms less) and p95 is the largest p95
//     of the parts (an upper bound) rather than the p95 of the day's merged digest;
//   - Daily is now − dailyRetentionDays×day floored to UTC midnight: a daily bucket is deleted
//     once its whole UTC day lies before now − dailyRetentionDays×day (the bucket of the day
//     that holds the cutoff is kept, as it may hold hours newer than it).
func (c RetentionConfig) CutoffsWithDay(now time.Time, day time.Duration) RetentionCutoffs {
	if day <= 0 || day == RetentionDay {
		return c.Cutoffs(now)
	}
	return RetentionCutoffs{
		Raw:    RetentionDaysBefore(now, c.RawRetentionDays, day),
		Rollup: health.HourStart(RetentionDaysBefore(now, c.HourlyRetentionDays, day)),
		Daily:  health.DayStart(RetentionDaysBefore(now, c.DailyRetentionDays, day)),
	}
}

func checkLimit(limit int) error {
	if limit < 1 {
		return invalid("limit", "must be at least 1")
	}
	return nil
}

// execCount runs a DELETE and returns the rows it affected.
func (s *Store) execCount(ctx context.Context, op, sql string, args ...any) (int64, error) {
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return 0, wrapErr(op, err)
	}
	return tag.RowsAffected(), nil
}

// DeleteRunsBatch deletes at most limit raw runs of one assignment with timestamp < cutoff
// (the oldest first) and returns how many it deleted.
func (s *Store) DeleteRunsBatch(ctx context.Context, systemID, configurationID string, cutoff time.Time, limit int) (int64, error) {
	return s.deleteRunsBatch(ctx, "delete runs", "", systemID, configurationID, cutoff, limit)
}

// DeleteUnassignedRunsBatch is DeleteRunsBatch for a check that is no longer assigned to the
// system: it deletes nothing when an assignment of (systemID, configurationID) exists (one was
// created again since the caller listed the unassigned checks).
func (s *Store) DeleteUnassignedRunsBatch(ctx context.Context, systemID, configurationID string, cutoff time.Time, limit int) (int64, error) {
	return s.deleteRunsBatch(ctx, "delete unassigned runs",
		`AND NOT EXISTS (SELECT 1 FROM system_health_checks WHERE system_id = $1 AND configuration_id = $2)`,
		systemID, configurationID, cutoff, limit)
}

// deleteRunsBatch deletes the oldest ≤ limit runs of (systemID, configurationID) before cutoff
// that also meet the extra condition. Rows are addressed by (id, timestamp), the primary key of
// the day partitions, so each is found in its own partition (a ctid is only unique within one).
func (s *Store) deleteRunsBatch(ctx context.Context, what, extra, systemID, configurationID string, cutoff time.Time, limit int) (int64, error) {
	cfgID, ok := normUUID(configurationID)
	if !ok {
		return 0, invalid("configurationId", "must be a UUID")
	}
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return s.execCount(ctx, what, `DELETE FROM health_check_runs r USING (
			SELECT id, "timestamp" FROM health_check_runs
			WHERE system_id = $1 AND configuration_id = $2 AND "timestamp" < $3 `+extra+`
			ORDER BY "timestamp" LIMIT $4) old
		WHERE r.id = old.id AND r."timestamp" = old."timestamp"`,
		systemID, cfgID, cutoff.UTC(), limit)
}

// UnassignedTargets lists the checks that have runs or aggregates but no assignment any more
// (disassociated from the system), each with the default retention config, ordered by system
// and configuration like RetentionTargets. Their data is retained by the defaults (7/30/365
// days) — the reference never pruned it. The distinct (system, configuration) pairs are read
// with a skip scan of the tables' indexes: the cost grows with the number of pairs, not rows.
func (s *Store) UnassignedTargets(ctx context.Context) ([]RetentionTarget, error) {
	const runs = `WITH RECURSIVE p AS (
			(SELECT system_id, configuration_id FROM health_check_runs ORDER BY system_id, configuration_id LIMIT 1)
			UNION ALL
			SELECT n.system_id, n.configuration_id FROM p CROSS JOIN LATERAL (
				SELECT r.system_id, r.configuration_id FROM health_check_runs r
				WHERE (r.system_id, r.configuration_id) > (p.system_id, p.configuration_id)
				ORDER BY r.system_id, r.configuration_id LIMIT 1) n)
		SELECT p.system_id, p.configuration_id::text FROM p
		WHERE NOT EXISTS (SELECT 1 FROM system_health_checks a WHERE a.system_id = p.system_id AND a.configuration_id = p.configuration_id)`
	const aggregates = `WITH RECURSIVE p AS (
			(SELECT configuration_id, system_id FROM health_check_aggregates ORDER BY configuration_id, system_id LIMIT 1)
			UNION ALL
			SELECT n.configuration_id, n.system_id FROM p CROSS JOIN LATERAL (
				SELECT g.configuration_id, g.system_id FROM health_check_aggregates g
				WHERE (g.configuration_id, g.system_id) > (p.configuration_id, p.system_id)
				ORDER BY g.configuration_id, g.system_id LIMIT 1) n)
		SELECT p.system_id, p.configuration_id::text FROM p
		WHERE NOT EXISTS (SELECT 1 FROM system_health_checks a WHERE a.system_id = p.system_id AND a.configuration_id = p.configuration_id)`
	type pair struct{ sys, cfg string }
	seen := map[pair]bool{}
	for _, q := range []string{runs, aggregates} {
		rows, err := s.pool.Query(ctx, q)
		if err != nil {
			return nil, wrapErr("unassigned targets", err)
		}
		ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pair, error) {
			var p pair
			err := r.Scan(&p.sys, &p.cfg)
			return p, err
		})
		if err != nil {
			return nil, wrapErr("unassigned targets", err)
		}
		for _, p := range ps {
			seen[p] = true
		}
	}
	out := make([]RetentionTarget, 0, len(seen))
	for p := range seen {
		out = append(out, RetentionTarget{SystemID: p.sys, ConfigurationID: p.cfg, Config: DefaultRetentionConfig()})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].SystemID != out[j].SystemID {
			return out[i].SystemID < out[j].SystemID
		}
		return out[i].ConfigurationID < out[j].ConfigurationID
	})
	return out, nil
}

// RollupBatchResult counts what a bounded rollup did.
type RollupBatchResult struct {
	RollupResult
	// More is true when hourly buckets before the cutoff were left for another call.
	More bool `json:"more,omitempty"`
}

// RollupHourlyToDailyBatch is RollupHourlyToDaily bounded to about limit hourly buckets, the
// oldest first and whole UTC days only: the buckets of the days that fit into limit (at least
// one whole day, even when it has more than limit buckets) are rolled into their daily buckets
// and deleted in one transaction. A bucket is so either still hourly or already counted in its
// day, never both — a caller killed between batches never double-counts a day — and a day is
// rolled up in one piece, so its daily row is exactly RollupDaily of its hours. Loop while
// More.
func (s *Store) RollupHourlyToDailyBatch(ctx context.Context, systemID, configurationID string, cutoff time.Time, limit int) (RollupBatchResult, error) {
	if err := checkLimit(limit); err != nil {
		return RollupBatchResult{}, err
	}
	return s.rollupHourly(ctx, systemID, configurationID, cutoff, limit)
}

// rollupHourly rolls the hourly buckets of one assignment with bucket_start < cutoff (those
// of the oldest whole days that fit into limit; all when limit is 0) into daily buckets and
// deletes them, in one transaction (see RollupHourlyToDaily).
func (s *Store) rollupHourly(ctx context.Context, systemID, configurationID string, cutoff time.Time, limit int) (RollupBatchResult, error) {
	cfgID, ok := normUUID(configurationID)
	if !ok {
		return RollupBatchResult{}, invalid("configurationId", "must be a UUID")
	}
	cutoff = cutoff.UTC()
	var res RollupBatchResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		end := cutoff
		if limit > 0 {
			// The bucket just past the batch: the batch ends at the start of its day (or, when the
			// oldest day alone holds more than limit buckets, after that whole day).
			var first, next *time.Time
			err := tx.QueryRow(ctx, `SELECT
					(SELECT bucket_start FROM health_check_aggregates
					 WHERE configuration_id = $2 AND system_id = $1 AND bucket_size = 'hourly' AND bucket_start < $3
					 ORDER BY bucket_start LIMIT 1),
					(SELECT bucket_start FROM health_check_aggregates
					 WHERE configuration_id = $2 AND system_id = $1 AND bucket_size = 'hourly' AND bucket_start < $3
					 ORDER BY bucket_start OFFSET $4 LIMIT 1)`, systemID, cfgID, cutoff, limit).Scan(&first, &next)
			if err != nil {
				return err
			}
			if first == nil {
				return nil
			}
			if next != nil {
				res.More = true
				day := health.DayStart(*next)
				if !day.After(*first) {
					day = day.AddDate(0, 0, 1)
				}
				if day.Before(end) {
					end = day
				}
			}
		}
		rows, err := tx.Query(ctx, `SELECT id::text, bucket_start, run_count, healthy_count, degraded_count, unhealthy_count,
				latency_sum_ms, avg_latency_ms, min_latency_ms, max_latency_ms, p95_latency_ms, tdigest_state, source_id, source_label
			FROM health_check_aggregates
			WHERE system_id = $1 AND configuration_id = $2 AND bucket_size = 'hourly' AND bucket_start < $3
			ORDER BY bucket_start, id FOR UPDATE`, systemID, cfgID, end)
		if err != nil {
			return err
		}
		type group struct {
			key     bucketKey
			label   *string
			buckets []health.Bucket
		}
		groups := map[bucketKey]*group{}
		var ids []string
		for rows.Next() {
			var id string
			var start time.Time
			var b health.Bucket
			var src, label *string
			var td []byte
			if err := rows.Scan(&id, &start, &b.RunCount, &b.HealthyCount, &b.DegradedCount, &b.UnhealthyCount, &b.LatencySumMs,
				&b.AvgLatencyMs, &b.MinLatencyMs, &b.MaxLatencyMs, &b.P95LatencyMs, &td, &src, &label); err != nil {
				rows.Close()
				return err
			}
			if len(td) > 0 {
				if err := json.Unmarshal(td, &b.TDigest); err != nil {
					rows.Close()
					return fmt.Errorf("tdigest_state of %s: %w", id, err)
				}
			}
			k := bucketKey{configurationID: cfgID, start: health.DayStart(start)}
			if src != nil {
				k.source, k.hasSource = *src, true
			}
			g := groups[k]
			if g == nil {
				g = &group{key: k}
				groups[k] = g
			}
			if label != nil {
				g.label = label
			}
			g.buckets = append(g.buckets, b)
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		ordered := make([]*group, 0, len(groups))
		for _, g := range groups {
			ordered = append(ordered, g)
		}
		sort.Slice(ordered, func(i, j int) bool { return ordered[i].key.less(ordered[j].key) })

		lock := &pgx.Batch{}
		for _, g := range ordered {
			var src *string
			if g.key.hasSource {
				src = &g.key.source
			}
			lock.Queue(lockBucketSQL, cfgID, systemID, g.key.start, "daily", src, g.label)
		}
		existing := make([]struct {
			id string
			b  health.Bucket
		}, len(ordered))
		err = func() error {
			br := tx.SendBatch(ctx, lock)
			defer br.Close()
			for i := range ordered {
				id, b, err := scanBucket(br.QueryRow())
				if err != nil {
					return err
				}
				existing[i].id, existing[i].b = id, b
			}
			return br.Close()
		}()
		if err != nil {
			return err
		}
		write := &pgx.Batch{}
		for i, g := range ordered {
			rolled := health.RollupDaily(g.buckets)
			if p := mergedP95(g.buckets); p != nil {
				rolled.P95LatencyMs = p
			}
			merged := health.UpsertDaily(existing[i].b, rolled)
			if err := queueBucketUpdate(write, existing[i].id, merged, g.label); err != nil {
				return err
			}
		}
		write.Queue(`DELETE FROM health_check_aggregates WHERE id = ANY($1::uuid[])`, ids)
		if err := tx.SendBatch(ctx, write).Close(); err != nil {
			return err
		}
		res.RollupResult = RollupResult{HourlyRows: len(ids), DailyRows: len(ordered)}
		return nil
	})
	if err != nil {
		return RollupBatchResult{}, wrapErr("rollup", err)
	}
	return res, nil
}

// mergedP95 is the p95 of a day's latencies from the merged t-digests of its hourly buckets
// (rounded like the hourly fold), or nil when a bucket with latencies carries no digest (a row
// written without one): then the daily p95 stays the largest hourly p95, the reference's upper
// bound (§11). Buckets without latencies (only catastrophic runs) add nothing. The daily row does
// not keep the merged digest (it would be the largest column of the daily tier); an hour that
// arrives after its day was rolled up merges by the upper-bound rule (health.UpsertDaily).
func mergedP95(hours []health.Bucket) *int {
	d := &health.TDigest{}
	for _, h := range hours {
		if len(h.TDigest) == 0 {
			if h.P95LatencyMs != nil {
				return nil
			}
			continue
		}
		d.Merge(health.TDigestFromState(h.TDigest))
	}
	if d.Count() == 0 {
		return nil
	}
	p := int(math.Floor(d.Quantile(0.95) + 0.5))
	return &p
}

// DeleteDailyBatch deletes at most limit daily buckets of one assignment with bucket_start <
// cutoff (the oldest first).
func (s *Store) DeleteDailyBatch(ctx context.Context, systemID, configurationID string, cutoff time.Time, limit int) (int64, error) {
	cfgID, ok := normUUID(configurationID)
	if !ok {
		return 0, invalid("configurationId", "must be a UUID")
	}
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return s.execCount(ctx, "delete daily buckets", `DELETE FROM health_check_aggregates WHERE id = ANY(ARRAY(
			SELECT id FROM health_check_aggregates
			WHERE configuration_id = $2 AND system_id = $1 AND bucket_size = 'daily' AND bucket_start < $3
			ORDER BY bucket_start LIMIT $4))`,
		systemID, cfgID, cutoff.UTC(), limit)
}

// PruneTransitionsBatch is PruneTransitions bounded to the oldest limit rows: it deletes the
// system's transitions older than cutoff except the single newest row of the system.
func (s *Store) PruneTransitionsBatch(ctx context.Context, systemID string, cutoff time.Time, limit int) (int64, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return s.execCount(ctx, "prune transitions", `DELETE FROM health_check_state_transitions WHERE id = ANY(ARRAY(
			SELECT id FROM health_check_state_transitions
			WHERE system_id = $1 AND transitioned_at < $2
			  AND id IS DISTINCT FROM (SELECT id FROM health_check_state_transitions
			                           WHERE system_id = $1 ORDER BY transitioned_at DESC, id DESC LIMIT 1)
			ORDER BY transitioned_at LIMIT $3))`,
		systemID, cutoff.UTC(), limit)
}

// DeleteDeliveredEventsBatch deletes at most limit outbox events that were delivered
// (delivered_at set) and created before cutoff, the oldest first. Undelivered events are never
// deleted, however old.
func (s *Store) DeleteDeliveredEventsBatch(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return s.execCount(ctx, "delete delivered events", `DELETE FROM health_events WHERE id = ANY(ARRAY(
			SELECT id FROM health_events
			WHERE created_at < $1 AND delivered_at IS NOT NULL
			ORDER BY created_at LIMIT $2))`,
		cutoff.UTC(), limit)
}

// DeleteFinishedDeliveriesBatch deletes at most limit notification deliveries that finished
// (status sent or failed) and were created before cutoff, the oldest first. Pending deliveries
// (still being retried) are never deleted.
func (s *Store) DeleteFinishedDeliveriesBatch(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return s.execCount(ctx, "delete finished deliveries", `DELETE FROM notification_deliveries WHERE id = ANY(ARRAY(
			SELECT id FROM notification_deliveries
			WHERE created_at < $1 AND status IN ('sent', 'failed')
			ORDER BY created_at, id LIMIT $2))`,
		cutoff.UTC(), limit)
}

// Autovacuum reports whether the server runs autovacuum. The outbox, deliveries and the
// batched row deletes of shorter retentions leave dead rows that only VACUUM gives back; with
// autovacuum off (some CI and benchmark configurations) their tables keep growing in bytes
// while their row counts stay flat.
func (s *Store) Autovacuum(ctx context.Context) (bool, error) {
	var on bool
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('autovacuum')::bool`).Scan(&on); err != nil {
		return false, fmt.Errorf("read autovacuum setting: %w", err)
	}
	return on, nil
}

package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// UptimeQuery asks for a system's uptime over a window ending at Now.
type UptimeQuery struct {
	SystemID string
	// ConfigurationID, when set, scopes the success rate and run count to one check. The uptime
	// stays the system's: only the system's evaluated status has a recorded history.
	ConfigurationID string
	Window          health.UptimeWindow
	Now             time.Time
}

// Uptime is a system's uptime over a window (see health.ComputeUptime) and the raw success
// rate of its runs over the same window.
type Uptime struct {
	health.UptimeReport
	// From and To bound the window [From, To).
	From, To time.Time
	// ExistsFrom is when the system began for uptime purposes: its oldest run (raw, or the
	// oldest aggregate bucket when older runs have left the raw tier), else its creation.
	ExistsFrom time.Time
	// Runs and HealthyRuns count the runs of the window (see Store.Uptime).
	Runs, HealthyRuns int64
}

// SuccessRate is HealthyRuns / Runs (false without runs).
func (u Uptime) SuccessRate() (float64, bool) {
	if u.Runs == 0 {
		return 0, false
	}
	return float64(u.HealthyRuns) / float64(u.Runs), true
}

// floorHour is the start of t's UTC hour.
func floorHour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// ceilHour is the first UTC hour boundary at or after t.
func ceilHour(t time.Time) time.Time {
	f := floorHour(t)
	if f.Equal(t) {
		return f
	}
	return f.Add(time.Hour)
}

// Uptime computes a system's uptime on its evaluated status over q.Window ending at q.Now, with
// one batch of queries:
//
//   - the status in force at the window start is the newest transition before it, else the
//     window's first transition's from_status, else the stored view's status, else healthy;
//   - time before the system existed (ExistsFrom) is not counted;
//   - time covered by a maintenance window (starts_at ≤ t < ends_at, as stored: a deleted
//     window no longer counts) counts as up and is reported as Maintenance;
//   - the per-day rows cover the last q.Window.Days() UTC days.
//
// The success rate counts healthy runs / runs over [From, To): the hourly aggregates of the
// whole hours inside the window, the daily aggregates of whole days inside it (days whose hourly
// rows were rolled up), and the raw runs of the partial hours at both ends (the window start's
// hour and the current hour). A day already rolled up that the window starts inside is not
// counted (no hourly rows are left for its hours), nor are the partial first hour's runs once
// they have left the raw tier. A system that does not exist is a *NotFoundError.
func (s *Store) Uptime(ctx context.Context, q UptimeQuery) (Uptime, error) {
	var fe fieldErrors
	if !q.Window.Valid() {
		fe.add("window", "must be 24h, 7d, 30d or 90d")
	}
	var cfgID *string
	if q.ConfigurationID != "" {
		id, ok := normUUID(q.ConfigurationID)
		if !ok {
			fe.add("checkId", "must be a UUID")
		}
		cfgID = &id
	}
	if q.Now.IsZero() {
		fe.add("now", "is required")
	}
	if err := fe.err(); err != nil {
		return Uptime{}, err
	}
	to := q.Now.UTC()
	from := to.Add(-q.Window.Duration())
	firstHourEnd := minT(ceilHour(from), floorHour(to))
	lastHourStart := maxT(floorHour(to), from)
	out := Uptime{From: from, To: to}

	var (
		createdAt               time.Time
		firstRaw, firstAgg      *time.Time
		firstAggEnd             *time.Time
		current                 *string
		before                  *health.StatusChange
		changes                 []health.StatusChange
		maint                   []health.Interval
		runs, healthy           int64
		systemFound, haveBefore bool
	)
	b := &pgx.Batch{}
	b.Queue(`SELECT s.created_at,
			(SELECT min("timestamp") FROM health_check_runs WHERE system_id = s.id),
			(SELECT bucket_start + CASE bucket_size WHEN 'hourly' THEN interval '1 hour' ELSE interval '1 day' END
				FROM health_check_aggregates WHERE system_id = s.id ORDER BY bucket_start, bucket_size LIMIT 1),
			(SELECT min(bucket_start) FROM health_check_aggregates WHERE system_id = s.id),
			(SELECT status::text FROM system_health_state WHERE system_id = s.id)
		FROM systems s WHERE s.id = $1`, q.SystemID).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&createdAt, &firstRaw, &firstAggEnd, &firstAgg, &current)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		systemFound = err == nil
		return err
	})
	scanChange := func(r pgx.Row) (health.StatusChange, error) {
		var c health.StatusChange
		var fromSt *string
		var toSt string
		if err := r.Scan(&fromSt, &toSt, &c.At); err != nil {
			return c, err
		}
		c.From, c.To, c.At = statusPtr(fromSt), health.Status(toSt), utc(c.At)
		return c, nil
	}
	b.Queue(`SELECT from_status::text, to_status::text, transitioned_at FROM health_check_state_transitions
		WHERE system_id = $1 AND transitioned_at < $2
		ORDER BY transitioned_at DESC, seq DESC NULLS LAST, id DESC LIMIT 1`, q.SystemID, from).QueryRow(func(row pgx.Row) error {
		c, err := scanChange(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		before, haveBefore = &c, err == nil
		return err
	})
	b.Queue(`SELECT from_status::text, to_status::text, transitioned_at FROM health_check_state_transitions
		WHERE system_id = $1 AND transitioned_at >= $2 AND transitioned_at < $3
		ORDER BY transitioned_at, seq NULLS FIRST, id`, q.SystemID, from, to).Query(func(rows pgx.Rows) error {
		var err error
		changes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (health.StatusChange, error) { return scanChange(r) })
		return err
	})
	b.Queue(`SELECT starts_at, ends_at FROM maintenance_windows
		WHERE system_ids @> ARRAY[$1]::text[] AND starts_at < $3 AND ends_at > $2`, q.SystemID, from, to).Query(func(rows pgx.Rows) error {
		var err error
		maint, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (health.Interval, error) {
			var iv health.Interval
			err := r.Scan(&iv.Start, &iv.End)
			iv.Start, iv.End = utc(iv.Start), utc(iv.End)
			return iv, err
		})
		return err
	})
	// $2 from, $3 end of the first (partial) hour, $4 start of the current hour, $5 to.
	b.Queue(`SELECT coalesce(sum(n), 0)::bigint, coalesce(sum(h), 0)::bigint FROM (
			SELECT count(*) AS n, count(*) FILTER (WHERE status = 'healthy') AS h FROM health_check_runs
			WHERE system_id = $1 AND ($6::uuid IS NULL OR configuration_id = $6::uuid)
			  AND (("timestamp" >= $2 AND "timestamp" < $3) OR ("timestamp" >= $4 AND "timestamp" < $5))
			UNION ALL
			SELECT sum(run_count), sum(healthy_count) FROM health_check_aggregates
			WHERE system_id = $1 AND ($6::uuid IS NULL OR configuration_id = $6::uuid) AND (
				(bucket_size = 'hourly' AND bucket_start >= $2 AND bucket_start + interval '1 hour' <= $4)
				OR (bucket_size = 'daily' AND bucket_start >= $2 AND bucket_start + interval '1 day' <= $4))
		) t`, q.SystemID, from, firstHourEnd, lastHourStart, to, cfgID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&runs, &healthy)
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return Uptime{}, wrapErr("uptime", err)
	}
	if !systemFound {
		return Uptime{}, notFound("System", q.SystemID)
	}
	if !haveBefore {
		before = nil
	}
	out.ExistsFrom = existsFrom(utc(createdAt), utcPtr(firstRaw), utcPtr(firstAgg), utcPtr(firstAggEnd))
	out.Runs, out.HealthyRuns = runs, healthy
	out.UptimeReport = health.ComputeUptime(health.UptimeInput{
		From: from, To: to, ExistsFrom: out.ExistsFrom,
		Before: before, Changes: changes, Current: statusPtr(current),
		Maintenance: maint, Days: q.Window.Days(),
	})
	return out, nil
}

// existsFrom is when a system began for uptime purposes: its oldest raw run when the raw tier
// still holds its beginning (the run falls within the oldest aggregate bucket, whose start is only
// a floor of the first run), else the oldest aggregate bucket's start (older runs have left the
// raw tier), else its creation.
func existsFrom(createdAt time.Time, firstRaw, firstAgg, firstAggEnd *time.Time) time.Time {
	switch {
	case firstRaw != nil && (firstAgg == nil || firstAggEnd == nil || firstRaw.Before(*firstAggEnd)):
		return *firstRaw
	case firstAgg != nil:
		return *firstAgg
	}
	return createdAt
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

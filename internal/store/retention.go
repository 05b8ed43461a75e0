package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// RetentionTarget is one assignment as the retention job sees it.
type RetentionTarget struct {
	SystemID        string `json:"systemId"`
	ConfigurationID string `json:"configurationId"`
	// Config is the effective retention (the defaults when the assignment has none).
	Config RetentionConfig `json:"config"`
}

// RetentionTargets returns every assignment (enabled or not) with its effective retention
// config, ordered by system and configuration (reference §11 step 1).
func (s *Store) RetentionTargets(ctx context.Context) ([]RetentionTarget, error) {
	rows, err := s.pool.Query(ctx, `SELECT system_id, configuration_id::text, retention_config
		FROM system_health_checks ORDER BY system_id, configuration_id`)
	if err != nil {
		return nil, wrapErr("retention targets", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RetentionTarget, error) {
		var t RetentionTarget
		var raw []byte
		if err := r.Scan(&t.SystemID, &t.ConfigurationID, &raw); err != nil {
			return t, err
		}
		t.Config = DefaultRetentionConfig()
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &t.Config); err != nil {
				return t, fmt.Errorf("retention config of %s/%s: %w", t.SystemID, t.ConfigurationID, err)
			}
		}
		return t, nil
	})
	return out, wrapErr("retention targets", err)
}

// TransitionRetentionDays returns, per system, the largest raw retention over its assignments:
// how long the system's transitions are kept (reference §5.3, §11 step 2).
func TransitionRetentionDays(targets []RetentionTarget) map[string]int {
	out := map[string]int{}
	for _, t := range targets {
		if d, ok := out[t.SystemID]; !ok || t.Config.RawRetentionDays > d {
			out[t.SystemID] = t.Config.RawRetentionDays
		}
	}
	return out
}

// daysBefore is now − days calendar days (UTC).
func daysBefore(now time.Time, days int) time.Time { return now.UTC().AddDate(0, 0, -days) }

// RetentionDaysBefore is now − days retention days of length day, in UTC: now − days calendar
// days when day is RetentionDay (or ≤ 0), now − days×day otherwise (compressed time, see
// RetentionConfig.CutoffsWithDay).
func RetentionDaysBefore(now time.Time, days int, day time.Duration) time.Time {
	if day <= 0 || day == RetentionDay {
		return daysBefore(now, days)
	}
	return now.UTC().Add(-time.Duration(days) * day)
}

// DeleteRunsBefore deletes the raw runs of one assignment with timestamp < cutoff.
func (s *Store) DeleteRunsBefore(ctx context.Context, systemID, configurationID string, cutoff time.Time) (int64, error) {
	cfgID, ok := normUUID(configurationID)
	if !ok {
		return 0, invalid("configurationId", "must be a UUID")
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM health_check_runs WHERE system_id = $1 AND configuration_id = $2 AND "timestamp" < $3`,
		systemID, cfgID, cutoff.UTC())
	if err != nil {
		return 0, wrapErr("delete runs", err)
	}
	return tag.RowsAffected(), nil
}

// DeleteDailyBefore deletes the daily buckets of one assignment with bucket_start < cutoff.
func (s *Store) DeleteDailyBefore(ctx context.Context, systemID, configurationID string, cutoff time.Time) (int64, error) {
	cfgID, ok := normUUID(configurationID)
	if !ok {
		return 0, invalid("configurationId", "must be a UUID")
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM health_check_aggregates
		WHERE system_id = $1 AND configuration_id = $2 AND bucket_size = 'daily' AND bucket_start < $3`,
		systemID, cfgID, cutoff.UTC())
	if err != nil {
		return 0, wrapErr("delete daily buckets", err)
	}
	return tag.RowsAffected(), nil
}

// RollupResult counts what a rollup did.
type RollupResult struct {
	// HourlyRows is the number of hourly buckets rolled up (and deleted).
	HourlyRows int `json:"hourlyRows"`
	// DailyRows is the number of daily buckets written.
	DailyRows int `json:"dailyRows"`
}

// RollupHourlyToDaily rolls the hourly buckets of one assignment with bucket_start < cutoff into
// daily buckets (UTC days, one per source) and deletes them, in one transaction (reference §11
// step b; the math is health.RollupDaily and health.UpsertDaily, except that the p95 of a day
// whose hours carry t-digests is the p95 of their merged digests: see mergedP95). Use
// health.RollupCutoff(now, hourlyRetentionDays) for the cutoff; RollupHourlyToDailyBatch bounds
// the transaction.
func (s *Store) RollupHourlyToDaily(ctx context.Context, systemID, configurationID string, cutoff time.Time) (RollupResult, error) {
	r, err := s.rollupHourly(ctx, systemID, configurationID, cutoff, 0)
	return r.RollupResult, err
}

// PruneTransitions deletes the system's transitions older than cutoff except the single newest
// row of the system, so "in status since" never blanks (reference §5.3): one statement, whose
// newest-row subquery is empty when the system has no transitions (then it deletes by cutoff
// only).
func (s *Store) PruneTransitions(ctx context.Context, systemID string, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM health_check_state_transitions
		WHERE system_id = $1 AND transitioned_at < $2
		  AND id IS DISTINCT FROM (SELECT id FROM health_check_state_transitions
		                           WHERE system_id = $1 ORDER BY transitioned_at DESC, id DESC LIMIT 1)`,
		systemID, cutoff.UTC())
	if err != nil {
		return 0, wrapErr("prune transitions", err)
	}
	return tag.RowsAffected(), nil
}

// RetentionReport sums up a retention run.
type RetentionReport struct {
	Systems            int   `json:"systems"`
	Assignments        int   `json:"assignments"`
	TransitionsDeleted int64 `json:"transitionsDeleted"`
	RunsDeleted        int64 `json:"runsDeleted"`
	HourlyRolledUp     int64 `json:"hourlyRolledUp"`
	DailyWritten       int64 `json:"dailyWritten"`
	DailyDeleted       int64 `json:"dailyDeleted"`
}

// RunRetention runs the whole retention job of reference §11 at now: per system, prune its
// transitions with the largest raw retention of its assignments; per assignment, delete raw
// runs older than raw retention, roll hourly buckets older than the hourly retention (floored to
// UTC midnight) into daily ones, and delete daily buckets older than the daily retention. A
// failing system or assignment does not stop the others; their errors are joined.
func (s *Store) RunRetention(ctx context.Context, now time.Time) (RetentionReport, error) {
	targets, err := s.RetentionTargets(ctx)
	if err != nil {
		return RetentionReport{}, err
	}
	var rep RetentionReport
	var errs []error
	days := TransitionRetentionDays(targets)
	systems := make([]string, 0, len(days))
	for id := range days {
		systems = append(systems, id)
	}
	sort.Strings(systems)
	for _, id := range systems {
		n, err := s.PruneTransitions(ctx, id, daysBefore(now, days[id]))
		if err != nil {
			errs = append(errs, fmt.Errorf("state-transition prune failed for %s: %w", id, err))
			continue
		}
		rep.TransitionsDeleted += n
	}
	rep.Systems = len(systems)
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		rep.Assignments++
		n, err := s.DeleteRunsBefore(ctx, t.SystemID, t.ConfigurationID, daysBefore(now, t.Config.RawRetentionDays))
		if err == nil {
			rep.RunsDeleted += n
			var r RollupResult
			r, err = s.RollupHourlyToDaily(ctx, t.SystemID, t.ConfigurationID, health.RollupCutoff(now, t.Config.HourlyRetentionDays))
			rep.HourlyRolledUp += int64(r.HourlyRows)
			rep.DailyWritten += int64(r.DailyRows)
		}
		if err == nil {
			n, err = s.DeleteDailyBefore(ctx, t.SystemID, t.ConfigurationID, daysBefore(now, t.Config.DailyRetentionDays))
			rep.DailyDeleted += n
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("retention job failed for %s/%s: %w", t.SystemID, t.ConfigurationID, err))
		}
	}
	return rep, errors.Join(errs...)
}

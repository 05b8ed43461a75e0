package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// CurrentView is a system's stored view (system_health_state), written by its entity.
type CurrentView struct {
	SystemID string `json:"systemId"`
	health.View
	InStatusSince time.Time `json:"inStatusSince"`
	Seq           int64     `json:"seq"`
	UpdatedAt     time.Time `json:"updatedAt"`
}

const viewSQL = `SELECT system_id, status::text, healthy_checks, total_checks, in_status_since, seq, updated_at
	FROM system_health_state WHERE status IS NOT NULL AND system_id = ANY($1)`

func scanView(row pgx.Row) (CurrentView, error) {
	var v CurrentView
	var status string
	if err := row.Scan(&v.SystemID, &status, &v.HealthyChecks, &v.TotalChecks, &v.InStatusSince, &v.Seq, &v.UpdatedAt); err != nil {
		return CurrentView{}, err
	}
	v.Status = health.Status(status)
	v.InStatusSince, v.UpdatedAt = utc(v.InStatusSince), utc(v.UpdatedAt)
	return v, nil
}

// GetView returns a system's current view, or a *NotFoundError when it has none (no enabled
// checks, or its entity has not persisted yet).
func (s *Store) GetView(ctx context.Context, systemID string) (CurrentView, error) {
	v, err := scanView(s.pool.QueryRow(ctx, viewSQL, []string{systemID}))
	if errors.Is(err, pgx.ErrNoRows) {
		return CurrentView{}, notFound("View", systemID)
	}
	return v, wrapErr("get view", err)
}

// GetViews returns the current views of many systems with ONE query (WHERE system_id = ANY).
// Systems without a view are absent from the map; an empty id list does not touch the database.
func (s *Store) GetViews(ctx context.Context, systemIDs []string) (map[string]CurrentView, error) {
	out := make(map[string]CurrentView, len(systemIDs))
	if len(systemIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, viewSQL, systemIDs)
	if err != nil {
		return nil, wrapErr("get views", err)
	}
	views, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CurrentView, error) { return scanView(r) })
	if err != nil {
		return nil, wrapErr("get views", err)
	}
	for _, v := range views {
		out[v.SystemID] = v
	}
	return out, nil
}

// CheckRow is the stored state of one enabled check (check_health_state joined with its
// assignment and configuration).
type CheckRow struct {
	health.CheckStatus
	// Evaluated is false while the entity has not evaluated the check yet (Status is then the
	// evaluation of no runs).
	Evaluated bool `json:"evaluated"`
	// Paused is the configuration's paused flag (a paused check is not probed and counts as
	// healthy in the entity's aggregate).
	Paused               bool           `json:"paused"`
	ConsecutiveSuccesses int            `json:"consecutiveSuccesses"`
	ConsecutiveFailures  int            `json:"consecutiveFailures"`
	LastRunID            *string        `json:"lastRunId,omitempty"`
	LastRunStatus        *health.Status `json:"lastRunStatus,omitempty"`
	LastLatencyMs        *int           `json:"lastLatencyMs,omitempty"`
}

// CheckStates returns the enabled checks of many systems with their stored state, in assignment
// order, with ONE query. Systems without enabled checks are absent.
func (s *Store) CheckStates(ctx context.Context, systemIDs []string) (map[string][]CheckRow, error) {
	out := make(map[string][]CheckRow, len(systemIDs))
	if len(systemIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT a.system_id, a.configuration_id::text, c.name, c.paused, h.status::text,
			coalesce(h.runs_considered, 0), coalesce(h.consecutive_successes, 0), coalesce(h.consecutive_failures, 0),
			h.last_run_id, h.last_run_at, h.last_run_status::text, h.last_latency_ms
		FROM system_health_checks a
		JOIN health_check_configurations c ON c.id = a.configuration_id
		LEFT JOIN check_health_state h ON h.system_id = a.system_id AND h.configuration_id = a.configuration_id
		WHERE a.enabled AND a.system_id = ANY($1)
		ORDER BY a.system_id, a.created_at, a.configuration_id`, systemIDs)
	if err != nil {
		return nil, wrapErr("check states", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sys string
		var cr CheckRow
		var status, lastStatus *string
		if err := rows.Scan(&sys, &cr.ConfigurationID, &cr.ConfigurationName, &cr.Paused, &status, &cr.RunsConsidered,
			&cr.ConsecutiveSuccesses, &cr.ConsecutiveFailures, &cr.LastRunID, &cr.LastRunAt, &lastStatus, &cr.LastLatencyMs); err != nil {
			return nil, wrapErr("check states", err)
		}
		if status != nil {
			cr.Status, cr.Evaluated = health.Status(*status), true
		} else {
			cr.Status = health.Evaluate(nil, nil) // a check that never ran
		}
		cr.LastRunAt = utcPtr(cr.LastRunAt)
		cr.LastRunStatus = statusPtr(lastStatus)
		out[sys] = append(out[sys], cr)
	}
	return out, wrapErr("check states", rows.Err())
}

// SystemHealth returns getSystemHealthStatus for many systems from the stored state (two
// queries in total): the status is the stored view's (the aggregate of the checks when there is
// none yet; healthy without enabled checks) and checkStatuses are the enabled checks in
// assignment order. Every requested system is in the result. getSystemHealthStatus has no
// maintenance flag, so no maintenance lookup is made (ReadHealthAt and HealthStateInputs have
// one).
func (s *Store) SystemHealth(ctx context.Context, systemIDs []string, now time.Time) (map[string]health.SystemHealthStatus, error) {
	reads, err := s.readHealth(ctx, systemIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]health.SystemHealthStatus, len(reads))
	for id, r := range reads {
		cs := make([]health.CheckStatus, len(r.Checks))
		for i, c := range r.Checks {
			cs[i] = c.CheckStatus
		}
		st := health.NewSystemHealthStatus(cs, now)
		if r.View != nil {
			st.Status = r.View.Status
		}
		out[id] = st
	}
	return out, nil
}

// ---- health-state inputs (§6) ----------------------------------------------------------------

// HealthStateQuery asks for the health-state inputs of systems at one shared Now.
type HealthStateQuery struct {
	SystemIDs []string
	// ConfigurationID scopes the status, newest run and metrics to one check (optional).
	ConfigurationID string
	Now             time.Time
	// TransitionWindowMinutes defaults to 60; must be ≥ 1 when given.
	TransitionWindowMinutes int
}

// HealthStateInputs reads everything §6 needs for every requested system, with set-based
// queries (three round trips whatever the number of systems): the status (the stored view, or the
// check's evaluated status when scoped), in-status-since (newest system-level transition into
// that status), the newest run, the windowed metrics of the hourly buckets of the last 24 h,
// the number of transitions in the window, and InMaintenance (a maintenance window covers the
// system at Now; false when that lookup fails: fail-open as the reference). Assemble the
// answer with health.NewHealthState.
func (s *Store) HealthStateInputs(ctx context.Context, q HealthStateQuery) (map[string]health.HealthStateInput, error) {
	var fe fieldErrors
	if q.TransitionWindowMinutes == 0 {
		q.TransitionWindowMinutes = health.DefaultTransitionWindowMinutes
	}
	if q.TransitionWindowMinutes < 1 {
		fe.add("transitionWindowMinutes", "must be an integer ≥ 1")
	}
	var cfgID *string
	if q.ConfigurationID != "" {
		id, ok := normUUID(q.ConfigurationID)
		if !ok {
			fe.add("configurationId", "must be a UUID")
		}
		cfgID = &id
	}
	if q.Now.IsZero() {
		fe.add("now", "is required")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	now := q.Now.UTC()
	out := make(map[string]health.HealthStateInput, len(q.SystemIDs))
	if len(q.SystemIDs) == 0 {
		return out, nil
	}

	// Round trip 1: statuses.
	statuses := map[string]health.Status{}
	if cfgID == nil {
		views, err := s.GetViews(ctx, q.SystemIDs)
		if err != nil {
			return nil, err
		}
		for _, id := range q.SystemIDs {
			if v, ok := views[id]; ok {
				statuses[id] = v.Status
			} else {
				statuses[id] = health.AggregateStatus(nil)
			}
		}
	} else {
		checks, err := s.CheckStates(ctx, q.SystemIDs)
		if err != nil {
			return nil, err
		}
		for _, id := range q.SystemIDs {
			cs := make([]health.CheckStatus, len(checks[id]))
			for i, c := range checks[id] {
				cs[i] = c.CheckStatus
			}
			statuses[id] = health.CheckScopedStatus(cs, *cfgID)
		}
	}
	ids := make([]string, 0, len(statuses))
	sts := make([]string, 0, len(statuses))
	for id, st := range statuses {
		ids = append(ids, id)
		sts = append(sts, string(st))
		out[id] = health.HealthStateInput{Now: now, Status: st, TransitionWindowMinutes: q.TransitionWindowMinutes}
	}

	// Round trip 2: since, newest run, metrics rows, transition counts.
	b := &pgx.Batch{}
	b.Queue(`SELECT p.system_id, max(t.transitioned_at)
		FROM unnest($1::text[], $2::text[]) AS p(system_id, status)
		JOIN health_check_state_transitions t ON t.system_id = p.system_id AND t.to_status::text = p.status
		GROUP BY p.system_id`, ids, sts)
	b.Queue(`SELECT p.system_id, r.latency_ms, r."timestamp"
		FROM unnest($1::text[]) AS p(system_id)
		JOIN LATERAL (
			SELECT latency_ms, "timestamp" FROM health_check_runs
			WHERE system_id = p.system_id AND ($2::uuid IS NULL OR configuration_id = $2::uuid)
			ORDER BY "timestamp" DESC LIMIT 1) r ON true`, ids, cfgID)
	b.Queue(`SELECT system_id, run_count, healthy_count, latency_sum_ms, p95_latency_ms
		FROM health_check_aggregates
		WHERE system_id = ANY($1) AND bucket_size = 'hourly' AND bucket_start >= $2
		  AND ($3::uuid IS NULL OR configuration_id = $3::uuid)`, ids, health.MetricsWindowStart(now), cfgID)
	b.Queue(`SELECT system_id, count(*) FROM health_check_state_transitions
		WHERE system_id = ANY($1) AND transitioned_at >= $2 GROUP BY system_id`,
		ids, health.TransitionWindowStart(now, q.TransitionWindowMinutes))
	metrics := map[string][]health.HourlyMetricsRow{}
	err := func() error {
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var at time.Time
			if err := rows.Scan(&id, &at); err != nil {
				return err
			}
			in := out[id]
			in.InStatusSince = utcPtr(&at)
			out[id] = in
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var lat *int
			var at time.Time
			if err := rows.Scan(&id, &lat, &at); err != nil {
				return err
			}
			in := out[id]
			in.LatencyMs, in.LastRunAt = lat, utcPtr(&at)
			out[id] = in
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var m health.HourlyMetricsRow
			if err := rows.Scan(&id, &m.RunCount, &m.HealthyCount, &m.LatencySumMs, &m.P95LatencyMs); err != nil {
				return err
			}
			metrics[id] = append(metrics[id], m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			in := out[id]
			in.TransitionsInWindow = n
			out[id] = in
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, wrapErr("health state inputs", err)
	}
	// Round trip 3: maintenance, fail-open (not in maintenance when the lookup fails). It is
	// not part of the batch: a failed statement there would fail the whole batch.
	inMaint, err := s.SystemsInMaintenance(ctx, ids, now)
	if err != nil {
		inMaint = nil
	}
	for id, in := range out {
		in.Metrics = health.AggregateWindowedMetrics(metrics[id])
		in.InMaintenance = inMaint[id]
		out[id] = in
	}
	return out, nil
}

// WindowedMetrics computes the §6 latency/success metrics of a system (or one of its checks
// when configurationID is set) from its hourly buckets with bucket_start ≥ now − 24 h.
func (s *Store) WindowedMetrics(ctx context.Context, systemID, configurationID string, now time.Time) (health.WindowedMetrics, error) {
	var cfgID *string
	if configurationID != "" {
		id, ok := normUUID(configurationID)
		if !ok {
			return health.WindowedMetrics{}, invalid("configurationId", "must be a UUID")
		}
		cfgID = &id
	}
	rows, err := s.pool.Query(ctx, `SELECT run_count, healthy_count, latency_sum_ms, p95_latency_ms
		FROM health_check_aggregates
		WHERE system_id = $1 AND bucket_size = 'hourly' AND bucket_start >= $2
		  AND ($3::uuid IS NULL OR configuration_id = $3::uuid)`, systemID, health.MetricsWindowStart(now.UTC()), cfgID)
	if err != nil {
		return health.WindowedMetrics{}, wrapErr("windowed metrics", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (health.HourlyMetricsRow, error) {
		var m health.HourlyMetricsRow
		err := r.Scan(&m.RunCount, &m.HealthyCount, &m.LatencySumMs, &m.P95LatencyMs)
		return m, err
	})
	if err != nil {
		return health.WindowedMetrics{}, wrapErr("windowed metrics", err)
	}
	return health.AggregateWindowedMetrics(ms), nil
}

// ---- transitions -----------------------------------------------------------------------------

// Transition is a stored aggregate status transition.
type Transition struct {
	ID              string         `json:"id"`
	SystemID        string         `json:"systemId"`
	ConfigurationID *string        `json:"configurationId,omitempty"`
	FromStatus      *health.Status `json:"fromStatus"`
	ToStatus        health.Status  `json:"toStatus"`
	TransitionedAt  time.Time      `json:"transitionedAt"`
	Seq             *int64         `json:"seq,omitempty"`
}

// FindInStatusSince returns the newest transitioned_at of the system's transitions into status,
// or nil when there is none (reference findInStatusSince).
func (s *Store) FindInStatusSince(ctx context.Context, systemID string, status health.Status) (*time.Time, error) {
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT max(transitioned_at) FROM health_check_state_transitions
		WHERE system_id = $1 AND to_status = $2::health_check_status`, systemID, string(status)).Scan(&at)
	if err != nil {
		return nil, wrapErr("find in status since", err)
	}
	return utcPtr(at), nil
}

// CountTransitionsInWindow counts the system's transitions with transitioned_at ≥ now −
// windowMinutes (no upper bound), optionally only those into toStatus (reference
// countStateTransitionsInWindow).
func (s *Store) CountTransitionsInWindow(ctx context.Context, systemID string, windowMinutes int, toStatus *health.Status, now time.Time) (int, error) {
	if windowMinutes < 1 {
		return 0, invalid("transitionWindowMinutes", "must be an integer ≥ 1")
	}
	var to *string
	if toStatus != nil {
		x := string(*toStatus)
		to = &x
	}
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM health_check_state_transitions
		WHERE system_id = $1 AND transitioned_at >= $2 AND ($3::health_check_status IS NULL OR to_status = $3::health_check_status)`,
		systemID, health.TransitionWindowStart(now.UTC(), windowMinutes), to).Scan(&n)
	if err != nil {
		return 0, wrapErr("count transitions", err)
	}
	return n, nil
}

// TransitionFilter selects a system's transitions, newest first.
type TransitionFilter struct {
	SystemID string
	// Since and Until bound transitioned_at (inclusive).
	Since, Until *time.Time
	Page
}

// ListTransitions returns a page of a system's transitions, newest first.
func (s *Store) ListTransitions(ctx context.Context, f TransitionFilter) ([]Transition, error) {
	page, err := f.Page.normalize(DefaultListLimit)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id::text, system_id, configuration_id::text, from_status::text, to_status::text,
			transitioned_at, seq
		FROM health_check_state_transitions
		WHERE system_id = $1 AND ($2::timestamptz IS NULL OR transitioned_at >= $2) AND ($3::timestamptz IS NULL OR transitioned_at <= $3)
		ORDER BY transitioned_at DESC, id DESC LIMIT $4 OFFSET $5`, f.SystemID, f.Since, f.Until, page.Limit, page.Offset)
	if err != nil {
		return nil, wrapErr("list transitions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Transition, error) {
		var t Transition
		var from *string
		var to string
		if err := r.Scan(&t.ID, &t.SystemID, &t.ConfigurationID, &from, &to, &t.TransitionedAt, &t.Seq); err != nil {
			return t, err
		}
		t.FromStatus, t.ToStatus, t.TransitionedAt = statusPtr(from), health.Status(to), utc(t.TransitionedAt)
		return t, nil
	})
	if err != nil {
		return nil, wrapErr("list transitions", err)
	}
	return out, nil
}

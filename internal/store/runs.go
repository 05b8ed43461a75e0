package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// Run is a stored run. Result is set only by the detailed reads ({} when the run has none).
type Run struct {
	ID              string          `json:"id"`
	ConfigurationID string          `json:"configurationId"`
	SystemID        string          `json:"systemId"`
	Status          health.Status   `json:"status"`
	Timestamp       time.Time       `json:"timestamp"`
	LatencyMs       *int            `json:"latencyMs,omitempty"`
	SourceID        *string         `json:"sourceId,omitempty"`
	SourceLabel     *string         `json:"sourceLabel,omitempty"`
	Result          json.RawMessage `json:"result,omitempty"`
}

// Sort orders of the history read.
const (
	SortDesc = "desc"
	SortAsc  = "asc"
)

// SourceLocal as a source filter selects runs of the default (local) probes (source_id NULL).
const SourceLocal = "local"

// DefaultHistoryLimit is getHistory's default page size.
const DefaultHistoryLimit = 10

// RunFilter selects runs for the history reads (reference getHistory / getDetailedHistory).
// Every filter is optional.
type RunFilter struct {
	SystemID        string
	ConfigurationID string
	// StartDate and EndDate bound the run timestamp (inclusive).
	StartDate *time.Time
	EndDate   *time.Time
	// SourceFilter: "" = all sources, "local" = the default probes, else that source id.
	SourceFilter string
	// Statuses keeps runs with one of these statuses (empty = all).
	Statuses []health.Status
	// Limit (default 10, at most MaxListLimit) and Offset page the result.
	Limit  int
	Offset int
	// SortOrder is "desc" (default, newest first) or "asc", by timestamp then id.
	SortOrder string
	// Detailed adds each run's result (getDetailedHistory).
	Detailed bool
}

// RunPage is a page of runs and the number of runs matching the filter.
type RunPage struct {
	Runs  []Run `json:"runs"`
	Total int   `json:"total"`
}

func (f RunFilter) where() (string, []any, error) {
	var fe fieldErrors
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.SystemID != "" {
		conds = append(conds, "system_id = "+arg(f.SystemID))
	}
	if f.ConfigurationID != "" {
		id, ok := normUUID(f.ConfigurationID)
		if !ok {
			fe.add("configurationId", "must be a UUID")
		}
		conds = append(conds, "configuration_id = "+arg(id)+"::uuid")
	}
	if f.StartDate != nil {
		conds = append(conds, `"timestamp" >= `+arg(f.StartDate.UTC()))
	}
	if f.EndDate != nil {
		conds = append(conds, `"timestamp" <= `+arg(f.EndDate.UTC()))
	}
	switch f.SourceFilter {
	case "":
	case SourceLocal:
		conds = append(conds, "source_id IS NULL")
	default:
		conds = append(conds, "source_id = "+arg(f.SourceFilter))
	}
	if len(f.Statuses) > 0 {
		for _, st := range f.Statuses {
			if !st.Valid() {
				fe.add("statusFilter", "must contain only healthy, degraded or unhealthy")
				break
			}
		}
		conds = append(conds, "status = ANY("+arg(statusesText(f.Statuses))+"::text[]::health_check_status[])")
	}
	if err := fe.err(); err != nil {
		return "", nil, err
	}
	if len(conds) == 0 {
		return "", args, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

const runColumns = `id, configuration_id::text, system_id, status::text, "timestamp", latency_ms, source_id, source_label`

func scanRun(row pgx.Row, detailed bool) (Run, error) {
	var r Run
	var status string
	dest := []any{&r.ID, &r.ConfigurationID, &r.SystemID, &status, &r.Timestamp, &r.LatencyMs, &r.SourceID, &r.SourceLabel}
	var result []byte
	if detailed {
		dest = append(dest, &result)
	}
	if err := row.Scan(dest...); err != nil {
		return Run{}, err
	}
	r.Status = health.Status(status)
	r.Timestamp = utc(r.Timestamp)
	if detailed {
		if len(result) == 0 {
			result = []byte("{}")
		}
		r.Result = json.RawMessage(result)
	}
	return r, nil
}

// ListRuns reads run history with the reference's filters, pagination and sort: the page (one
// indexed query) and the total (a count over the same filter) in one round trip.
func (s *Store) ListRuns(ctx context.Context, f RunFilter) (RunPage, error) {
	var fe fieldErrors
	if f.Limit == 0 {
		f.Limit = DefaultHistoryLimit
	}
	if f.Limit < 1 || f.Limit > MaxListLimit {
		fe.add("limit", fmt.Sprintf("must be between 1 and %d", MaxListLimit))
	}
	if f.Offset < 0 {
		fe.add("offset", "must be ≥ 0")
	}
	dir := "DESC"
	switch f.SortOrder {
	case "", SortDesc:
	case SortAsc:
		dir = "ASC"
	default:
		fe.add("sortOrder", `must be "asc" or "desc"`)
	}
	if err := fe.err(); err != nil {
		return RunPage{}, err
	}
	where, args, err := f.where()
	if err != nil {
		return RunPage{}, err
	}
	cols := runColumns
	if f.Detailed {
		cols += ", result"
	}
	b := &pgx.Batch{}
	pageArgs := append(append([]any(nil), args...), f.Limit, f.Offset)
	b.Queue(fmt.Sprintf(`SELECT %s FROM health_check_runs%s ORDER BY "timestamp" %s, id %s LIMIT $%d OFFSET $%d`,
		cols, where, dir, dir, len(args)+1, len(args)+2), pageArgs...)
	b.Queue(`SELECT count(*) FROM health_check_runs`+where, args...)
	page := RunPage{Runs: []Run{}}
	err = func() error {
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		rows, err := br.Query()
		if err != nil {
			return err
		}
		runs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) { return scanRun(r, f.Detailed) })
		if err != nil {
			return err
		}
		page.Runs = append(page.Runs, runs...)
		return br.QueryRow().Scan(&page.Total)
	}()
	if err != nil {
		return RunPage{}, wrapErr("list runs", err)
	}
	return page, nil
}

// GetRun returns one run with its result, or a *NotFoundError.
func (s *Store) GetRun(ctx context.Context, runID string) (Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runColumns+`, result FROM health_check_runs WHERE id = $1`, runID), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, notFound("Run", runID)
	}
	return r, wrapErr("get run", err)
}

// RecentRun is a short run summary for sparklines.
type RecentRun struct {
	ID        string        `json:"id"`
	Status    health.Status `json:"status"`
	Timestamp time.Time     `json:"timestamp"`
}

// OverviewCheck is one assignment of a system with its newest runs (getSystemHealthOverview).
type OverviewCheck struct {
	Assignment
	StrategyID      string `json:"strategyId"`
	IntervalSeconds int    `json:"intervalSeconds"`
	Paused          bool   `json:"paused"`
	// RecentRuns are the newest ≤ perCheck runs in chronological order (oldest first).
	RecentRuns []RecentRun `json:"recentRuns"`
}

// Overview returns every assignment of a system (enabled or not) with its newest perCheck runs
// (0 = health.OverviewRuns) in chronological order, in one query.
func (s *Store) Overview(ctx context.Context, systemID string, perCheck int) ([]OverviewCheck, error) {
	if perCheck <= 0 {
		perCheck = health.OverviewRuns
	}
	if perCheck > health.MaxWindowRuns {
		return nil, invalid("perCheck", fmt.Sprintf("must be at most %d", health.MaxWindowRuns))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+assignmentColumns+`, c.strategy_id, c.interval_seconds, c.paused,
			coalesce(r.ids, '{}'), coalesce(r.statuses, '{}'), coalesce(r.times, '{}')
		FROM system_health_checks a
		JOIN health_check_configurations c ON c.id = a.configuration_id
		LEFT JOIN LATERAL (
			SELECT array_agg(x.id ORDER BY x."timestamp", x.id) AS ids,
			       array_agg(x.status::text ORDER BY x."timestamp", x.id) AS statuses,
			       array_agg(x."timestamp" ORDER BY x."timestamp", x.id) AS times
			FROM (SELECT id, status, "timestamp" FROM health_check_runs
			      WHERE system_id = a.system_id AND configuration_id = a.configuration_id
			      ORDER BY "timestamp" DESC, id DESC LIMIT $2) x
		) r ON true
		WHERE a.system_id = $1
		ORDER BY a.created_at, a.configuration_id`, systemID, perCheck)
	if err != nil {
		return nil, wrapErr("overview", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OverviewCheck, error) {
		var oc OverviewCheck
		a := &oc.Assignment
		var th, rc, np []byte
		var ids, statuses []string
		var times []time.Time
		if err := row.Scan(&a.SystemID, &a.ConfigurationID, &a.ConfigurationName, &a.Enabled, &th, &rc, &a.Locations, &np,
			&a.CreatedAt, &a.UpdatedAt, &a.Quorum, &oc.StrategyID, &oc.IntervalSeconds, &oc.Paused, &ids, &statuses, &times); err != nil {
			return OverviewCheck{}, err
		}
		if err := decodeAssignmentJSON(a, th, rc, np); err != nil {
			return OverviewCheck{}, err
		}
		if a.Locations == nil {
			a.Locations = []string{}
		}
		a.CreatedAt, a.UpdatedAt = utc(a.CreatedAt), utc(a.UpdatedAt)
		oc.RecentRuns = make([]RecentRun, len(ids))
		for i := range ids {
			oc.RecentRuns[i] = RecentRun{ID: ids[i], Status: health.Status(statuses[i]), Timestamp: utc(times[i])}
		}
		return oc, nil
	})
	return out, wrapErr("overview", err)
}

package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// Reads come from PostgreSQL only — the entity-written state rows, runs and aggregates — never
// from Temporal (design.md invariant 6).

// maxBulkSystems bounds the system ids of one bulk request.
const maxBulkSystems = 1000

// ---- run history -----------------------------------------------------------------------------

type runList struct {
	Runs   []store.Run `json:"runs"`
	Total  int         `json:"total"`
	Limit  int         `json:"limit"`
	Offset int         `json:"offset"`
}

func (s *Server) runFilter(c echo.Context, detailed bool) (store.RunFilter, error) {
	q := newQuery(c)
	f := store.RunFilter{
		SystemID:        q.str("systemId"),
		ConfigurationID: q.str("checkId"),
		StartDate:       q.time("startDate"),
		EndDate:         q.time("endDate"),
		SourceFilter:    q.str("sourceFilter"),
		Limit:           q.integer("limit", store.DefaultHistoryLimit, 1, store.MaxListLimit),
		Offset:          q.integer("offset", 0, 0, 1<<31-1),
		SortOrder:       q.oneOf("sortOrder", store.SortAsc, store.SortDesc),
		Detailed:        detailed,
	}
	for _, st := range q.strs("status") {
		status, err := health.ParseStatus(st)
		if err != nil {
			q.fail("status", "must contain only healthy, degraded or unhealthy")
			break
		}
		f.Statuses = append(f.Statuses, status)
	}
	if f.ConfigurationID != "" && !isUUID(f.ConfigurationID) {
		q.fail("checkId", "must be a UUID")
	}
	if f.StartDate != nil && f.EndDate != nil && f.EndDate.Before(*f.StartDate) {
		q.fail("endDate", "must not be before startDate")
	}
	return f, q.finish()
}

func (s *Server) listRuns(c echo.Context) error { return s.runs(c, false) }

func (s *Server) listDetailedRuns(c echo.Context) error { return s.runs(c, true) }

func (s *Server) runs(c echo.Context, detailed bool) error {
	f, err := s.runFilter(c, detailed)
	if err != nil {
		return err
	}
	page, err := s.store.ListRuns(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, runList{Runs: page.Runs, Total: page.Total, Limit: f.Limit, Offset: f.Offset})
}

func (s *Server) getRun(c echo.Context) error {
	id, err := pathParam(c, "runId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	r, err := s.store.GetRun(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// aggregatedHistory answers getAggregatedHistory; detailed=true (getDetailedAggregatedHistory)
// adds each bucket's aggregatedResult and needs details:read.
func (s *Server) aggregatedHistory(c echo.Context) error {
	systemID, checkID, err := assignmentParams(c)
	if err != nil {
		return err
	}
	q := newQuery(c)
	start, end := q.time("startDate"), q.time("endDate")
	hq := store.HistoryQuery{
		SystemID: systemID, ConfigurationID: checkID,
		TargetPoints: q.integer("targetPoints", health.DefaultTargetPoints, health.MinTargetPoints, health.MaxTargetPoints),
		SourceFilter: q.str("sourceFilter"),
		Detailed:     q.boolean("detailed"),
	}
	if start == nil {
		if _, given := q.values["startDate"]; !given {
			q.fail("startDate", "is required")
		}
	} else {
		hq.Start = *start
	}
	if end == nil {
		if _, given := q.values["endDate"]; !given {
			q.fail("endDate", "is required")
		}
	} else {
		hq.End = *end
	}
	if start != nil && end != nil && end.Before(*start) {
		q.fail("endDate", "must not be before startDate")
	}
	if err := q.finish(); err != nil {
		return err
	}
	if hq.Detailed {
		if err := s.requireMore(c, ScopeDetailsRead); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	if err := s.systemExists(ctx, systemID); err != nil {
		return err
	}
	if !isUUID(checkID) {
		return notFoundProblem("Configuration not found")
	}
	// History outlives an assignment (runs age out through retention), so none is required.
	h, err := s.store.AggregatedHistory(ctx, hq)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h)
}

// ---- health ----------------------------------------------------------------------------------

// checkHealthDTO is one enabled check of getSystemHealthStatus: its stored evaluation, whether
// its configuration is paused (not probed; it counts as healthy in the system's aggregate until
// resumed) and whether no run backs its status yet.
type checkHealthDTO struct {
	health.CheckStatus
	Paused    bool `json:"paused"`
	NoDataYet bool `json:"noDataYet"`
}

// systemHealthDTO is getSystemHealthStatus plus the view's counts: the entity-written state
// (a paused check counts as healthy in the entity's aggregate, a checkflow choice); a system
// with enabled checks and no state yet is the baseline {healthy, N, N}. NoDataYet says that no
// enabled check has a run yet (also true without enabled checks): the status is then the
// reference's default, not a measurement.
type systemHealthDTO struct {
	Status        health.Status    `json:"status"`
	EvaluatedAt   time.Time        `json:"evaluatedAt"`
	CheckStatuses []checkHealthDTO `json:"checkStatuses"`
	HealthyChecks int              `json:"healthyChecks"`
	TotalChecks   int              `json:"totalChecks"`
	NoDataYet     bool             `json:"noDataYet"`
}

// systemHealth reads the health of systems with two set-based queries whatever their number.
func (s *Server) systemHealth(c echo.Context, ids []string) (map[string]systemHealthDTO, error) {
	now := s.now().UTC()
	reads, err := s.store.ReadHealth(c.Request().Context(), ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]systemHealthDTO, len(ids))
	for _, id := range ids {
		hr := reads[id]
		cs := make([]health.CheckStatus, len(hr.Checks))
		dto := systemHealthDTO{CheckStatuses: make([]checkHealthDTO, len(hr.Checks)), NoDataYet: true}
		for i, cr := range hr.Checks {
			cs[i] = cr.CheckStatus
			dto.CheckStatuses[i] = checkHealthDTO{CheckStatus: cr.CheckStatus, Paused: cr.Paused, NoDataYet: cr.RunsConsidered == 0}
			if cr.RunsConsidered > 0 {
				dto.NoDataYet = false
			}
		}
		st := health.NewSystemHealthStatus(cs, now)
		dto.Status, dto.EvaluatedAt = st.Status, st.EvaluatedAt
		if v := hr.View; v != nil {
			dto.Status, dto.HealthyChecks, dto.TotalChecks = v.Status, v.HealthyChecks, v.TotalChecks
		} else if b := health.BaselineView(len(cs)); b != nil {
			dto.Status, dto.HealthyChecks, dto.TotalChecks = b.Status, b.HealthyChecks, b.TotalChecks
		}
		out[id] = dto
	}
	return out, nil
}

// splitKnown separates the requested ids into existing systems and unknown ids (both in
// request order).
func (s *Server) splitKnown(c echo.Context, ids []string) (known, unknown []string, err error) {
	exists, err := s.store.ExistingSystems(c.Request().Context(), ids)
	if err != nil {
		return nil, nil, err
	}
	known, unknown = []string{}, []string{}
	for _, id := range ids {
		if exists[id] {
			known = append(known, id)
		} else {
			unknown = append(unknown, id)
		}
	}
	return known, unknown, nil
}

func (s *Server) getHealth(c echo.Context) error {
	id, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	if err := s.systemExists(c.Request().Context(), id); err != nil {
		return err
	}
	out, err := s.systemHealth(c, []string{id})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out[id])
}

type bulkBody struct {
	SystemIDs               []string `json:"systemIds"`
	TransitionWindowMinutes *int     `json:"transitionWindowMinutes,omitempty"`
}

// bulkIDs validates the systemIds of a bulk body (1 to maxBulkSystems, deduplicated).
func bulkIDs(b bulkBody) ([]string, error) {
	if b.SystemIDs == nil {
		return nil, invalidField("systemIds", "is required")
	}
	if len(b.SystemIDs) > maxBulkSystems {
		return nil, invalidField("systemIds", fmt.Sprintf("must have at most %d items", maxBulkSystems))
	}
	seen := make(map[string]bool, len(b.SystemIDs))
	ids := make([]string, 0, len(b.SystemIDs))
	for i, id := range b.SystemIDs {
		if id == "" || len(id) > 128 {
			return nil, invalidField(fmt.Sprintf("systemIds[%d]", i), "must be 1 to 128 characters")
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// bulkHealthDTO answers getBulkSystemHealthStatus: the health of every requested system that
// exists, and the ids that are no system in unknown (the reference reported them healthy).
type bulkHealthDTO struct {
	Statuses map[string]systemHealthDTO `json:"statuses"`
	Unknown  []string                   `json:"unknown"`
}

// bulkHealth answers getBulkSystemHealthStatus: existing systems in statuses (like GET
// /systems/{id}/health), unknown ids listed in unknown (GET /systems/{id}/health is a 404 for
// them).
func (s *Server) bulkHealth(c echo.Context) error {
	var b bulkBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	if b.TransitionWindowMinutes != nil {
		return invalidField("transitionWindowMinutes", "unknown field")
	}
	ids, err := bulkIDs(b)
	if err != nil {
		return err
	}
	known, unknown, err := s.splitKnown(c, ids)
	if err != nil {
		return err
	}
	out, err := s.systemHealth(c, known)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, bulkHealthDTO{Statuses: out, Unknown: unknown})
}

type overviewCheckDTO struct {
	ConfigurationID   string             `json:"configurationId"`
	ConfigurationName string             `json:"configurationName"`
	StrategyID        string             `json:"strategyId"`
	IntervalSeconds   int                `json:"intervalSeconds"`
	Enabled           bool               `json:"enabled"`
	Paused            bool               `json:"paused"`
	Status            health.Status      `json:"status"`
	StateThresholds   *health.Thresholds `json:"stateThresholds,omitempty"`
	RecentRuns        []store.RecentRun  `json:"recentRuns"`
}

type overviewDTO struct {
	SystemID string             `json:"systemId"`
	Checks   []overviewCheckDTO `json:"checks"`
}

// getOverview answers getSystemHealthOverview: every assignment (enabled or not) with its
// status evaluated on the newest 25 runs and those runs oldest first (§2.4).
func (s *Server) getOverview(c echo.Context) error {
	id, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.systemExists(ctx, id); err != nil {
		return err
	}
	checks, err := s.store.Overview(ctx, id, health.OverviewRuns)
	if err != nil {
		return err
	}
	out := overviewDTO{SystemID: id, Checks: make([]overviewCheckDTO, len(checks))}
	for i, oc := range checks {
		newestFirst := make([]health.Status, len(oc.RecentRuns))
		for j, r := range oc.RecentRuns {
			newestFirst[len(oc.RecentRuns)-1-j] = r.Status
		}
		runs := oc.RecentRuns
		if runs == nil {
			runs = []store.RecentRun{}
		}
		out.Checks[i] = overviewCheckDTO{
			ConfigurationID: oc.ConfigurationID, ConfigurationName: oc.ConfigurationName,
			StrategyID: oc.StrategyID, IntervalSeconds: oc.IntervalSeconds, Enabled: oc.Enabled, Paused: oc.Paused,
			Status:          health.Evaluate(newestFirst, oc.StateThresholds),
			StateThresholds: oc.StateThresholds, RecentRuns: runs,
		}
	}
	return c.JSON(http.StatusOK, out)
}

// ---- health state (§6) ----------------------------------------------------------------------

// healthStateDTO is §6's health state plus noDataYet: no run is recorded yet (of the check
// when the state is scoped to one), so the status is the reference's default, not a
// measurement.
type healthStateDTO struct {
	health.HealthState
	NoDataYet bool `json:"noDataYet"`
}

// healthStates assembles §6 for systems at one shared now (inMaintenance: a maintenance window
// covers the system now; false when that cannot be read, the reference's fail-open value).
func (s *Server) healthStates(c echo.Context, ids []string, configurationID string, window int) (map[string]healthStateDTO, error) {
	now := s.now().UTC()
	inputs, err := s.store.HealthStateInputs(c.Request().Context(), store.HealthStateQuery{
		SystemIDs: ids, ConfigurationID: configurationID, Now: now, TransitionWindowMinutes: window,
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]healthStateDTO, len(inputs))
	for id, in := range inputs {
		out[id] = healthStateDTO{HealthState: health.NewHealthState(in), NoDataYet: in.LastRunAt == nil}
	}
	return out, nil
}

func (s *Server) getHealthState(c echo.Context) error {
	id, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	q := newQuery(c)
	cfgID := q.str("configurationId")
	window := q.integer("transitionWindowMinutes", health.DefaultTransitionWindowMinutes, 1, 525600)
	if cfgID != "" && !isUUID(cfgID) {
		q.fail("configurationId", "must be a UUID")
	}
	if err := q.finish(); err != nil {
		return err
	}
	if err := s.systemExists(c.Request().Context(), id); err != nil {
		return err
	}
	states, err := s.healthStates(c, []string{id}, cfgID, window)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, states[id])
}

// bulkHealthStateDTO answers getBulkHealthState: the states of the requested systems that
// exist, and the ids that are no system in unknown.
type bulkHealthStateDTO struct {
	States  map[string]healthStateDTO `json:"states"`
	Unknown []string                  `json:"unknown"`
}

func (s *Server) bulkHealthState(c echo.Context) error {
	var b bulkBody
	if _, err := decodeJSON(c, &b, false); err != nil {
		return err
	}
	ids, err := bulkIDs(b)
	if err != nil {
		return err
	}
	window := health.DefaultTransitionWindowMinutes
	if b.TransitionWindowMinutes != nil {
		window = *b.TransitionWindowMinutes
		if window < 1 || window > 525600 {
			return invalidField("transitionWindowMinutes", "must be an integer between 1 and 525600")
		}
	}
	known, unknown, err := s.splitKnown(c, ids)
	if err != nil {
		return err
	}
	states, err := s.healthStates(c, known, "", window)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, bulkHealthStateDTO{States: states, Unknown: unknown})
}

// ---- transitions and events ------------------------------------------------------------------

type transitionList struct {
	Transitions []store.Transition `json:"transitions"`
	Limit       int                `json:"limit"`
	Offset      int                `json:"offset"`
}

func (s *Server) listTransitions(c echo.Context) error {
	id, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	q := newQuery(c)
	f := store.TransitionFilter{SystemID: id, Since: q.time("since"), Until: q.time("until"), Page: q.page(store.DefaultListLimit)}
	if err := q.finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.systemExists(ctx, id); err != nil {
		return err
	}
	list, err := s.store.ListTransitions(ctx, f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.Transition{}
	}
	return c.JSON(http.StatusOK, transitionList{Transitions: list, Limit: f.Limit, Offset: f.Offset})
}

type eventList struct {
	Events []store.Event `json:"events"`
	// NextCursor continues the listing (pass it as cursor); absent on the last page.
	NextCursor *int64 `json:"nextCursor,omitempty"`
}

// listEvents pages the event outbox (trigger events and hooks) by id; order=desc lists newest
// first.
func (s *Server) listEvents(c echo.Context) error {
	q := newQuery(c)
	f := store.EventFilter{
		SystemID:   q.str("systemId"),
		Type:       q.str("type"),
		Since:      q.time("since"),
		Until:      q.time("until"),
		Cursor:     q.int64("cursor"),
		Limit:      q.integer("limit", store.DefaultListLimit, 1, store.MaxListLimit),
		Descending: q.oneOf("order", "asc", "desc") == "desc",
	}
	if err := q.finish(); err != nil {
		return err
	}
	list, err := s.store.ListEvents(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.Event{}
	}
	out := eventList{Events: list}
	if len(list) == f.Limit {
		last := list[len(list)-1].ID
		out.NextCursor = &last
	}
	return c.JSON(http.StatusOK, out)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

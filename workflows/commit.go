// The SystemHealth entity's commit step: load, apply a step's results (the pure fold and diff
// are internal/health's), store it, and re-evaluate after a configuration change. Every path
// that changes derived state goes through persistItem (durable.go).

package workflows

import (
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

func (e *entity) loadInitial(ctx workflow.Context) error {
	loaded, err := e.load(ctx)
	if err != nil {
		return err
	}
	e.st.SystemName = loaded.SystemName
	e.st.FlapThresholds = loaded.FlapThresholds
	e.st.Seq = loaded.Seq
	now := workflow.Now(ctx)
	e.st.Checks = e.mergeChecks(nil, loaded.Checks, now)
	e.setMaintenance(loaded.InMaintenance, now)
	e.st.View = loaded.View
	if e.st.View == nil && len(e.st.Checks) > 0 {
		// No stored view yet: store the baseline computed from the runs we have (invariant 5:
		// {healthy, N, N} for checks without runs), so readers see the system at once. It is
		// the "prev" of the first evaluation, so a first failure is a transition.
		e.st.View = e.computeView()
		e.st.Seq++
		req := PersistRequest{SystemID: e.systemID, Seq: e.st.Seq, At: now, View: e.st.View, Checks: e.evals()}
		if _, err := e.persistItem(ctx, req); err != nil {
			e.logger.Error("persist of the baseline view failed", "error", err)
		}
	}
	return nil
}

func (e *entity) evals() []CheckEval {
	out := make([]CheckEval, 0, len(e.st.Checks))
	for _, c := range e.st.Checks {
		out = append(out, CheckEval{ConfigurationID: c.ConfigurationID, Status: c.Status, RunsConsidered: min(len(c.Recent), health.MaxWindowRuns)})
	}
	return out
}

func (e *entity) load(ctx workflow.Context) (LoadedSystem, error) {
	if e.durable {
		return e.loadUntilLoaded(ctx)
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	var loaded LoadedSystem
	err := workflow.ExecuteLocalActivity(lctx, ActivityLoadSystem, LoadSystemRequest{SystemID: e.systemID}).Get(ctx, &loaded)
	if err != nil {
		return loaded, fmt.Errorf("load system %s: %w", e.systemID, err)
	}
	return loaded, nil
}

// mergeChecks builds the check list from a fresh load, keeping what the entity knows better
// than the database (its in-memory window and due times) for checks it already had.
func (e *entity) mergeChecks(old []CheckState, loaded []LoadedCheck, now time.Time) []CheckState {
	out := make([]CheckState, 0, len(loaded))
	for _, l := range loaded {
		c := CheckState{Assignment: l.Assignment, Recent: l.Recent, LastRunAt: l.LastRunAt}
		if c.IntervalSeconds < 1 {
			c.IntervalSeconds = 60
		}
		prevIdx := -1
		for i := range old {
			if old[i].ConfigurationID == l.ConfigurationID {
				prevIdx = i
				break
			}
		}
		if prevIdx >= 0 {
			p := old[prevIdx]
			c.Recent, c.LastRunAt, c.InFlight, c.NextDue, c.Flap = p.Recent, p.LastRunAt, p.InFlight, p.NextDue, p.Flap
			if p.IntervalSeconds != c.IntervalSeconds {
				c.NextDue = firstDue(e.systemID, c.IntervalSeconds, c.LastRunAt, now)
			}
		} else {
			c.NextDue = firstDue(e.systemID, c.IntervalSeconds, c.LastRunAt, now)
			if e.flaps {
				c.Flap = health.RebuildCheckFlap(c.Recent, c.Thresholds, c.Paused, e.st.FlapThresholds)
			}
		}
		if prevIdx >= 0 {
			e.heartbeatDue(&c, &old[prevIdx], now)
		} else {
			e.heartbeatDue(&c, nil, now)
		}
		c.Status = evaluateCheck(c)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ConfigurationID < out[j].ConfigurationID })
	return out
}

// window is the check's evaluation window; setWindow replaces it.
func (c *CheckState) window() health.Window {
	return health.Window{Recent: c.Recent, LastRunAt: c.LastRunAt, Status: c.Status}
}

func (c *CheckState) setWindow(w health.Window) {
	c.Recent, c.LastRunAt, c.Status = w.Recent, w.LastRunAt, w.Status
}

// fold adds a run to the check's window and re-evaluates the check (health.Window.Fold).
func (c *CheckState) fold(status health.Status, at time.Time) {
	c.setWindow(c.window().Fold(status, at, c.Thresholds, c.Paused))
}

// evaluateCheck is a check's status with its thresholds (health.EvaluateCheck).
func evaluateCheck(c CheckState) health.Status {
	return health.EvaluateCheck(c.Recent, c.Thresholds, c.Paused)
}

func (e *entity) computeView() *health.View {
	statuses := make([]health.CheckStatus, 0, len(e.st.Checks))
	for _, c := range e.st.Checks {
		statuses = append(statuses, health.CheckStatus{
			ConfigurationID: c.ConfigurationID, ConfigurationName: c.Name, Status: c.Status,
			RunsConsidered: min(len(c.Recent), health.MaxWindowRuns), LastRunAt: c.LastRunAt,
		})
	}
	return health.ComputeView(statuses)
}

func (e *entity) process(ctx workflow.Context, it item) {
	if it.session != nil {
		e.processSessionEnd(ctx, it.session)
		return
	}
	if it.lost != "" {
		e.processSessionLost(ctx, it.lost)
		return
	}
	if it.config {
		e.processConfigChange(ctx)
		if it.waiter != nil {
			it.waiter.ready = true
		}
		return
	}
	e.processResults(ctx, it)
}

// processResults folds the results of one item (one run, or a probe batch) into their checks
// as one step: snapshot → apply → persist → diff → emit.
func (e *entity) processResults(ctx workflow.Context, it item) {
	respond := func(resp RunCheckResponse, err error) {
		if it.waiter != nil {
			it.waiter.resp, it.waiter.err, it.waiter.ready = resp, err, true
		}
	}
	prev := cloneView(e.st.View)
	saved, savedFlaps := e.saveWindows(), e.saveFlaps()
	st := e.applyStep(ctx, prev, it.results)
	if len(st.runs) == 0 {
		if len(it.results) == 1 && e.seen[it.results[0].ID] {
			respond(RunCheckResponse{Run: it.results[0], View: cloneView(e.st.View), Duplicate: true}, nil)
		} else {
			respond(RunCheckResponse{}, fmt.Errorf("check is no longer an enabled check of system %q", e.systemID))
		}
		return
	}
	resp, err := e.persistItem(ctx, st.req)
	if err != nil {
		// Not retryable (the store rejected the input): keep the state as applied in memory so
		// the entity stays consistent with what it evaluated, and say so loudly.
		e.logger.Error("persist failed; results not stored", "runs", len(st.runs), "error", err)
	} else if e.durable && !resp.Applied {
		// The step was stored before — by an attempt whose workflow task was lost with a crashed
		// worker or Temporal host, so its local probes ran again on replay and may have answered
		// differently. What is stored is what happened: adopt it, so the entity's windows, view,
		// transitions and events go on from the database's state, not from the second answers.
		if adopted, changed := adoptStored(it.results, resp.Stored); changed {
			e.logger.Warn("a probe ran again after a crash and answered differently; adopting the stored runs",
				"seq", st.req.Seq)
			e.restoreWindows(saved)
			e.restoreFlaps(savedFlaps)
			e.st.Seq--
			st = e.applyStep(ctx, prev, adopted)
		}
	}
	e.st.View = st.next
	for _, r := range st.runs {
		e.markSeen(r.ID)
		if e.ownedBySession(r.ConfigurationID) {
			// A run of one of the session's checks from outside it (run-now, an external
			// result): the session's window is behind; a new one starts from the entity's.
			e.revokeSession(ctx, "a run from outside the session")
		}
	}
	e.st.Processed++
	e.afterApply(ctx)
	e.dispatch(ctx, st.req.Events, st.req.At)
	respond(RunCheckResponse{Run: st.runs[0], View: cloneView(st.next), Events: st.req.Events}, nil)
}

// step is one applied item: the new runs, the next view and the write that stores them.
type step struct {
	runs []CheckResult
	next *health.View
	req  PersistRequest
}

// applyStep folds results (those not seen before, of enabled checks) into their checks' windows,
// evaluates, and builds the step's write with the next seq, transition and events.
func (e *entity) applyStep(ctx workflow.Context, prev *health.View, results []CheckResult) step {
	var runs []CheckResult
	var evals []CheckEval
	var events []Event
	var folded []health.FoldedRun
	var ends []time.Time
	var flaps []flapChange
	for _, r := range results {
		if e.seen[r.ID] {
			continue
		}
		ci := e.findCheck(r.ConfigurationID)
		if ci < 0 {
			e.logger.Warn("dropping result of a check that is not enabled", "configurationId", r.ConfigurationID, "id", r.ID)
			continue
		}
		c := &e.st.Checks[ci]
		before := c.Status
		c.fold(r.Status, r.ExecutedAt)
		if fc := e.recordCheckFlap(c); fc != nil {
			flaps = append(flaps, *fc)
		}
		folded = append(folded, health.FoldedRun{ConfigurationID: c.ConfigurationID, Changed: c.Status != before})
		runs = append(runs, r)
		evals = append(evals, CheckEval{ConfigurationID: c.ConfigurationID, Status: c.Status, RunsConsidered: c.window().RunsConsidered()})
		events = append(events, checkRunEvents(e.systemID, r)...)
		end := r.ExecutedAt
		if r.LatencyMs != nil {
			end = end.Add(time.Duration(*r.LatencyMs) * time.Millisecond)
		}
		ends = append(ends, end)
	}
	if len(runs) == 0 {
		return step{}
	}
	redate := time.Duration(0)
	if e.durable {
		redate = stepDatedByRunsAfter
	}
	at := health.StepTime(workflow.Now(ctx), ends, redate)
	next := e.computeView()
	if fc := e.recordSystemFlap(next); fc != nil {
		flaps = append([]flapChange{*fc}, flaps...)
	}
	req := e.commitRequest(prev, next, health.StepDriver(folded), at, evals, e.flapEvents(flaps, at), events)
	req.Runs = runs
	return step{runs: runs, next: next, req: req}
}

// commitRequest numbers the next write of the entity and fills it with the view from prev to
// next (health.NextStep: the transition named after driver and the trigger events, after the
// lead events — flapping — and followed by the runs' own events).
func (e *entity) commitRequest(prev, next *health.View, driver string, at time.Time, checks []CheckEval, leadEvents, runEvents []Event) PersistRequest {
	s := health.NextStep(e.systemID, prev, next, driver, at)
	e.st.Seq++
	req := PersistRequest{SystemID: e.systemID, Seq: e.st.Seq, At: at, Checks: checks, View: next}
	if s.Transition != nil {
		from := s.Transition.From
		req.Transition = &Transition{ConfigurationID: s.Transition.ConfigurationID, From: &from, To: s.Transition.To}
	}
	req.Events = append(append(leadEvents, toEvents(s.Events, "")...), runEvents...)
	return req
}

// saveWindows remembers every check's window before a step (the step replaces, never mutates,
// the slices, so a shallow copy is enough).
func (e *entity) saveWindows() map[string]health.Window {
	out := make(map[string]health.Window, len(e.st.Checks))
	for _, c := range e.st.Checks {
		out[c.ConfigurationID] = c.window()
	}
	return out
}

// restoreWindows puts the windows back; cadence fields (next due, probes in flight) stay as they
// are, since probes may have started while the step was being stored.
func (e *entity) restoreWindows(saved map[string]health.Window) {
	for i := range e.st.Checks {
		if w, ok := saved[e.st.Checks[i].ConfigurationID]; ok {
			e.st.Checks[i].setWindow(w)
		}
	}
}

// adoptStored replaces the outcome of each result that is stored differently with the stored one;
// changed tells whether any differed.
func adoptStored(results []CheckResult, stored []StoredRun) ([]CheckResult, bool) {
	if len(stored) == 0 {
		return results, false
	}
	byID := make(map[string]StoredRun, len(stored))
	for _, s := range stored {
		byID[s.ID] = s
	}
	out := make([]CheckResult, len(results))
	changed := false
	for i, r := range results {
		if s, ok := byID[r.ID]; ok && (s.Status != r.Status || !s.ExecutedAt.Equal(r.ExecutedAt)) {
			r.Status, r.ExecutedAt, r.LatencyMs = s.Status, s.ExecutedAt, s.LatencyMs
			r.Message, r.Result = s.Message, nil
			changed = true
		}
		out[i] = r
	}
	return out, changed
}

// processConfigChange reloads the assignments and re-evaluates at once (invariant 8).
func (e *entity) processConfigChange(ctx workflow.Context) {
	loaded, err := e.load(ctx)
	if err != nil {
		e.logger.Error("reload after config change failed", "error", err)
		return
	}
	// The session keeps the old configuration: end it; the next one starts with the new one.
	e.revokeSession(ctx, "configuration changed")
	now := workflow.Now(ctx)
	prev := cloneView(e.st.View)
	if e.durable && loaded.Deleted {
		// The system itself is gone (its rows went with it): nothing to store, the entity ends.
		e.logger.Info("system was deleted; entity ends")
		e.st.Checks, e.st.View = nil, nil
		e.st.Processed++
		e.finished = true
		e.afterApply(ctx)
		return
	}
	e.st.SystemName = loaded.SystemName
	e.st.FlapThresholds = loaded.FlapThresholds
	e.st.Checks = e.mergeChecks(e.st.Checks, loaded.Checks, now)
	e.setMaintenance(loaded.InMaintenance, now)
	e.reevaluate(ctx, prev, "", now)
	e.st.Processed++
	e.finished = len(e.st.Checks) == 0
	e.afterApply(ctx)
}

func (e *entity) persist(ctx workflow.Context, req PersistRequest) (PersistResponse, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaximumInterval: 30 * time.Second},
	})
	var resp PersistResponse
	err := workflow.ExecuteLocalActivity(lctx, ActivityPersistSystem, req).Get(ctx, &resp)
	return resp, err
}

func (e *entity) markSeen(id string) {
	e.seen[id] = true
	e.st.Seen = append(e.st.Seen, id)
	if len(e.st.Seen) > seenRing {
		drop := len(e.st.Seen) - seenRing
		for _, old := range e.st.Seen[:drop] {
			delete(e.seen, old)
		}
		e.st.Seen = append([]string(nil), e.st.Seen[drop:]...)
	}
}

func cloneView(v *health.View) *health.View {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}

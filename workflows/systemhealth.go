package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

// Search attributes the entity keeps up to date (design.md §3).
var (
	saSystemID      = temporal.NewSearchAttributeKeyKeyword("CheckflowSystemId")
	saHealth        = temporal.NewSearchAttributeKeyKeyword("CheckflowHealth")
	saFailingChecks = temporal.NewSearchAttributeKeyInt64("CheckflowFailingChecks")
)

const (
	defaultMaxConcurrentProbes = 16
	// seenRing bounds the recently processed result ids carried for deduplication.
	seenRing = 2048
	// defaultProbeTimeoutMs is a strategy's default timeout (reference §14).
	defaultProbeTimeoutMs = 30000
)

// item is one entry of the entity's FIFO queue.
type item struct {
	config bool
	// results are processed as one step (a probe batch: the checks of one system due together).
	results []CheckResult
	// waiter is set for run-check updates: the handler waits for the outcome.
	waiter *outcome
	// session is set when a probe session ended; lost names a session its worker lost.
	session *sessionEnd
	lost    string
}

type outcome struct {
	ready bool
	resp  RunCheckResponse
	err   error
}

// entity is the SystemHealth workflow's state and logic. All of it runs on the workflow's
// single-threaded dispatcher: there is never more than one item being processed.
type entity struct {
	systemID string
	opts     EntityOptions
	st       EntityState
	queue    []item
	seen     map[string]bool
	// inFlight counts probes and dispatches started but not yet returned.
	probesInFlight    int
	dispatchInFlight  int
	dispatchAgain     bool
	lastDispatch      time.Time
	finished          bool
	lastHealth        string
	lastFailing       int64
	searchAttrsLoaded bool
	logger            log.Logger
	// durable is true from version 1 of changePersistUntilStored on: writes and loads are
	// retried until PostgreSQL accepts them, and the entity keeps probing meanwhile.
	durable bool
	// storageDownSince is when the current run of failed writes or loads began (zero: none).
	storageDownSince time.Time
	// timer is the cadence timer of durable entities (see awaitDueOr).
	timer *cadenceTimer
	// sessions is true from version 1 of changeProbeSessions on (unless the options turn them
	// off): local checks are probed by probe sessions. session is the running one.
	sessions       bool
	session        *activeSession
	sessionRetryAt time.Time
}

// SystemHealth is the per-system entity workflow (id system-health/<systemId>). It owns its
// checks' cadence, receives their results (probes, check-result signals, run-check updates),
// and processes every input through one FIFO loop: snapshot → apply → persist → diff → emit.
func SystemHealth(ctx workflow.Context, in SystemHealthInput) error {
	e := &entity{systemID: in.SystemID, opts: in.Options, seen: map[string]bool{}, logger: workflow.GetLogger(ctx)}
	e.durable = workflow.GetVersion(ctx, changePersistUntilStored, workflow.DefaultVersion, 1) >= 1
	if e.durable {
		e.sessions = workflow.GetVersion(ctx, changeProbeSessions, workflow.DefaultVersion, 1) >= 1 && !in.Options.NoProbeSessions
	}
	if e.durable && in.State == nil {
		// A new lifetime of the entity numbers its probes afresh: the epoch keeps their run ids
		// apart from the runs of earlier lifetimes already stored.
		e.st.ProbeEpoch = probeEpoch(workflow.GetInfo(ctx).WorkflowExecution.RunID)
	}
	if e.opts.MaxConcurrentProbes <= 0 {
		e.opts.MaxConcurrentProbes = defaultMaxConcurrentProbes
	}
	if e.opts.ProbeTaskQueue == "" {
		e.opts.ProbeTaskQueue = ProbeTaskQueue
	}
	// Handlers first: an update that arrives while the first load blocks (a run-now that started
	// the entity) waits in the queue instead of being rejected as unknown. Registering produces
	// no command, so histories recorded with the older order replay unchanged.
	if err := e.registerHandlers(ctx); err != nil {
		return err
	}
	if in.State != nil {
		e.st = *in.State
		for _, id := range e.st.Seen {
			e.seen[id] = true
		}
		for i := range e.st.Checks {
			e.st.Checks[i].InFlight = 0 // probes of the previous run are not carried
		}
		for _, r := range e.st.Pending {
			e.queue = append(e.queue, item{results: []CheckResult{r}})
		}
		e.st.Pending = nil
	} else if err := e.loadInitial(ctx); err != nil {
		return err
	}
	e.afterApply(ctx)
	if len(e.st.Checks) == 0 {
		if e.st.View != nil {
			// A view left behind (its checks went away while no entity ran): clear it, without
			// trigger events (a tombstone).
			e.st.Seq++
			if _, err := e.persistItem(ctx, PersistRequest{SystemID: e.systemID, Seq: e.st.Seq, At: workflow.Now(ctx)}); err != nil {
				e.logger.Error("clearing the view failed", "systemId", e.systemID, "error", err)
			}
		}
		e.logger.Info("system has no enabled checks; entity ends", "systemId", e.systemID)
		return nil
	}

	for {
		if len(e.queue) > 0 {
			it := e.queue[0]
			e.queue = e.queue[1:]
			e.process(ctx, it)
			continue
		}
		if e.finished && e.probesInFlight == 0 && e.dispatchInFlight == 0 && e.session == nil && workflow.AllHandlersFinished(ctx) {
			e.drainSignals(ctx)
			if len(e.queue) == 0 {
				e.logger.Info("system has no enabled checks any more; entity ends", "systemId", e.systemID)
				return nil
			}
			continue
		}
		if e.continueAsNewDue(ctx) {
			return e.continueAsNew(ctx)
		}
		if !e.finished {
			e.maybeStartSession(ctx)
			e.startDueProbes(ctx)
		}
		wake := func() bool {
			return len(e.queue) > 0 || (e.finished && e.probesInFlight == 0 && e.dispatchInFlight == 0 && e.session == nil)
		}
		if e.durable {
			if err := e.awaitDueOr(ctx, wake); err != nil {
				return err
			}
		} else if wait, ok := e.untilNextDue(ctx); ok && !e.finished {
			if _, err := workflow.AwaitWithTimeout(ctx, wait, wake); err != nil {
				return err
			}
		} else if err := workflow.Await(ctx, wake); err != nil {
			return err
		}
	}
}

func (e *entity) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (EntityState, error) {
		s := e.snapshot()
		return s, nil
	}); err != nil {
		return fmt.Errorf("register query: %w", err)
	}
	results := workflow.GetSignalChannel(ctx, SignalCheckResult)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var r CheckResult
			results.Receive(ctx, &r)
			e.enqueueExternal(ctx, r)
		}
	})
	configs := workflow.GetSignalChannel(ctx, SignalConfigChanged)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var ignored json.RawMessage
			configs.Receive(ctx, &ignored)
			e.queue = append(e.queue, item{config: true})
		}
	})
	lost := workflow.GetSignalChannel(ctx, SignalProbeSessionLost)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var id string
			lost.Receive(ctx, &id)
			e.queue = append(e.queue, item{lost: id})
		}
	})
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateRunCheck, e.runCheck, workflow.UpdateHandlerOptions{
		Validator: e.validateRunCheck,
	})
}

// drainSignals moves signals already delivered but not yet received into the queue.
func (e *entity) drainSignals(ctx workflow.Context) {
	results := workflow.GetSignalChannel(ctx, SignalCheckResult)
	for {
		var r CheckResult
		if !results.ReceiveAsync(&r) {
			break
		}
		e.enqueueExternal(ctx, r)
	}
	configs := workflow.GetSignalChannel(ctx, SignalConfigChanged)
	for {
		var ignored json.RawMessage
		if !configs.ReceiveAsync(&ignored) {
			break
		}
		e.queue = append(e.queue, item{config: true})
	}
	lost := workflow.GetSignalChannel(ctx, SignalProbeSessionLost)
	for {
		var id string
		if !lost.ReceiveAsync(&id) {
			break
		}
		e.queue = append(e.queue, item{lost: id})
	}
}

// enqueueExternal validates a check-result signal; invalid ones are logged and dropped (a
// signal cannot answer with an error).
func (e *entity) enqueueExternal(ctx workflow.Context, r CheckResult) {
	if r.ID == "" || !r.Status.Valid() || r.ConfigurationID == "" {
		e.logger.Warn("dropping invalid check-result signal", "systemId", e.systemID, "id", r.ID, "status", r.Status, "configurationId", r.ConfigurationID)
		return
	}
	if !strings.HasPrefix(r.ID, e.systemID+":") {
		r.ID = e.systemID + ":ext:" + r.ID
	}
	if r.ExecutedAt.IsZero() {
		r.ExecutedAt = workflow.Now(ctx)
	}
	e.queue = append(e.queue, item{results: []CheckResult{r}})
}

func (e *entity) findCheck(configurationID string) int {
	for i := range e.st.Checks {
		if e.st.Checks[i].ConfigurationID == configurationID {
			return i
		}
	}
	return -1
}

// validateRunCheck rejects what the entity knows to be wrong. A check it does not know yet is
// let through: the handler first applies any configuration change (the API writes the
// assignment, then signals, then may run at once) and decides then.
func (e *entity) validateRunCheck(ctx workflow.Context, req RunCheckRequest) error {
	if req.ConfigurationID == "" {
		return temporal.NewNonRetryableApplicationError("configurationId is required", ErrTypeCheckNotEnabled, nil)
	}
	if e.finished {
		return e.notEnabled(req.ConfigurationID)
	}
	if i := e.findCheck(req.ConfigurationID); i >= 0 && e.st.Checks[i].Paused && !req.Force {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("check %q is paused; set force to run it anyway", req.ConfigurationID), ErrTypeCheckPaused, nil)
	}
	return nil
}

func (e *entity) notEnabled(configurationID string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("check %q is not an enabled check of system %q", configurationID, e.systemID), ErrTypeCheckNotEnabled, nil)
}

// runCheck probes the check now, puts the result in the queue and returns once the loop has
// processed it. The update id makes the run id, so a retried request is stored once.
func (e *entity) runCheck(ctx workflow.Context, req RunCheckRequest) (RunCheckResponse, error) {
	if err := e.validateRunCheck(ctx, req); err != nil {
		return RunCheckResponse{}, err
	}
	if e.findCheck(req.ConfigurationID) < 0 {
		// Not known (yet): reload the configuration through the queue, then look again.
		w := &outcome{}
		e.queue = append(e.queue, item{config: true, waiter: w})
		if err := workflow.Await(ctx, func() bool { return w.ready }); err != nil {
			return RunCheckResponse{}, err
		}
		if err := e.validateRunCheck(ctx, req); err != nil {
			return RunCheckResponse{}, err
		}
		if e.findCheck(req.ConfigurationID) < 0 {
			return RunCheckResponse{}, e.notEnabled(req.ConfigurationID)
		}
	}
	c := e.st.Checks[e.findCheck(req.ConfigurationID)]
	location := ""
	if len(c.Locations) > 0 {
		location = c.Locations[0]
	}
	item0 := ProbeItem{ResultID: e.systemID + ":run:" + workflow.GetCurrentUpdateInfo(ctx).ID, DueAt: workflow.Now(ctx), Assignment: c.Assignment}
	e.probesInFlight++
	res := e.probe(ctx, location, []ProbeItem{item0})
	e.probesInFlight--
	w := &outcome{}
	e.queue = append(e.queue, item{results: res, waiter: w})
	if err := workflow.Await(ctx, func() bool { return w.ready }); err != nil {
		return RunCheckResponse{}, err
	}
	return w.resp, w.err
}

func (e *entity) loadInitial(ctx workflow.Context) error {
	loaded, err := e.load(ctx)
	if err != nil {
		return err
	}
	e.st.SystemName = loaded.SystemName
	e.st.Seq = loaded.Seq
	now := workflow.Now(ctx)
	e.st.Checks = e.mergeChecks(nil, loaded.Checks, now)
	e.st.View = loaded.View
	if e.st.View == nil && len(e.st.Checks) > 0 {
		// No stored view yet: store the baseline computed from the runs we have (invariant 5:
		// {healthy, N, N} for checks without runs), so readers see the system at once. It is
		// the "prev" of the first evaluation, so a first failure is a transition.
		e.st.View = e.computeView()
		e.st.Seq++
		req := PersistRequest{SystemID: e.systemID, Seq: e.st.Seq, At: now, View: e.st.View, Checks: e.evals()}
		if _, err := e.persistItem(ctx, req); err != nil {
			e.logger.Error("persist of the baseline view failed", "systemId", e.systemID, "error", err)
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
			c.Recent, c.LastRunAt, c.InFlight, c.NextDue = p.Recent, p.LastRunAt, p.InFlight, p.NextDue
			if p.IntervalSeconds != c.IntervalSeconds {
				c.NextDue = firstDue(e.systemID, c.IntervalSeconds, c.LastRunAt, now)
			}
		} else {
			c.NextDue = firstDue(e.systemID, c.IntervalSeconds, c.LastRunAt, now)
		}
		c.Status = evaluateCheck(c)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ConfigurationID < out[j].ConfigurationID })
	return out
}

// firstDue is when a check first runs: one interval after its last run, or — for a check that
// never ran — at a point inside its first interval chosen by a hash of the system id and the
// interval. Different systems spread over the interval, so that many systems do not all fire
// at once, while the checks of one system with the same interval fall due together and are
// probed and persisted as one batch.
func firstDue(systemID string, intervalSeconds int, lastRun *time.Time, now time.Time) time.Time {
	interval := time.Duration(intervalSeconds) * time.Second
	if lastRun != nil {
		due := lastRun.Add(interval)
		if due.Before(now) {
			return now
		}
		return due
	}
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s\x00%d", systemID, intervalSeconds)
	offset := time.Duration(h.Sum64()%uint64(interval.Milliseconds()+1)) * time.Millisecond
	return now.Add(offset)
}

// fold adds a run to the check's window (newest first, at most health.MaxWindowRuns) and
// re-evaluates the check. The window is replaced, never changed in place.
func (c *CheckState) fold(status health.Status, at time.Time) {
	recent := append([]health.Status{status}, c.Recent...)
	if len(recent) > health.MaxWindowRuns {
		recent = recent[:health.MaxWindowRuns]
	}
	c.Recent = recent
	if c.LastRunAt == nil || at.After(*c.LastRunAt) {
		t := at
		c.LastRunAt = &t
	}
	c.Status = evaluateCheck(*c)
}

// evaluateCheck is a check's status with its thresholds. A paused check is not measured, so its
// old failures no longer hold the system down: it counts as healthy until it is resumed.
func evaluateCheck(c CheckState) health.Status {
	if c.Paused {
		return health.Healthy
	}
	return health.Evaluate(c.Recent, c.Thresholds)
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

// untilNextDue returns the wait until the earliest check that can start; false when none can.
func (e *entity) untilNextDue(ctx workflow.Context) (time.Duration, bool) {
	if e.probesInFlight >= e.opts.MaxConcurrentProbes || e.backlogFull() {
		return 0, false
	}
	var earliest time.Time
	now := workflow.Now(ctx)
	for _, c := range e.st.Checks {
		if c.Paused || c.InFlight > 0 || e.ownedBySession(c.ConfigurationID) || e.sessionWillTake(c, now) {
			continue
		}
		if earliest.IsZero() || c.NextDue.Before(earliest) {
			earliest = c.NextDue
		}
	}
	if earliest.IsZero() {
		return 0, false
	}
	wait := earliest.Sub(workflow.Now(ctx))
	if wait < time.Millisecond {
		wait = time.Millisecond
	}
	return wait, true
}

// startDueProbes probes every check that is due, not paused and not already being probed,
// within the concurrency bound: the due checks of one location go out as one batch, and the
// batch's results are processed as one step when they return.
func (e *entity) startDueProbes(ctx workflow.Context) {
	if e.backlogFull() {
		return
	}
	now := workflow.Now(ctx)
	var order []string
	batches := map[string][]ProbeItem{} // by location; order keeps it deterministic
	for i := range e.st.Checks {
		c := &e.st.Checks[i]
		if c.Paused || c.InFlight > 0 || c.NextDue.After(now) || e.ownedBySession(c.ConfigurationID) || e.sessionWillTake(*c, now) {
			continue
		}
		locations := c.Locations
		if len(locations) == 0 {
			locations = []string{""}
		}
		if e.probesInFlight+len(locations) > e.opts.MaxConcurrentProbes && e.probesInFlight > 0 {
			break
		}
		due := c.NextDue
		c.NextDue = now.Add(time.Duration(c.IntervalSeconds) * time.Second)
		for _, loc := range locations {
			e.st.ProbeSeq++
			if _, ok := batches[loc]; !ok {
				order = append(order, loc)
			}
			batches[loc] = append(batches[loc], ProbeItem{ResultID: e.probeResultID(), DueAt: due, Assignment: c.Assignment})
			c.InFlight++
			e.probesInFlight++
		}
	}
	for _, loc := range order {
		items := batches[loc]
		workflow.Go(ctx, func(ctx workflow.Context) {
			res := e.probe(ctx, loc, items)
			for _, it := range items {
				e.probesInFlight--
				if j := e.findCheck(it.Assignment.ConfigurationID); j >= 0 && e.st.Checks[j].InFlight > 0 {
					e.st.Checks[j].InFlight--
				}
			}
			e.queue = append(e.queue, item{results: res})
		})
	}
}

// probe runs a probe batch — as a local activity for the default location unless RemoteProbes,
// else as an activity on the location's probe task queue — and turns an infrastructure failure
// into unhealthy results (the reference's catastrophic path): every item yields one result.
func (e *entity) probe(ctx workflow.Context, location string, items []ProbeItem) []CheckResult {
	var timeout time.Duration
	for _, it := range items {
		timeout = max(timeout, probeTimeout(it.Assignment.Config))
	}
	req := ProbeRequest{SystemID: e.systemID, SystemName: e.st.SystemName, Location: location, Probes: items}
	retry := &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3}
	var fut workflow.Future
	if location == "" && !e.opts.RemoteProbes {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: timeout + 10*time.Second, RetryPolicy: retry,
		})
		fut = workflow.ExecuteLocalActivity(lctx, ActivityProbe, req)
	} else {
		queue := e.opts.ProbeTaskQueue
		if location != "" {
			queue += "-" + location
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:              queue,
			StartToCloseTimeout:    timeout + 10*time.Second,
			ScheduleToCloseTimeout: 3*(timeout+10*time.Second) + time.Minute,
			RetryPolicy:            retry,
			Summary:                fmt.Sprintf("%d check(s)", len(items)),
		})
		fut = workflow.ExecuteActivity(actx, ActivityProbe, req)
	}
	var res []CheckResult
	err := fut.Get(ctx, &res)
	if err == nil && len(res) != len(items) {
		err = fmt.Errorf("probe returned %d results for %d checks", len(res), len(items))
	}
	out := make([]CheckResult, len(items))
	for i, it := range items {
		if err != nil {
			msg := "probe failed: " + rootMessage(err)
			body, _ := json.Marshal(map[string]string{"error": msg})
			out[i] = CheckResult{Status: health.Unhealthy, Message: msg, Result: body, ExecutedAt: workflow.Now(ctx)}
			if location != "" {
				loc := location
				out[i].SourceID, out[i].SourceLabel = &loc, &loc
			}
		} else {
			out[i] = res[i]
		}
		out[i].ID, out[i].ConfigurationID = it.ResultID, it.Assignment.ConfigurationID
	}
	return out
}

func rootMessage(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// ProbeTimeout is the timeout of a check's probe: its config's "timeout" (ms, at least 100) or
// the strategies' default.
func ProbeTimeout(config json.RawMessage) time.Duration { return probeTimeout(config) }

func probeTimeout(config json.RawMessage) time.Duration {
	var c struct {
		Timeout *float64 `json:"timeout"`
	}
	ms := float64(defaultProbeTimeoutMs)
	if json.Unmarshal(config, &c) == nil && c.Timeout != nil && *c.Timeout >= 100 {
		ms = *c.Timeout
	}
	return time.Duration(ms) * time.Millisecond
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
	saved := e.saveWindows()
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
		e.logger.Error("persist failed; results not stored", "systemId", e.systemID, "runs", len(st.runs), "error", err)
	} else if e.durable && !resp.Applied {
		// The step was stored before — by an attempt whose workflow task was lost with a crashed
		// worker or Temporal host, so its local probes ran again on replay and may have answered
		// differently. What is stored is what happened: adopt it, so the entity's windows, view,
		// transitions and events go on from the database's state, not from the second answers.
		if adopted, changed := adoptStored(it.results, resp.Stored); changed {
			e.logger.Warn("a probe ran again after a crash and answered differently; adopting the stored runs",
				"systemId", e.systemID, "seq", st.req.Seq)
			e.restoreWindows(saved)
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
	driver := ""
	for _, r := range results {
		if e.seen[r.ID] {
			continue
		}
		ci := e.findCheck(r.ConfigurationID)
		if ci < 0 {
			e.logger.Warn("dropping result of a check that is not enabled", "systemId", e.systemID, "configurationId", r.ConfigurationID, "id", r.ID)
			continue
		}
		c := &e.st.Checks[ci]
		before := c.Status
		c.fold(r.Status, r.ExecutedAt)
		if driver == "" || (c.Status != before && driver == runs[0].ConfigurationID) {
			driver = c.ConfigurationID // the check whose run drove a change (else the first)
		}
		runs = append(runs, r)
		evals = append(evals, CheckEval{ConfigurationID: c.ConfigurationID, Status: c.Status, RunsConsidered: min(len(c.Recent), health.MaxWindowRuns)})
		events = append(events, checkRunEvents(e.systemID, r)...)
	}
	if len(runs) == 0 {
		return step{}
	}
	now := workflow.Now(ctx)
	// Workflow time stands still while a workflow task runs its local activities: never date the
	// step before the runs it processes.
	var latest time.Time
	for _, r := range runs {
		end := r.ExecutedAt
		if r.LatencyMs != nil {
			end = end.Add(time.Duration(*r.LatencyMs) * time.Millisecond)
		}
		if end.After(latest) {
			latest = end
		}
	}
	if latest.After(now) || (e.durable && now.Sub(latest) > stepDatedByRunsAfter) {
		// Nor long after them: results that waited for the database (or in the queue) date their
		// transition and events when the runs showed the change, not when they were stored.
		now = latest
	}
	next := e.computeView()
	e.st.Seq++
	req := PersistRequest{SystemID: e.systemID, Seq: e.st.Seq, At: now, Runs: runs, Checks: evals, View: next}
	if prev != nil && next != nil && prev.Status != next.Status {
		from := prev.Status
		req.Transition = &Transition{ConfigurationID: driver, From: &from, To: next.Status}
	}
	req.Events = append(toEvents(health.DeriveEvents(prev, next, e.systemID, now), ""), events...)
	return step{runs: runs, next: next, req: req}
}

// window is what a step changes of a check.
type window struct {
	recent    []health.Status
	lastRunAt *time.Time
	status    health.Status
}

// saveWindows remembers every check's window before a step (the step replaces, never mutates,
// the slices, so a shallow copy is enough).
func (e *entity) saveWindows() map[string]window {
	out := make(map[string]window, len(e.st.Checks))
	for _, c := range e.st.Checks {
		out[c.ConfigurationID] = window{recent: c.Recent, lastRunAt: c.LastRunAt, status: c.Status}
	}
	return out
}

// restoreWindows puts the windows back; cadence fields (next due, probes in flight) stay as they
// are, since probes may have started while the step was being stored.
func (e *entity) restoreWindows(saved map[string]window) {
	for i := range e.st.Checks {
		if w, ok := saved[e.st.Checks[i].ConfigurationID]; ok {
			e.st.Checks[i].Recent, e.st.Checks[i].LastRunAt, e.st.Checks[i].Status = w.recent, w.lastRunAt, w.status
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
		e.logger.Error("reload after config change failed", "systemId", e.systemID, "error", err)
		return
	}
	// The session keeps the old configuration: end it; the next one starts with the new one.
	e.revokeSession(ctx, "configuration changed")
	now := workflow.Now(ctx)
	prev := cloneView(e.st.View)
	if e.durable && loaded.Deleted {
		// The system itself is gone (its rows went with it): nothing to store, the entity ends.
		e.logger.Info("system was deleted; entity ends", "systemId", e.systemID)
		e.st.Checks, e.st.View = nil, nil
		e.st.Processed++
		e.finished = true
		e.afterApply(ctx)
		return
	}
	e.st.SystemName = loaded.SystemName
	e.st.Checks = e.mergeChecks(e.st.Checks, loaded.Checks, now)
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

// dispatchEvery bounds how long hooks (check.completed/failed) may wait in the outbox when no
// trigger event calls the dispatcher earlier.
const dispatchEvery = 30 * time.Second

// dispatchHeartbeat is the dispatcher activity's heartbeat timeout.
const dispatchHeartbeat = 10 * time.Second

// dispatch hands the outbox to the consumers in the background; the loop does not wait. Trigger
// events go out at once; the per-run hooks ride along with them or go out at least every
// dispatchEvery, so a healthy system costs one dispatcher call per 30 s, not one per run. One
// dispatcher runs at a time per system; a request while one runs makes it run once more.
func (e *entity) dispatch(ctx workflow.Context, events []Event, now time.Time) {
	if len(events) == 0 {
		return
	}
	urgent := false
	for _, ev := range events {
		if ev.Type != health.HookCheckCompleted && ev.Type != health.HookCheckFailed {
			urgent = true
		}
	}
	if !urgent && now.Sub(e.lastDispatch) < dispatchEvery {
		return
	}
	if e.dispatchInFlight > 0 {
		e.dispatchAgain = true
		return
	}
	e.dispatchInFlight++
	workflow.Go(ctx, func(ctx workflow.Context) {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute,
			// A dispatcher lost with a crashed worker is retried after 10 s, not a minute (the
			// events wait meanwhile, and so does a continue-as-new).
			HeartbeatTimeout: dispatchHeartbeat,
			RetryPolicy:      &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
		})
		for {
			e.dispatchAgain = false
			e.lastDispatch = workflow.Now(ctx)
			if err := workflow.ExecuteActivity(actx, ActivityDispatchEvents, DispatchRequest{SystemID: e.systemID}).Get(ctx, nil); err != nil {
				e.logger.Error("dispatch failed", "systemId", e.systemID, "error", err)
			}
			if !e.dispatchAgain {
				break
			}
		}
		e.dispatchInFlight--
	})
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

func toEvents(evs []health.TriggerEvent, discriminator string) []Event {
	out := make([]Event, 0, len(evs))
	for _, ev := range evs {
		out = append(out, Event{Type: ev.Type, Discriminator: discriminator, Payload: ev.Payload})
	}
	return out
}

// checkRunEvents are the hooks check.completed (+ check.failed) and the check_failed trigger of
// one run.
func checkRunEvents(systemID string, r CheckResult) []Event {
	var collectors map[string]any
	var parsed struct {
		Metadata struct {
			Collectors map[string]any `json:"collectors"`
		} `json:"metadata"`
	}
	if len(r.Result) > 0 && json.Unmarshal(r.Result, &parsed) == nil {
		collectors = parsed.Metadata.Collectors
	}
	hooks, triggers := health.CheckRunEvents(health.CheckRun{
		SystemID: systemID, ConfigurationID: r.ConfigurationID, Status: r.Status,
		LatencyMs: r.LatencyMs, Result: collectors, At: r.ExecutedAt,
	})
	return append(toEvents(hooks, r.ConfigurationID), toEvents(triggers, r.ConfigurationID)...)
}

func cloneView(v *health.View) *health.View {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}

func viewsEqual(a, b *health.View) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// afterApply refreshes what an operator sees in the Temporal UI: search attributes (when they
// changed) and the markdown details.
func (e *entity) afterApply(ctx workflow.Context) {
	healthSA := "none"
	if e.st.View != nil {
		healthSA = string(e.st.View.Status)
	}
	var failing int64
	for _, c := range e.st.Checks {
		if c.Status != health.Healthy {
			failing++
		}
	}
	if !e.searchAttrsLoaded || healthSA != e.lastHealth || failing != e.lastFailing {
		err := workflow.UpsertTypedSearchAttributes(ctx,
			saSystemID.ValueSet(e.systemID), saHealth.ValueSet(healthSA), saFailingChecks.ValueSet(failing))
		if err != nil {
			e.logger.Warn("upsert search attributes", "error", err)
		}
		e.searchAttrsLoaded, e.lastHealth, e.lastFailing = true, healthSA, failing
	}
	workflow.SetCurrentDetails(ctx, e.details())
}

func (e *entity) details() string {
	var b strings.Builder
	name := e.st.SystemName
	if name == "" {
		name = e.systemID
	}
	if e.st.View == nil {
		fmt.Fprintf(&b, "**%s** — no enabled checks\n", name)
		return b.String()
	}
	fmt.Fprintf(&b, "**%s** — %s (%d/%d checks healthy)\n\n", name, e.st.View.Status, e.st.View.HealthyChecks, e.st.View.TotalChecks)
	if !e.storageDownSince.IsZero() {
		fmt.Fprintf(&b, "⚠ PostgreSQL unavailable since %s: %d result(s) wait in the entity.\n\n",
			e.storageDownSince.UTC().Format(time.RFC3339), e.pendingRuns())
	}
	b.WriteString("| Check | Status | Last run | Next due |\n|---|---|---|---|\n")
	for _, c := range e.st.Checks {
		status := string(c.Status)
		if c.Paused {
			status += " (paused)"
		}
		last := "never"
		if c.LastRunAt != nil {
			last = c.LastRunAt.UTC().Format(time.RFC3339)
		}
		due := c.NextDue.UTC().Format(time.RFC3339)
		if c.Paused {
			due = "–"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdEscape(c.Name), status, last, due)
	}
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func (e *entity) snapshot() EntityState {
	s := e.st
	s.Checks = append([]CheckState(nil), e.st.Checks...)
	s.Seen = append([]string(nil), e.st.Seen...)
	s.Session = ""
	if e.session != nil && !e.session.lost {
		s.Session = e.session.id
	}
	for _, it := range e.queue {
		if !it.config && it.waiter == nil {
			s.Pending = append(s.Pending, it.results...)
		}
	}
	return s
}

func (e *entity) continueAsNewDue(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	if info.GetContinueAsNewSuggested() {
		return true
	}
	return e.opts.ContinueAsNewAfterEvents > 0 && info.GetCurrentHistoryLength() >= e.opts.ContinueAsNewAfterEvents
}

// continueAsNew finishes everything in flight — probes return and are processed, updates are
// answered, dispatches complete, delivered signals are received — and then continues as new
// with the whole state, so that nothing is lost or processed twice across the boundary.
func (e *entity) continueAsNew(ctx workflow.Context) error {
	e.revokeSession(ctx, "continue-as-new")
	for {
		e.drainSignals(ctx)
		for len(e.queue) > 0 {
			it := e.queue[0]
			e.queue = e.queue[1:]
			e.process(ctx, it)
		}
		if e.probesInFlight == 0 && e.dispatchInFlight == 0 && e.session == nil && workflow.AllHandlersFinished(ctx) {
			e.drainSignals(ctx)
			if len(e.queue) == 0 {
				break
			}
			continue
		}
		if err := workflow.Await(ctx, func() bool {
			return len(e.queue) > 0 || (e.probesInFlight == 0 && e.dispatchInFlight == 0 && e.session == nil && workflow.AllHandlersFinished(ctx))
		}); err != nil {
			return err
		}
	}
	state := e.snapshot()
	return workflow.NewContinueAsNewError(ctx, SystemHealthWorkflow, SystemHealthInput{SystemID: e.systemID, State: &state, Options: e.opts})
}

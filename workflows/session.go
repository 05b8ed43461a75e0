package workflows

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

const (
	// defaultSessionMaxRuns ends a session after this many stored runs (before changeSessionRuns).
	defaultSessionMaxRuns = 64
	// sessionMaxRunsV1 ends a session after this many stored runs (changeSessionRuns 1): its
	// result lists them (≈ 150 bytes each in the history).
	sessionMaxRunsV1 = 512
	// sessionIntervals: a session lasts this many intervals of its shortest check, bounded by
	// sessionMinDuration and sessionMaxDuration (a one-check system @10 s: 5 minutes, 30 runs).
	sessionIntervals   = 30
	sessionMinDuration = time.Minute
	sessionMaxDuration = 15 * time.Minute
	// sessionTimeoutSlack is added to a session's duration and probe timeout for its
	// StartToClose timeout: a session lost with its worker is noticed after at most that long.
	sessionTimeoutSlack = 30 * time.Second
	// sessionRetryAfter: after a session that could not claim (no state row), the entity probes
	// by itself this long before it tries again.
	sessionRetryAfter = time.Minute
	// sessionResumeRetry is how long after its worker's stop a suspended session is retried
	// (resumed on a worker that polls then); a session suspended again and again (workers
	// restarting in a loop) backs off to sessionResumeRetryMax.
	sessionResumeRetry    = time.Second
	sessionResumeRetryMax = 10 * time.Second
	// sessionSuspendMax bounds how long a suspended session waits for a worker to resume it
	// (then it times out and the entity reloads, as after any lost session).
	sessionSuspendMax = 24 * time.Hour
)

// activeSession is the probe session the entity started last and that has not ended.
type activeSession struct {
	id      string
	owned   map[string]bool
	revoked bool
	// lost: its worker died (SignalProbeSessionLost); the entity reloaded and moved on, and
	// ignores the session's end when its timeout brings it.
	lost bool
}

// sessionEnd is a session's outcome, queued like any input.
type sessionEnd struct {
	session *activeSession
	res     ProbeSessionResult
	err     error
}

// ownedBySession tells whether the running session keeps the check's cadence.
func (e *entity) ownedBySession(configurationID string) bool {
	return e.session != nil && e.session.owned[configurationID]
}

// sessionWillTake tells whether the check is left to a probe session about to start: the entity
// neither probes it nor sets a timer for it (it does while PostgreSQL is away, and after a
// session failed, until sessionRetryAt).
func (e *entity) sessionWillTake(c CheckState, now time.Time) bool {
	return e.sessions && e.session == nil && !e.finished && e.storageDownSince.IsZero() &&
		!now.Before(e.sessionRetryAt) && e.sessionEligible(c) && !e.flapping()
}

// sessionEligible tells whether a check may be handed to a probe session: a local, not paused
// check (checks with a location are probed on their location's task queue).
func (e *entity) sessionEligible(c CheckState) bool {
	return !c.Paused && len(c.Locations) == 0 && !e.opts.RemoteProbes && c.InFlight == 0 && !e.isHeartbeat(c)
}

// maybeStartSession starts a probe session for the eligible checks when none runs and nothing
// waits to be processed.
func (e *entity) maybeStartSession(ctx workflow.Context) {
	if !e.sessions || e.session != nil || e.finished || len(e.queue) > 0 || !e.storageDownSince.IsZero() || e.backlogFull() || e.flapping() {
		return
	}
	now := workflow.Now(ctx)
	if now.Before(e.sessionRetryAt) {
		return
	}
	var checks []SessionCheck
	owned := map[string]bool{}
	shortest, timeout := 0, time.Duration(0)
	var first time.Time
	for _, c := range e.st.Checks {
		if !e.sessionEligible(c) {
			continue
		}
		checks = append(checks, SessionCheck{Assignment: c.Assignment, Recent: c.Recent, Status: c.Status, LastRunAt: c.LastRunAt, NextDue: c.NextDue})
		owned[c.ConfigurationID] = true
		if shortest == 0 || c.IntervalSeconds < shortest {
			shortest = c.IntervalSeconds
		}
		timeout = max(timeout, probeTimeout(c.Config))
		if first.IsZero() || c.NextDue.Before(first) {
			first = c.NextDue
		}
	}
	if len(checks) == 0 {
		return
	}
	if e.timer != nil && !e.timer.fired.IsReady() {
		// The cadence timer was for checks the session keeps now.
		e.timer.cancel()
		e.timer = nil
	}
	if e.st.SessionEpoch == "" {
		e.st.SessionEpoch = probeEpoch(workflow.GetInfo(ctx).WorkflowExecution.RunID)
	}
	e.st.SessionSeq++
	s := &activeSession{id: fmt.Sprintf("%s.%d", e.st.SessionEpoch, e.st.SessionSeq), owned: owned}
	maxRuns, dur := e.opts.SessionMaxRuns, e.opts.SessionMaxDuration
	if maxRuns <= 0 {
		maxRuns = defaultSessionMaxRuns
		if e.longSessions {
			maxRuns = sessionMaxRunsV1
		}
	}
	if dur <= 0 {
		dur = min(max(time.Duration(sessionIntervals*shortest)*time.Second, sessionMinDuration), sessionMaxDuration)
	}
	req := ProbeSessionRequest{SystemID: e.systemID, SystemName: e.st.SystemName, Session: s.id, Checks: checks, MaxRuns: maxRuns, MaxDuration: dur,
		Resumable: e.resumableSessions}
	opts := workflow.ActivityOptions{
		// Its time counts from its first due check.
		StartToCloseTimeout: max(first.Sub(now), 0) + dur + timeout + sessionTimeoutSlack,
		// A failed or lost session comes back to the entity, which reloads and starts another.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
		Summary:     fmt.Sprintf("session %s: %d check(s)", s.id, len(checks)),
	}
	if e.resumableSessions {
		// A session suspended by its worker's stop is retried — resumed — on the next worker,
		// however long no worker runs (up to sessionSuspendMax); every other failure is not
		// retryable. The retry of an attempt that timed out (lost with a killed worker) has
		// nothing to resume from and fails at once: the entity hears of it as before
		// (changeSessionResume).
		opts.ScheduleToCloseTimeout = opts.StartToCloseTimeout + sessionSuspendMax
		opts.RetryPolicy = &temporal.RetryPolicy{InitialInterval: sessionResumeRetry, BackoffCoefficient: 2, MaximumInterval: sessionResumeRetryMax}
	}
	actx := workflow.WithActivityOptions(ctx, opts)
	name := ActivityProbeSession
	if e.resumableSessions {
		name = ActivityResumableProbeSession
	}
	fut := workflow.ExecuteActivity(actx, name, req)
	e.session = s
	workflow.Go(ctx, func(ctx workflow.Context) {
		var res ProbeSessionResult
		err := fut.Get(ctx, &res)
		e.queue = append(e.queue, item{session: &sessionEnd{session: s, res: res, err: err}})
	})
}

// revokeSession fences the running session and has its worker end it; its runs come back to the
// entity as a session end. Called whenever the entity's windows of the session's checks change
// from outside the session.
func (e *entity) revokeSession(ctx workflow.Context, why string) {
	if e.session == nil || e.session.revoked {
		return
	}
	e.session.revoked = true
	err := workflow.ExecuteLocalActivity(storageRoundOptions(ctx), ActivityRevokeProbeSession,
		RevokeProbeSessionRequest{SystemID: e.systemID, Session: e.session.id}).Get(ctx, nil)
	if err != nil {
		// It ends at its next write all the same: the entity's writes move on without it.
		e.logger.Warn("revoking the probe session failed; it ends by itself",
			"session", e.session.id, "why", why, "error", err)
	}
}

// processSessionEnd folds what a session stored into the windows, takes over its cadence, and
// queues the batch that ended it first in line.
func (e *entity) processSessionEnd(ctx workflow.Context, end *sessionEnd) {
	if end.session.lost {
		return // handled when it was reported lost
	}
	if e.session == end.session {
		e.session = nil
	}
	now := workflow.Now(ctx)
	if end.err != nil {
		// Lost (its worker crashed: timed out) or failed. What it stored is in PostgreSQL but
		// not in the windows: reload them from the stored runs.
		e.logger.Warn("probe session ended without a report; reloading its checks' windows",
			"session", end.session.id, "error", rootMessage(end.err))
		// The entity probes by itself for a while (no gap), then hands the cadence over again.
		e.sessionRetryAt = now.Add(sessionRetryAfter)
		e.reload(ctx, end.session.owned)
		return
	}
	prev := cloneView(e.st.View)
	changed := false
	driver := ""
	round := map[string]bool{}
	for _, r := range end.res.Stored {
		i := e.findCheck(r.ConfigurationID)
		if i < 0 {
			continue
		}
		c := &e.st.Checks[i]
		before := c.Status
		c.fold(r.Status, r.ExecutedAt)
		// Quiet runs only lower a percent state change, and no session runs while anything
		// flaps: recording them changes no flapping state (nothing to emit). The system
		// records one evaluation per round of its checks (a check seen again starts a new
		// round), as one step of the entity's own probes does.
		e.recordCheckFlap(c)
		if round[c.ConfigurationID] {
			e.recordSystemFlap(e.st.View)
			clear(round)
		}
		round[c.ConfigurationID] = true
		if c.Status != before && driver == "" {
			// The session decided on a window the entity changed meanwhile: the entity's own
			// evaluation wins and is stored below.
			changed, driver = true, c.ConfigurationID
		}
	}
	if len(round) > 0 {
		e.recordSystemFlap(e.st.View)
	}
	for _, d := range end.res.NextDue {
		if i := e.findCheck(d.ConfigurationID); i >= 0 && end.session.owned[d.ConfigurationID] {
			e.st.Checks[i].NextDue = d.NextDue
		}
	}
	if end.res.Reason == SessionEndNoState {
		e.sessionRetryAt = now.Add(sessionRetryAfter)
	}
	if len(end.res.Pending) > 0 {
		e.queue = append([]item{{results: end.res.Pending}}, e.queue...)
	}
	if changed {
		e.reevaluate(ctx, prev, driver, now)
	}
	e.st.Processed++
	e.afterApply(ctx)
}

// processSessionLost hands the cadence back to a new session at once when the running one died
// with its worker (reported by the workers still alive): what it stored is reloaded from
// PostgreSQL.
func (e *entity) processSessionLost(ctx workflow.Context, id string) {
	s := e.session
	if s == nil || s.lost || (s.id != id && !e.olderSession(id, s.id)) {
		return // not the running session (ended meanwhile, or reported twice)
	}
	// An earlier session reported lost while a newer one runs: the newer one had not claimed
	// when the report was made (its worker may have died before it could); it is restarted
	// too — at worst an extra session when it was merely slow to claim.
	s.lost = true
	e.session = nil
	e.logger.Warn("probe session lost with its worker; reloading its checks' windows", "session", id)
	e.reload(ctx, s.owned)
}

// olderSession tells whether session id a ("<epoch>.<n>") was started by this entity before b.
func (e *entity) olderSession(a, b string) bool {
	ea, na, okA := strings.Cut(a, ".")
	eb, nb, okB := strings.Cut(b, ".")
	if !okA || !okB || ea != eb {
		return false
	}
	x, errA := strconv.Atoi(na)
	y, errB := strconv.Atoi(nb)
	return errA == nil && errB == nil && x < y
}

// reload reads the system's configuration and adopts the stored windows of the given checks
// (their runs were stored by a session the entity did not hear back from), then re-evaluates.
func (e *entity) reload(ctx workflow.Context, adopt map[string]bool) {
	loaded, err := e.load(ctx)
	if err != nil {
		e.logger.Error("reload after a lost probe session failed", "error", err)
		return
	}
	if loaded.Deleted {
		e.st.Checks, e.st.View, e.finished = nil, nil, true
		e.afterApply(ctx)
		return
	}
	now := workflow.Now(ctx)
	prev := cloneView(e.st.View)
	e.st.SystemName = loaded.SystemName
	e.st.Checks = e.mergeChecks(e.st.Checks, loaded.Checks, now)
	e.setMaintenance(loaded.InMaintenance, now)
	for _, l := range loaded.Checks {
		if i := e.findCheck(l.ConfigurationID); i >= 0 && adopt[l.ConfigurationID] {
			c := &e.st.Checks[i]
			c.Recent, c.LastRunAt = l.Recent, l.LastRunAt
			c.Status = evaluateCheck(*c)
			if c.NextDue.Before(now) {
				c.NextDue = now
			}
		}
	}
	e.reevaluate(ctx, prev, "", now)
	e.st.Processed++
	e.finished = len(e.st.Checks) == 0
	e.afterApply(ctx)
}

// reevaluate stores the view computed from the checks when it differs from prev (with the
// transition and the trigger events), then hands the events to the dispatcher.
func (e *entity) reevaluate(ctx workflow.Context, prev *health.View, driver string, now time.Time) {
	next := e.computeView()
	if health.ViewsEqual(prev, next) {
		return
	}
	req := e.commitRequest(prev, next, driver, now, e.evals(), nil, nil)
	if _, err := e.persistItem(ctx, req); err != nil {
		e.logger.Error("persist of re-evaluation failed", "error", err)
	}
	e.st.View = next
	e.dispatch(ctx, req.Events, now)
}

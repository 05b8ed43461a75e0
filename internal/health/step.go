package health

import "time"

// The entity's step as pure functions (design.md §1, reference §4.2): a step folds runs into
// their checks' windows, computes the next view, and diffs it against the previous one into the
// transition and trigger events it commits. The SystemHealth workflow calls these for every
// path that changes a system's view — a batch of results, a re-evaluation after a configuration
// change or a probe session's end — so they are tested here once, exhaustively.

// Window is what a run changes of a check: its newest statuses (newest first, at most
// MaxWindowRuns), the time of its newest run and its evaluated status.
type Window struct {
	Recent    []Status   `json:"recent"`
	LastRunAt *time.Time `json:"lastRunAt,omitempty"`
	Status    Status     `json:"status"`
}

// EvaluateCheck is a check's status from its window with its thresholds. A paused check is not
// measured, so its old failures no longer hold the system down: it counts as healthy until it is
// resumed.
func EvaluateCheck(recent []Status, th *Thresholds, paused bool) Status {
	if paused {
		return Healthy
	}
	return Evaluate(recent, th)
}

// Fold returns the window after a run with status at time at: the status prepended (the window
// keeps at most MaxWindowRuns), the newest run time kept (a run older than the newest does not
// move it back) and the check re-evaluated. The receiver's slice is never changed: the result
// has a new one, so a saved Window stays what it was.
func (w Window) Fold(status Status, at time.Time, th *Thresholds, paused bool) Window {
	recent := make([]Status, 0, min(len(w.Recent)+1, MaxWindowRuns))
	recent = append(recent, status)
	recent = append(recent, w.Recent[:min(len(w.Recent), MaxWindowRuns-1)]...)
	out := Window{Recent: recent, LastRunAt: w.LastRunAt}
	if w.LastRunAt == nil || at.After(*w.LastRunAt) {
		t := at
		out.LastRunAt = &t
	}
	out.Status = EvaluateCheck(recent, th, paused)
	return out
}

// RunsConsidered is how many runs the check's evaluation saw (the view's runsConsidered).
func (w Window) RunsConsidered() int { return min(len(w.Recent), MaxWindowRuns) }

// FoldedRun is one run of a step after its fold: its check and whether the check's evaluated
// status changed with it.
type FoldedRun struct {
	ConfigurationID string
	Changed         bool
}

// StepDriver is the check a step's transition names: the first run whose check's status changed
// (that run drove the system's change), else the first run's check; "" for no runs.
func StepDriver(runs []FoldedRun) string {
	for _, r := range runs {
		if r.Changed {
			return r.ConfigurationID
		}
	}
	if len(runs) > 0 {
		return runs[0].ConfigurationID
	}
	return ""
}

// StatusTransition is a change of the system's evaluated status: the transition row a step
// writes (reference §5.1), naming the check that drove it.
type StatusTransition struct {
	ConfigurationID string
	From, To        Status
}

// Step is what one step commits besides its runs and check states: the next view, the
// transition when the system's status changed, and the trigger events of the change.
type Step struct {
	Next       *View
	Transition *StatusTransition
	Events     []TriggerEvent
}

// NextStep diffs the view from prev to next at time at for the system: a transition (named after
// driver) when both views exist and their status differs, and the trigger events DeriveEvents
// derives. With equal views it has neither.
func NextStep(systemID string, prev, next *View, driver string, at time.Time) Step {
	s := Step{Next: next, Events: DeriveEvents(prev, next, systemID, at)}
	if prev != nil && next != nil && prev.Status != next.Status {
		s.Transition = &StatusTransition{ConfigurationID: driver, From: prev.Status, To: next.Status}
	}
	return s
}

// ViewsEqual reports whether two views are the same (both nil, or equal fields).
func ViewsEqual(a, b *View) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// StepTime is when a step happened, given the workflow's now and the end (start + latency) of
// each run it folds. Workflow time stands still while a workflow task runs its local
// activities, so a step is never dated before the runs it processes; and results that waited
// longer than redateAfter (for the database, or in the queue) date their transition and events
// when the runs showed the change, not when they were stored (redateAfter ≤ 0: never).
func StepTime(now time.Time, runEnds []time.Time, redateAfter time.Duration) time.Time {
	var latest time.Time
	for _, end := range runEnds {
		if end.After(latest) {
			latest = end
		}
	}
	if len(runEnds) == 0 {
		return now
	}
	if latest.After(now) || (redateAfter > 0 && now.Sub(latest) > redateAfter) {
		return latest
	}
	return now
}

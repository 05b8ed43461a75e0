package workflows

import (
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// Activities of probe sessions (issue 12; design.md §1 "quiet runs need no workflow task").
const (
	// ActivityProbeSession keeps the cadence of a system's local checks for a while: it probes,
	// stores the runs that change no evaluated status itself (fenced by the session id) and
	// returns them in one batch; it ends at once on a run that may change a status.
	ActivityProbeSession = "ProbeSession"
	// ActivityResumableProbeSession is ActivityProbeSession for a resumable session
	// (ProbeSessionRequest.Resumable, changeSessionResume). Its own name keeps it from workers
	// that predate resumable sessions (it is not registered there: the attempt fails and
	// Temporal retries it elsewhere) — such a worker would start a resumed session afresh and
	// number its runs from 1 again.
	ActivityResumableProbeSession = "ResumableProbeSession"
	// ActivityRevokeProbeSession fences the system's probe session and tells its worker to end it.
	ActivityRevokeProbeSession = "RevokeProbeSession"
)

// SignalProbeSessionLost tells the entity that the probe session it names (the signal's string
// argument) died with its worker; a session id the entity does not run any more is ignored.
const SignalProbeSessionLost = "probe-session-lost"

// Why a probe session ended (ProbeSessionResult.Reason).
const (
	SessionEndUrgent      = "urgent"       // a run may change an evaluated status (or failed): Pending holds its batch
	SessionEndFenced      = "fenced"       // the entity revoked or replaced the session
	SessionEndStoreError  = "store-error"  // PostgreSQL refused a write: Pending holds the batch
	SessionEndMaxRuns     = "max-runs"     // it stored as many runs as asked
	SessionEndMaxDuration = "max-duration" // it ran as long as asked
	SessionEndStopping    = "stopping"     // its worker is shutting down
	SessionEndNoState     = "no-state"     // the system has no state row to claim (deleted or never stored)
)

// SessionCheck is one check a probe session keeps: the assignment and the entity's window of it
// when the session started.
type SessionCheck struct {
	Assignment
	// Recent are the newest ≤100 statuses, newest first; Status is the check's evaluated status.
	Recent    []health.Status `json:"recent"`
	Status    health.Status   `json:"status"`
	LastRunAt *time.Time      `json:"lastRunAt,omitempty"`
	NextDue   time.Time       `json:"nextDue"`
}

// ProbeSessionRequest starts a probe session.
type ProbeSessionRequest struct {
	SystemID   string `json:"systemId"`
	SystemName string `json:"systemName"`
	// Session is the session's id, unique per system ("<epoch>.<n>"); its run ids are
	// "<systemId>:s<session>.<k>".
	Session string         `json:"session"`
	Checks  []SessionCheck `json:"checks"`
	// MaxRuns and MaxDuration end the session (whichever comes first): after MaxRuns stored runs,
	// and no probe starts after MaxDuration.
	MaxRuns     int           `json:"maxRuns"`
	MaxDuration time.Duration `json:"maxDuration"`
	// Resumable (changeSessionResume): the activity is retried when its worker stops, and the
	// retry resumes the session instead of starting it afresh (activities.Sessions.ProbeSession).
	Resumable bool `json:"resumable,omitempty"`
}

// SessionRunID is the id of the k-th run (k ≥ 1) of a probe session.
func SessionRunID(systemID, session string, k int) string {
	return health.SessionRunID(systemID, session, k)
}

// SessionRun is a run a probe session stored, as the entity needs it to fold its window.
type SessionRun struct {
	ID              string        `json:"id"`
	ConfigurationID string        `json:"configurationId"`
	Status          health.Status `json:"status"`
	ExecutedAt      time.Time     `json:"executedAt"`
}

// CheckDue is when a check falls due next.
type CheckDue struct {
	ConfigurationID string    `json:"configurationId"`
	NextDue         time.Time `json:"nextDue"`
}

// ProbeSessionResult is what a probe session hands back to the entity.
type ProbeSessionResult struct {
	// Stored are the runs the session stored, in the order it stored them.
	Stored []SessionRun `json:"stored,omitempty"`
	// Pending are runs it made but did not store (the batch that ended it): the entity processes
	// them like any result.
	Pending []CheckResult `json:"pending,omitempty"`
	// NextDue is when each of the session's checks falls due next.
	NextDue []CheckDue `json:"nextDue,omitempty"`
	Reason  string     `json:"reason"`
}

// RevokeProbeSessionRequest asks to fence a system's probe session.
type RevokeProbeSessionRequest struct {
	SystemID string `json:"systemId"`
	Session  string `json:"session"`
}

// SessionFold folds one run into a session check's window, as the entity would, and tells
// whether the entity must see the run at once: its check's evaluated status changes, or the run
// raises a trigger event (check_failed). The check is changed in place only when the run is
// quiet.
func SessionFold(systemID string, c *SessionCheck, r CheckResult) (urgent bool) {
	next := CheckState{Assignment: c.Assignment, Recent: c.Recent, LastRunAt: c.LastRunAt}
	next.fold(r.Status, r.ExecutedAt)
	_, triggers := health.CheckRunEvents(health.CheckRun{SystemID: systemID, ConfigurationID: r.ConfigurationID, Status: r.Status, At: r.ExecutedAt})
	if next.Status != c.Status || len(triggers) > 0 {
		return true
	}
	c.Recent, c.LastRunAt = next.Recent, next.LastRunAt
	return false
}

// SessionHooks are the outbox hooks of a quiet run (check.completed …), keyed by run id.
func SessionHooks(systemID string, r CheckResult) []Event {
	return checkRunEvents(systemID, r)
}

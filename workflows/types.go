package workflows

import (
	"encoding/json"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/heartbeat"
)

// Public names of the SystemHealth entity (design.md §3). Never rename them without a migration
// path: running workflows and API callers depend on them.
const (
	// SystemHealthWorkflow is the entity workflow type.
	SystemHealthWorkflow = "SystemHealth"
	// SignalCheckResult delivers an external result (push check, remote probe) as a CheckResult.
	SignalCheckResult = "check-result"
	// SignalCheckResults delivers several external results at once ([]CheckResult): the API's
	// heartbeat pings, gathered per system for a few milliseconds (changeHeartbeat).
	SignalCheckResults = "check-results"
	// SignalConfigChanged tells the entity its configuration changed in PostgreSQL.
	SignalConfigChanged = "config-changed"
	// UpdateRunCheck runs one check now and returns the run, the new view and the events.
	UpdateRunCheck = "run-check"
	// QueryState returns the entity's full state.
	QueryState = "state"
)

// Activity names called by the entity.
const (
	ActivityLoadSystem     = "LoadSystem"
	ActivityPersistSystem  = "PersistSystem"
	ActivityProbe          = "Probe"
	ActivityDispatchEvents = "DispatchEvents"
)

// SystemWorkflowID is the entity's workflow id for a system.
func SystemWorkflowID(systemID string) string { return "system-health/" + systemID }

// Assignment is one enabled check of a system as the entity runs it.
type Assignment struct {
	ConfigurationID string             `json:"configurationId"`
	Name            string             `json:"name"`
	StrategyID      string             `json:"strategyId"`
	Config          json.RawMessage    `json:"config"`
	Collectors      json.RawMessage    `json:"collectors,omitempty"`
	IntervalSeconds int                `json:"intervalSeconds"`
	Paused          bool               `json:"paused"`
	Thresholds      *health.Thresholds `json:"thresholds,omitempty"`
	Locations       []string           `json:"locations,omitempty"`
	// Quorum is how many locations must fail for a run of a multi-location check to fail
	// (0: a majority of Locations; changeQuorum).
	Quorum int `json:"quorum,omitempty"`
}

// LoadedCheck is an assignment with its recent history, as loaded from PostgreSQL.
type LoadedCheck struct {
	Assignment
	// Recent are the newest ≤100 run statuses, newest first.
	Recent    []health.Status `json:"recent"`
	LastRunAt *time.Time      `json:"lastRunAt,omitempty"`
}

// LoadedSystem is what ActivityLoadSystem returns.
type LoadedSystem struct {
	SystemID   string        `json:"systemId"`
	SystemName string        `json:"systemName"`
	Checks     []LoadedCheck `json:"checks"`
	View       *health.View  `json:"view,omitempty"`
	Seq        int64         `json:"seq"`
	// Deleted is true when the system itself no longer exists (not merely without checks).
	Deleted bool `json:"deleted,omitempty"`
	// FlapThresholds are the system's flap detection thresholds (zero: the defaults).
	FlapThresholds health.FlapThresholds `json:"flapThresholds,omitempty"`
	// InMaintenance is true when a maintenance window covers the system (at the load).
	InMaintenance bool `json:"inMaintenance,omitempty"`
}

// LoadSystemRequest asks for a system's state.
type LoadSystemRequest struct {
	SystemID string `json:"systemId"`
}

// ProbeRequest asks for one or more checks of a system to be probed once, concurrently (the
// checks of a system due in the same slot go together). Results come back in the same order.
type ProbeRequest struct {
	SystemID   string      `json:"systemId"`
	SystemName string      `json:"systemName"`
	Location   string      `json:"location,omitempty"`
	Probes     []ProbeItem `json:"probes"`
}

// ProbeItem is one check to probe.
type ProbeItem struct {
	ResultID string `json:"resultId"`
	// DueAt is when the run was due (the start lag is the probe's start minus DueAt).
	DueAt      time.Time  `json:"dueAt"`
	Assignment Assignment `json:"assignment"`
}

// CheckResult is one run's outcome: from a probe, from a check-result signal, or from run-check.
// ID is stable ("<systemId>:<key>"): the same id is stored once.
type CheckResult struct {
	ID              string          `json:"id"`
	ConfigurationID string          `json:"configurationId"`
	Status          health.Status   `json:"status"`
	LatencyMs       *int            `json:"latencyMs,omitempty"`
	Message         string          `json:"message,omitempty"`
	Result          json.RawMessage `json:"result,omitempty"`
	ExecutedAt      time.Time       `json:"executedAt"`
	SourceID        *string         `json:"sourceId,omitempty"`
	SourceLabel     *string         `json:"sourceLabel,omitempty"`
	// Ping is set on the results of heartbeat pings: what the ping said (a start is no run).
	Ping *heartbeat.Ping `json:"ping,omitempty"`
}

// CheckEval is a check's evaluated status after an item.
type CheckEval struct {
	ConfigurationID string        `json:"configurationId"`
	Status          health.Status `json:"status"`
	RunsConsidered  int           `json:"runsConsidered"`
}

// Transition is an aggregate status change of the system.
type Transition struct {
	ConfigurationID string         `json:"configurationId,omitempty"`
	From            *health.Status `json:"fromStatus,omitempty"`
	To              health.Status  `json:"toStatus"`
}

// Event is an outbox event: a trigger event or a hook with its payload.
type Event struct {
	Type          string         `json:"type"`
	Discriminator string         `json:"discriminator,omitempty"`
	Payload       map[string]any `json:"payload"`
}

// PersistRequest is the entity's single write for one processed item (one transaction,
// idempotent by run id, fenced by Seq).
type PersistRequest struct {
	SystemID   string        `json:"systemId"`
	Seq        int64         `json:"seq"`
	At         time.Time     `json:"at"`
	Runs       []CheckResult `json:"runs,omitempty"`
	Checks     []CheckEval   `json:"checks,omitempty"`
	View       *health.View  `json:"view"`
	Transition *Transition   `json:"transition,omitempty"`
	Events     []Event       `json:"events,omitempty"`
}

// PersistResponse tells whether the write happened (false: it had happened before).
type PersistResponse struct {
	Applied bool `json:"applied"`
	// Stored are the runs as stored when the write had happened before (Applied false): a probe
	// that ran again after a crash may have answered differently, and the entity adopts these.
	Stored []StoredRun `json:"stored,omitempty"`
}

// StoredRun is a run's outcome as PostgreSQL holds it.
type StoredRun struct {
	ID         string        `json:"id"`
	Status     health.Status `json:"status"`
	ExecutedAt time.Time     `json:"executedAt"`
	LatencyMs  *int          `json:"latencyMs,omitempty"`
	Message    string        `json:"message,omitempty"`
}

// DispatchRequest asks the dispatcher to hand the system's undelivered outbox events to the
// registered consumers.
type DispatchRequest struct {
	SystemID string `json:"systemId"`
}

// Error types of a rejected run-check (temporal.ApplicationError.Type()).
const (
	// ErrTypeCheckNotEnabled: the check is not an enabled check of the system.
	ErrTypeCheckNotEnabled = "CheckNotEnabled"
	// ErrTypeCheckPaused: the check is paused and force was not set.
	ErrTypeCheckPaused = "CheckPaused"
)

// RunCheckRequest is the run-check update's argument.
type RunCheckRequest struct {
	ConfigurationID string `json:"configurationId"`
	// Force runs a paused check too.
	Force bool `json:"force,omitempty"`
}

// RunCheckResponse is what run-check returns once the loop processed the run.
type RunCheckResponse struct {
	Run    CheckResult  `json:"run"`
	View   *health.View `json:"view"`
	Events []Event      `json:"events"`
	// Duplicate is true when the result id had been processed before (nothing new happened).
	Duplicate bool `json:"duplicate,omitempty"`
}

// EntityOptions tune the entity; zero values mean the defaults.
type EntityOptions struct {
	// MaxConcurrentProbes bounds probes in flight per system (default 16).
	MaxConcurrentProbes int `json:"maxConcurrentProbes,omitempty"`
	// ContinueAsNewAfterEvents forces continue-as-new past this history length (0: when
	// Temporal suggests it).
	ContinueAsNewAfterEvents int `json:"continueAsNewAfterEvents,omitempty"`
	// ProbeTaskQueue overrides the probe task queue (tests); locations append "-<location>".
	ProbeTaskQueue string `json:"probeTaskQueue,omitempty"`
	// RemoteProbes runs checks without a location as activities on the probe task queue (any
	// probe worker) instead of local activities of the entity's own worker. Local probing
	// costs a fraction of the Temporal work per run (see BENCHMARKS.md).
	RemoteProbes bool `json:"remoteProbes,omitempty"`
	// MaxPendingRuns bounds the results that wait in the entity while PostgreSQL is unavailable
	// (default 1,000; also at most 16 MiB of result documents). At the bound the entity starts
	// no probe until the backlog is stored.
	MaxPendingRuns int `json:"maxPendingRuns,omitempty"`
	// NoProbeSessions keeps every check's cadence in the entity itself (one workflow task per
	// run), as before probe sessions (changeProbeSessions).
	NoProbeSessions bool `json:"noProbeSessions,omitempty"`
	// SessionMaxRuns and SessionMaxDuration end a probe session (defaults: 64 runs; 30
	// intervals of its shortest check, between 1 and 15 minutes). A session lost with a crashed
	// worker is noticed after its duration plus the probe timeout plus 30 s.
	SessionMaxRuns     int           `json:"sessionMaxRuns,omitempty"`
	SessionMaxDuration time.Duration `json:"sessionMaxDuration,omitempty"`
}

// SystemHealthInput starts (or continues) the entity. State is nil on a first start.
type SystemHealthInput struct {
	SystemID string        `json:"systemId"`
	State    *EntityState  `json:"state,omitempty"`
	Options  EntityOptions `json:"options"`
}

// CheckState is the entity's state of one check.
type CheckState struct {
	Assignment
	Recent    []health.Status `json:"recent"`
	Status    health.Status   `json:"status"`
	LastRunAt *time.Time      `json:"lastRunAt,omitempty"`
	NextDue   time.Time       `json:"nextDue"`
	InFlight  int             `json:"inFlight"`
	// Flap is the check's flap detection over its evaluated statuses (changeFlapDetection).
	Flap health.FlapState `json:"flap,omitempty"`
	// StartedAt is when a heartbeat check's job signalled its start and has not finished since
	// (changeHeartbeat).
	StartedAt *time.Time `json:"startedAt,omitempty"`
}

// EntityState is the entity's whole state, returned by the state query and carried across
// continue-as-new.
type EntityState struct {
	SystemName string       `json:"systemName"`
	Checks     []CheckState `json:"checks"`
	View       *health.View `json:"view"`
	Seq        int64        `json:"seq"`
	ProbeSeq   int64        `json:"probeSeq"`
	// ProbeEpoch tells this lifetime's probe run ids from earlier ones (see probeResultID).
	ProbeEpoch string `json:"probeEpoch,omitempty"`
	// Seen are the most recent processed result ids, oldest first (bounded).
	Seen []string `json:"seen"`
	// Pending are received but unprocessed results (carried across continue-as-new).
	Pending []CheckResult `json:"pending,omitempty"`
	// Processed counts processed items over the entity's whole life (all runs).
	Processed int64 `json:"processed"`
	// Flap is the system's flap detection over its evaluated statuses, FlapThresholds its
	// thresholds as last loaded (changeFlapDetection).
	Flap           health.FlapState      `json:"flap,omitempty"`
	FlapThresholds health.FlapThresholds `json:"flapThresholds,omitempty"`
	// InMaintenance is whether a maintenance window covered the system at the last load; the
	// maintenance edges reload the entity (changeHeartbeat: missed pings are no failures then).
	InMaintenance bool `json:"inMaintenance,omitempty"`
	// SessionEpoch and SessionSeq number the entity's probe sessions ("<epoch>.<seq>").
	SessionEpoch string `json:"sessionEpoch,omitempty"`
	SessionSeq   int64  `json:"sessionSeq,omitempty"`
	// Session is the probe session running when the state was queried ("" when none; never
	// set across continue-as-new, which waits for the session to end). Its stored runs are in
	// PostgreSQL but not yet in Checks[].Recent.
	Session string `json:"session,omitempty"`
}

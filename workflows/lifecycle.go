package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Public names of the data-lifecycle jobs (design.md §3). Each job is a workflow started by its
// Temporal Schedule; never rename them without a migration path.
const (
	// RetentionJobWorkflow applies each assignment's retention (daily): transitions pruned
	// (the newest per system kept), raw runs deleted, hourly buckets rolled into daily ones,
	// daily buckets deleted; the data of checks no longer assigned by the defaults.
	RetentionJobWorkflow = "RetentionJob"
	// RollupJobWorkflow rolls hourly buckets into daily ones for finished UTC days older than
	// each assignment's hourly retention (hourly).
	RollupJobWorkflow = "RollupJob"
	// PruneJobWorkflow deletes delivered outbox events and finished notification deliveries
	// older than the prune age (daily).
	PruneJobWorkflow = "PruneJob"

	// RetentionScheduleID, RollupScheduleID and PruneScheduleID are the jobs' schedules.
	RetentionScheduleID = "checkflow-retention"
	RollupScheduleID    = "checkflow-rollup"
	PruneScheduleID     = "checkflow-prune"

	// Activities of the jobs: one bounded step each (see JobStepResult), and the summary.
	ActivityRetentionStep = "RetentionStep"
	ActivityRollupStep    = "RollupStep"
	ActivityPruneStep     = "PruneStep"
	ActivityJobSummary    = "LifecycleJobSummary"
)

// Defaults of the jobs' workflows (JobOptions).
const (
	// DefaultJobMaxStepsPerRun is how many steps a job's run takes before it continues as new.
	DefaultJobMaxStepsPerRun = 1000
	// DefaultJobStepTimeout bounds one step activity (a step stops itself well before: see
	// activities.DefaultStepBudget).
	DefaultJobStepTimeout = 2 * time.Minute
	// DefaultJobStepHeartbeat is the step activity's heartbeat timeout: how soon a step of a
	// killed worker is retried elsewhere (resuming from its last heartbeat).
	DefaultJobStepHeartbeat = 30 * time.Second
)

// Job cursor phases and stages (JobCursor.Phase / Stage).
const (
	JobPhasePartitions  = "partitions"
	JobPhaseTransitions = "transitions"
	JobPhaseAssignments = "assignments"
	JobPhaseUnassigned  = "unassigned"
	JobPhaseEvents      = "events"
	JobPhaseDeliveries  = "deliveries"
	JobPhaseOccurrences = "occurrences"
	JobPhaseFires       = "fires"
	JobPhaseDone        = "done"

	JobStageRuns   = "runs"
	JobStageRollup = "rollup"
	JobStageDaily  = "daily"
	JobStageDone   = "done"
)

// JobCursor says where a job is. Steps work through phases in order and, within the
// assignment phases, through targets in (system, configuration) order, each target through its
// stages; the cursor names the target in progress (a keyset: a target deleted meanwhile is
// skipped). The zero cursor starts a job.
type JobCursor struct {
	// Now is the job's clock, set by its first step: every cutoff of the job is computed from it,
	// so that the cutoffs do not move while the job runs (or across continue-as-new).
	Now time.Time `json:"now,omitzero"`
	// Phase is the phase in progress ("" = the job's first).
	Phase string `json:"phase,omitempty"`
	// SystemID and ConfigurationID name the target in progress (the system alone for
	// transitions).
	SystemID        string `json:"systemId,omitempty"`
	ConfigurationID string `json:"configurationId,omitempty"`
	// Stage is the target's stage in progress ("" = not started, JobStageDone = finished).
	Stage string `json:"stage,omitempty"`
}

// JobReport counts what a job did; a step returns its own counts and the workflow sums them.
type JobReport struct {
	// Systems, Assignments and UnassignedChecks count the targets visited.
	Systems          int `json:"systems,omitempty"`
	Assignments      int `json:"assignments,omitempty"`
	UnassignedChecks int `json:"unassignedChecks,omitempty"`

	TransitionsDeleted    int64 `json:"transitionsDeleted,omitempty"`
	RunsDeleted           int64 `json:"runsDeleted,omitempty"`
	UnassignedRunsDeleted int64 `json:"unassignedRunsDeleted,omitempty"`
	HourlyRolledUp        int64 `json:"hourlyRolledUp,omitempty"`
	DailyWritten          int64 `json:"dailyWritten,omitempty"`
	DailyDeleted          int64 `json:"dailyDeleted,omitempty"`
	EventsDeleted         int64 `json:"eventsDeleted,omitempty"`
	DeliveriesDeleted     int64 `json:"deliveriesDeleted,omitempty"`
	// OccurrencesDeleted counts automation occurrences older than health.WindowEventRetention,
	// FiresDeleted finished automation fires older than the prune age.
	OccurrencesDeleted int64 `json:"occurrencesDeleted,omitempty"`
	FiresDeleted       int64 `json:"firesDeleted,omitempty"`
	// PartitionsCreated and PartitionsDropped count the day partitions of raw runs.
	PartitionsCreated int `json:"partitionsCreated,omitempty"`
	PartitionsDropped int `json:"partitionsDropped,omitempty"`
}

// Add returns r + o.
func (r JobReport) Add(o JobReport) JobReport {
	r.Systems += o.Systems
	r.Assignments += o.Assignments
	r.UnassignedChecks += o.UnassignedChecks
	r.TransitionsDeleted += o.TransitionsDeleted
	r.RunsDeleted += o.RunsDeleted
	r.UnassignedRunsDeleted += o.UnassignedRunsDeleted
	r.HourlyRolledUp += o.HourlyRolledUp
	r.DailyWritten += o.DailyWritten
	r.DailyDeleted += o.DailyDeleted
	r.EventsDeleted += o.EventsDeleted
	r.DeliveriesDeleted += o.DeliveriesDeleted
	r.OccurrencesDeleted += o.OccurrencesDeleted
	r.FiresDeleted += o.FiresDeleted
	r.PartitionsCreated += o.PartitionsCreated
	r.PartitionsDropped += o.PartitionsDropped
	return r
}

// Rows is the number of rows deleted or rolled up (daily rows written not counted).
func (r JobReport) Rows() int64 {
	return r.TransitionsDeleted + r.RunsDeleted + r.UnassignedRunsDeleted + r.HourlyRolledUp + r.DailyDeleted +
		r.EventsDeleted + r.DeliveriesDeleted + r.OccurrencesDeleted + r.FiresDeleted
}

// JobStepResult is what one step activity returns.
type JobStepResult struct {
	// Cursor is where the next step starts.
	Cursor JobCursor `json:"cursor"`
	// Report is this step's counts.
	Report JobReport `json:"report"`
	// Done is true when the job has nothing left to do.
	Done bool `json:"done,omitempty"`
}

// JobOptions tune a job's workflow (zero values: the defaults).
type JobOptions struct {
	// MaxStepsPerRun: the run continues as new after this many steps (default
	// DefaultJobMaxStepsPerRun), or earlier when Temporal suggests it.
	MaxStepsPerRun int `json:"maxStepsPerRun,omitempty"`
	// StepTimeout and StepHeartbeat are the step activity's start-to-close and heartbeat
	// timeouts (defaults DefaultJobStepTimeout, DefaultJobStepHeartbeat).
	StepTimeout   time.Duration `json:"stepTimeout,omitempty"`
	StepHeartbeat time.Duration `json:"stepHeartbeat,omitempty"`
}

// JobInput starts a job (the zero value from its schedule) or continues it as new.
type JobInput struct {
	Cursor JobCursor `json:"cursor"`
	// Report, Steps, Runs and StartedAt carry the job's progress across continue-as-new.
	Report    JobReport  `json:"report"`
	Steps     int        `json:"steps,omitempty"`
	Runs      int        `json:"runs,omitempty"`
	StartedAt time.Time  `json:"startedAt,omitzero"`
	Options   JobOptions `json:"options,omitzero"`
}

// JobResult is a finished job's summary: the workflow's result (shown in the Temporal UI) and
// what the summary activity logs.
type JobResult struct {
	Job    string    `json:"job"`
	Report JobReport `json:"report"`
	// Steps is the number of step activities; Runs the number of workflow runs (1 + times it
	// continued as new).
	Steps int `json:"steps"`
	Runs  int `json:"runs"`
	// Now is the job's clock (the cutoffs' reference); StartedAt and FinishedAt are workflow
	// time.
	Now        time.Time `json:"now,omitzero"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	DurationMs int64     `json:"durationMs"`
}

// RetentionJob applies the retention of every assignment (reference §11) in bounded steps.
func RetentionJob(ctx workflow.Context, in JobInput) (JobResult, error) {
	return runJob(ctx, RetentionJobWorkflow, ActivityRetentionStep, in)
}

// RollupJob rolls hourly buckets into daily ones for the finished days older than each
// assignment's hourly retention, in bounded steps.
func RollupJob(ctx workflow.Context, in JobInput) (JobResult, error) {
	return runJob(ctx, RollupJobWorkflow, ActivityRollupStep, in)
}

// PruneJob deletes delivered outbox events and finished deliveries older than the prune age,
// in bounded steps.
func PruneJob(ctx workflow.Context, in JobInput) (JobResult, error) {
	return runJob(ctx, PruneJobWorkflow, ActivityPruneStep, in)
}

// runJob calls the job's step activity until it is done, summing the report; it continues as
// new with the cursor and the report after MaxStepsPerRun steps or when Temporal suggests it.
func runJob(ctx workflow.Context, job, stepActivity string, in JobInput) (JobResult, error) {
	o := in.Options
	if o.MaxStepsPerRun <= 0 {
		o.MaxStepsPerRun = DefaultJobMaxStepsPerRun
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = DefaultJobStepTimeout
	}
	if o.StepHeartbeat <= 0 {
		o.StepHeartbeat = DefaultJobStepHeartbeat
	}
	if in.StartedAt.IsZero() {
		in.StartedAt = workflow.Now(ctx)
	}
	in.Runs++
	stepCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: o.StepTimeout,
		HeartbeatTimeout:    o.StepHeartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			// About 15 minutes of retries (a database outage); then the job fails and its
			// schedule starts it again at the next interval.
			MaximumAttempts: 20,
		},
	})
	for steps := 0; ; steps++ {
		if steps >= o.MaxStepsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return JobResult{}, workflow.NewContinueAsNewError(ctx, job, in)
		}
		var res JobStepResult
		if err := workflow.ExecuteActivity(stepCtx, stepActivity, in.Cursor).Get(ctx, &res); err != nil {
			return JobResult{}, err
		}
		in.Steps++
		in.Report = in.Report.Add(res.Report)
		in.Cursor = res.Cursor
		if res.Done {
			break
		}
	}
	finished := workflow.Now(ctx)
	out := JobResult{Job: job, Report: in.Report, Steps: in.Steps, Runs: in.Runs, Now: in.Cursor.Now,
		StartedAt: in.StartedAt, FinishedAt: finished, DurationMs: finished.Sub(in.StartedAt).Milliseconds()}
	sumCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	if err := workflow.ExecuteActivity(sumCtx, ActivityJobSummary, out).Get(ctx, nil); err != nil {
		// The job's work is done; its summary line is not worth failing it for.
		workflow.GetLogger(ctx).Warn("lifecycle job summary not logged", "job", job, "error", err)
	}
	return out, nil
}

package activities

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// Defaults of the data-lifecycle jobs.
const (
	// DefaultJobBatchSize is the most rows one statement of a job deletes or rolls up, and about
	// how many rows one step handles.
	DefaultJobBatchSize = 10_000
	// DefaultPruneAfter is the age after which delivered outbox events and finished
	// notification deliveries are deleted.
	DefaultPruneAfter = 7 * 24 * time.Hour
	// DefaultStepBudget is how long one step keeps starting statements: a step ends after
	// BatchSize rows or this long, whichever comes first, well within the step's timeout.
	DefaultStepBudget = 10 * time.Second
	// DefaultPauseFactor: after each statement a step pauses this many times as long as the
	// statement took, so that a job keeps the database busy at most half of the time and
	// leaves room (CPU, WAL flushes) for the entities' writes.
	DefaultPauseFactor = 1.0
)

// Lifecycle holds the data-lifecycle jobs' activities (retention, rollup, prune). Each step
// activity does a bounded amount of work — statements of at most BatchSize rows, each its own
// short transaction — heartbeats its cursor after every statement and returns the cursor for
// the next step; a step retried after a worker crash resumes from its last heartbeat. Every
// statement is idempotent (deletes by cutoff; a rollup batch moves hourly rows into their days
// atomically), so redoing part of a step never counts a row twice in the database (the report
// may undercount what the crashed attempt did after its last heartbeat).
type Lifecycle struct {
	Store  *store.Store
	Logger *slog.Logger
	// BatchSize bounds each statement (default DefaultJobBatchSize).
	BatchSize int
	// PruneAfter is the prune job's age (default DefaultPruneAfter).
	PruneAfter time.Duration
	// StepBudget bounds the time one step keeps going (default DefaultStepBudget).
	StepBudget time.Duration
	// PauseFactor is how long a step pauses after each statement, relative to the statement's
	// duration (0: DefaultPauseFactor; negative: no pause).
	PauseFactor float64
	// Now is the clock (default time.Now); a job reads it once, at its first step.
	Now func() time.Time
	// Day is how long one day of the retention ages lasts (0: store.RetentionDay, 24 hours):
	// time compression for soak tests and demos, e.g. time.Minute makes the default raw
	// retention of 7 days 7 minutes. The cutoffs are store.RetentionConfig.CutoffsWithDay: the
	// tiers' buckets stay real hours and UTC days, an hourly bucket is rolled into its real UTC
	// day once its whole hour is older than the hourly age, a daily bucket deleted once its whole
	// UTC day is older than the daily age. The day partitions of raw runs are real UTC days too:
	// a partition is dropped only when its whole day lies before now − the longest raw age; with
	// a day of minutes that is at most the past UTC days, and the runs of today leave by the
	// batched row deletes of each assignment's retention. PruneAfter is a wall-clock duration
	// and is not scaled by Day (set it directly).
	Day time.Duration
}

func (l *Lifecycle) day() time.Duration {
	if l.Day > 0 {
		return l.Day
	}
	return store.RetentionDay
}

func (l *Lifecycle) batchSize() int {
	if l.BatchSize > 0 {
		return l.BatchSize
	}
	return DefaultJobBatchSize
}

func (l *Lifecycle) pruneAfter() time.Duration {
	if l.PruneAfter > 0 {
		return l.PruneAfter
	}
	return DefaultPruneAfter
}

func (l *Lifecycle) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Lifecycle) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// jobProgress is a step's heartbeat: where it is and what it did so far.
type jobProgress struct {
	Cursor workflows.JobCursor `json:"cursor"`
	Report workflows.JobReport `json:"report"`
}

// step is one step activity in progress.
type step struct {
	cur      workflows.JobCursor
	rep      workflows.JobReport
	limit    int
	deadline time.Time
	pause    float64
	// day is the length of a retention day (Lifecycle.Day).
	day time.Duration
}

// more says whether the step may start another statement: fewer than limit rows so far and
// time left. A step always runs at least one statement.
func (st *step) more() bool {
	return st.rep.Rows() < int64(st.limit) && time.Now().Before(st.deadline)
}

func (st *step) heartbeat(ctx context.Context) {
	activity.RecordHeartbeat(ctx, jobProgress{Cursor: st.cur, Report: st.rep})
}

// loop runs fn (one bounded statement) until it reports nothing more to do (true) or the step's
// budget is spent (false), heartbeating after each call.
func (st *step) loop(ctx context.Context, fn func() (more bool, err error)) (bool, error) {
	for {
		if !st.more() {
			return false, nil
		}
		began := time.Now()
		more, err := fn()
		if err != nil {
			return false, err
		}
		st.heartbeat(ctx)
		if !more {
			return true, nil
		}
		if err := st.rest(ctx, time.Since(began)); err != nil {
			return false, err
		}
	}
}

// rest pauses after a statement that took took and left work behind (see
// Lifecycle.PauseFactor), also when the step ends next: the next step starts at once.
func (st *step) rest(ctx context.Context, took time.Duration) error {
	if st.pause <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(float64(took) * st.pause))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// stage is one stage of a target: a bounded statement run in a loop.
type stage struct {
	name string
	run  func(ctx context.Context, st *step, t store.RetentionTarget, c store.RetentionCutoffs) (more bool, err error)
}

// targets works through list (sorted by system, configuration) from the cursor's target on,
// each through its stages; visited counts the targets started. It returns true when the list is
// finished.
func (st *step) targets(ctx context.Context, list []store.RetentionTarget, stages []stage, visited *int) (bool, error) {
	i := sort.Search(len(list), func(i int) bool {
		t := list[i]
		return t.SystemID > st.cur.SystemID || (t.SystemID == st.cur.SystemID && t.ConfigurationID >= st.cur.ConfigurationID)
	})
	for ; i < len(list); i++ {
		t := list[i]
		if t.SystemID != st.cur.SystemID || t.ConfigurationID != st.cur.ConfigurationID {
			// The next target (or the cursor's target is gone: start the one after it).
			st.cur.SystemID, st.cur.ConfigurationID, st.cur.Stage = t.SystemID, t.ConfigurationID, ""
		}
		if st.cur.Stage == workflows.JobStageDone {
			continue
		}
		if st.cur.Stage == "" {
			(*visited)++
		}
		first := 0
		for j, s := range stages {
			if s.name == st.cur.Stage {
				first = j
			}
		}
		c := t.Config.CutoffsWithDay(st.cur.Now, st.day)
		for _, s := range stages[first:] {
			st.cur.Stage = s.name
			done, err := st.loop(ctx, func() (bool, error) { return s.run(ctx, st, t, c) })
			if err != nil {
				return false, fmt.Errorf("%s of %s/%s: %w", s.name, t.SystemID, t.ConfigurationID, err)
			}
			if !done {
				return false, nil
			}
		}
		st.cur.Stage = workflows.JobStageDone
	}
	return true, nil
}

// phase is one phase of a job; run returns true when the phase is finished.
type phase struct {
	name string
	run  func(ctx context.Context, st *step) (bool, error)
}

// runStep runs one step of a job whose phases are phases, from cur (or from the step's last
// heartbeat when this is a retry).
func (l *Lifecycle) runStep(ctx context.Context, phases []phase, cur workflows.JobCursor) (workflows.JobStepResult, error) {
	budget := l.StepBudget
	if budget <= 0 {
		budget = DefaultStepBudget
	}
	pause := l.PauseFactor
	if pause == 0 {
		pause = DefaultPauseFactor
	}
	st := &step{cur: cur, limit: l.batchSize(), deadline: time.Now().Add(budget), pause: pause, day: l.day()}
	if activity.HasHeartbeatDetails(ctx) {
		var p jobProgress
		if err := activity.GetHeartbeatDetails(ctx, &p); err == nil {
			st.cur, st.rep = p.Cursor, p.Report
		}
	}
	if st.cur.Now.IsZero() {
		st.cur.Now = l.now().UTC()
	}
	if st.cur.Phase == "" {
		st.cur.Phase = phases[0].name
	}
	for st.cur.Phase != workflows.JobPhaseDone {
		i := -1
		for j, p := range phases {
			if p.name == st.cur.Phase {
				i = j
			}
		}
		if i < 0 {
			return workflows.JobStepResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("unknown job phase %q", st.cur.Phase), "BadJobCursor", nil)
		}
		done, err := phases[i].run(ctx, st)
		if err != nil {
			return workflows.JobStepResult{}, err
		}
		if !done {
			return workflows.JobStepResult{Cursor: st.cur, Report: st.rep}, nil
		}
		next := workflows.JobPhaseDone
		if i+1 < len(phases) {
			next = phases[i+1].name
		}
		st.cur = workflows.JobCursor{Now: st.cur.Now, Phase: next}
		st.heartbeat(ctx)
	}
	return workflows.JobStepResult{Cursor: st.cur, Report: st.rep, Done: true}, nil
}

// Stages of a target.
func (l *Lifecycle) stageRuns(ctx context.Context, st *step, t store.RetentionTarget, c store.RetentionCutoffs) (bool, error) {
	n, err := l.Store.DeleteRunsBatch(ctx, t.SystemID, t.ConfigurationID, c.Raw, st.limit)
	st.rep.RunsDeleted += n
	return n >= int64(st.limit), err
}

func (l *Lifecycle) stageUnassignedRuns(ctx context.Context, st *step, t store.RetentionTarget, c store.RetentionCutoffs) (bool, error) {
	n, err := l.Store.DeleteUnassignedRunsBatch(ctx, t.SystemID, t.ConfigurationID, c.Raw, st.limit)
	st.rep.UnassignedRunsDeleted += n
	return n >= int64(st.limit), err
}

func (l *Lifecycle) stageRollup(ctx context.Context, st *step, t store.RetentionTarget, c store.RetentionCutoffs) (bool, error) {
	r, err := l.Store.RollupHourlyToDailyBatch(ctx, t.SystemID, t.ConfigurationID, c.Rollup, st.limit)
	st.rep.HourlyRolledUp += int64(r.HourlyRows)
	st.rep.DailyWritten += int64(r.DailyRows)
	return r.More, err
}

func (l *Lifecycle) stageDaily(ctx context.Context, st *step, t store.RetentionTarget, c store.RetentionCutoffs) (bool, error) {
	n, err := l.Store.DeleteDailyBatch(ctx, t.SystemID, t.ConfigurationID, c.Daily, st.limit)
	st.rep.DailyDeleted += n
	return n >= int64(st.limit), err
}

// stageTransitions prunes a system's transitions (the target's raw retention is the largest of
// the system's assignments).
func (l *Lifecycle) stageTransitions(ctx context.Context, st *step, t store.RetentionTarget, c store.RetentionCutoffs) (bool, error) {
	n, err := l.Store.PruneTransitionsBatch(ctx, t.SystemID, c.Raw, st.limit)
	st.rep.TransitionsDeleted += n
	return n >= int64(st.limit), err
}

// partitionsAhead is how many days ahead the day partitions of raw runs exist.
const partitionsAhead = 7

// phasePartitions creates the day partitions of raw runs up to partitionsAhead days ahead and,
// when drop is set, drops the days older than the longest raw retention of any assignment (the
// default for checks no longer assigned): those leave as whole tables, not as deleted rows.
// Shorter retentions inside the kept days are the assignments' batched deletes. Partitions are
// real UTC days whatever Lifecycle.Day says: with a compressed day the longest raw retention
// (longest × Day) ends inside today, only past days can lie wholly before it, and today's raw
// runs leave by the batched deletes instead.
func (l *Lifecycle) phasePartitions(drop bool) func(context.Context, *step) (bool, error) {
	return func(ctx context.Context, st *step) (bool, error) {
		now := st.cur.Now
		created, err := l.Store.EnsureRunPartitions(ctx, now, now.AddDate(0, 0, partitionsAhead))
		st.rep.PartitionsCreated += created
		if err != nil || !drop {
			return err == nil, err
		}
		targets, err := l.Store.RetentionTargets(ctx)
		if err != nil {
			return false, err
		}
		longest := store.DefaultRawRetentionDays
		for _, t := range targets {
			longest = max(longest, t.Config.RawRetentionDays)
		}
		dropped, err := l.Store.DropRunPartitionsBefore(ctx, store.RetentionDaysBefore(now, longest, st.day))
		st.rep.PartitionsDropped += len(dropped)
		st.heartbeat(ctx)
		return err == nil, err
	}
}

// Phases.
func (l *Lifecycle) phaseTransitions(ctx context.Context, st *step) (bool, error) {
	targets, err := l.Store.RetentionTargets(ctx)
	if err != nil {
		return false, err
	}
	days := store.TransitionRetentionDays(targets)
	systems := make([]store.RetentionTarget, 0, len(days))
	for id, d := range days {
		systems = append(systems, store.RetentionTarget{SystemID: id, Config: store.RetentionConfig{RawRetentionDays: d}})
	}
	sort.Slice(systems, func(i, j int) bool { return systems[i].SystemID < systems[j].SystemID })
	return st.targets(ctx, systems, []stage{{workflows.JobPhaseTransitions, l.stageTransitions}}, &st.rep.Systems)
}

func (l *Lifecycle) phaseAssignments(stages ...stage) func(context.Context, *step) (bool, error) {
	return func(ctx context.Context, st *step) (bool, error) {
		targets, err := l.Store.RetentionTargets(ctx)
		if err != nil {
			return false, err
		}
		return st.targets(ctx, targets, stages, &st.rep.Assignments)
	}
}

func (l *Lifecycle) phaseUnassigned(stages ...stage) func(context.Context, *step) (bool, error) {
	return func(ctx context.Context, st *step) (bool, error) {
		targets, err := l.Store.UnassignedTargets(ctx)
		if err != nil {
			return false, err
		}
		return st.targets(ctx, targets, stages, &st.rep.UnassignedChecks)
	}
}

func (l *Lifecycle) phaseEvents(ctx context.Context, st *step) (bool, error) {
	cutoff := st.cur.Now.Add(-l.pruneAfter())
	return st.loop(ctx, func() (bool, error) {
		n, err := l.Store.DeleteDeliveredEventsBatch(ctx, cutoff, st.limit)
		st.rep.EventsDeleted += n
		return n >= int64(st.limit), err
	})
}

func (l *Lifecycle) phaseDeliveries(ctx context.Context, st *step) (bool, error) {
	cutoff := st.cur.Now.Add(-l.pruneAfter())
	return st.loop(ctx, func() (bool, error) {
		n, err := l.Store.DeleteFinishedDeliveriesBatch(ctx, cutoff, st.limit)
		st.rep.DeliveriesDeleted += n
		return n >= int64(st.limit), err
	})
}

// phaseOccurrences sweeps automation occurrences older than health.WindowEventRetention (24 h:
// no window is longer; reference §8.4).
func (l *Lifecycle) phaseOccurrences(ctx context.Context, st *step) (bool, error) {
	cutoff := st.cur.Now.Add(-health.WindowEventRetention)
	return st.loop(ctx, func() (bool, error) {
		n, err := l.Store.DeleteOccurrencesBatch(ctx, cutoff, st.limit)
		st.rep.OccurrencesDeleted += n
		return n >= int64(st.limit), err
	})
}

// phaseFires deletes finished automation fires older than the prune age (pending ones stay).
func (l *Lifecycle) phaseFires(ctx context.Context, st *step) (bool, error) {
	cutoff := st.cur.Now.Add(-l.pruneAfter())
	return st.loop(ctx, func() (bool, error) {
		n, err := l.Store.DeleteFinishedFiresBatch(ctx, cutoff, st.limit)
		st.rep.FiresDeleted += n
		return n >= int64(st.limit), err
	})
}

// RetentionStep is one bounded step of the retention job (reference §11, in UTC): day
// partitions of raw runs created ahead and dropped past the longest raw retention; per system,
// transitions older than the largest raw retention of its assignments (the newest kept); per
// assignment, raw runs older than its raw retention, hourly buckets of the days older than its
// hourly retention rolled into daily ones, daily buckets older than its daily retention; then
// the same with the default retention for the checks no longer assigned.
func (l *Lifecycle) RetentionStep(ctx context.Context, cur workflows.JobCursor) (workflows.JobStepResult, error) {
	return l.runStep(ctx, []phase{
		{workflows.JobPhasePartitions, l.phasePartitions(true)},
		{workflows.JobPhaseTransitions, l.phaseTransitions},
		{workflows.JobPhaseAssignments, l.phaseAssignments(
			stage{workflows.JobStageRuns, l.stageRuns}, stage{workflows.JobStageRollup, l.stageRollup}, stage{workflows.JobStageDaily, l.stageDaily})},
		{workflows.JobPhaseUnassigned, l.phaseUnassigned(
			stage{workflows.JobStageRuns, l.stageUnassignedRuns}, stage{workflows.JobStageRollup, l.stageRollup}, stage{workflows.JobStageDaily, l.stageDaily})},
	}, cur)
}

// RollupStep is one bounded step of the rollup job: the day partitions of raw runs created
// ahead (hourly, so a paused retention job never leaves tomorrow without one); the hourly buckets of the finished UTC days
// older than each assignment's hourly retention (the defaults for checks no longer assigned)
// rolled into daily buckets.
func (l *Lifecycle) RollupStep(ctx context.Context, cur workflows.JobCursor) (workflows.JobStepResult, error) {
	return l.runStep(ctx, []phase{
		{workflows.JobPhasePartitions, l.phasePartitions(false)},
		{workflows.JobPhaseAssignments, l.phaseAssignments(stage{workflows.JobStageRollup, l.stageRollup})},
		{workflows.JobPhaseUnassigned, l.phaseUnassigned(stage{workflows.JobStageRollup, l.stageRollup})},
	}, cur)
}

// PruneStep is one bounded step of the prune job: delivered outbox events, then finished
// (sent or failed) notification deliveries, created more than PruneAfter ago. Undelivered
// events and pending deliveries are kept.
func (l *Lifecycle) PruneStep(ctx context.Context, cur workflows.JobCursor) (workflows.JobStepResult, error) {
	return l.runStep(ctx, []phase{
		{workflows.JobPhaseEvents, l.phaseEvents},
		{workflows.JobPhaseDeliveries, l.phaseDeliveries},
		{workflows.JobPhaseOccurrences, l.phaseOccurrences},
		{workflows.JobPhaseFires, l.phaseFires},
	}, cur)
}

// JobSummary logs a finished job's one INFO line.
func (l *Lifecycle) JobSummary(ctx context.Context, res workflows.JobResult) error {
	r := res.Report
	attrs := []any{"job", res.Job, "duration", time.Duration(res.DurationMs) * time.Millisecond, "steps", res.Steps, "rows", r.Rows()}
	add := func(key string, v int64) {
		if v != 0 {
			attrs = append(attrs, key, v)
		}
	}
	add("systems", int64(r.Systems))
	add("assignments", int64(r.Assignments))
	add("unassignedChecks", int64(r.UnassignedChecks))
	add("transitionsDeleted", r.TransitionsDeleted)
	add("runsDeleted", r.RunsDeleted)
	add("unassignedRunsDeleted", r.UnassignedRunsDeleted)
	add("hourlyRolledUp", r.HourlyRolledUp)
	add("dailyWritten", r.DailyWritten)
	add("dailyDeleted", r.DailyDeleted)
	add("eventsDeleted", r.EventsDeleted)
	add("deliveriesDeleted", r.DeliveriesDeleted)
	add("occurrencesDeleted", r.OccurrencesDeleted)
	add("firesDeleted", r.FiresDeleted)
	add("partitionsCreated", int64(r.PartitionsCreated))
	add("partitionsDropped", int64(r.PartitionsDropped))
	if res.Runs > 1 {
		attrs = append(attrs, "runs", res.Runs)
	}
	l.logger().InfoContext(ctx, "lifecycle job finished", attrs...)
	return nil
}

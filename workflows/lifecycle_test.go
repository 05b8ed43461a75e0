package workflows

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// fakeJob stands in for a job's step activity: a job of `total` steps; step i (1-based) moves the
// cursor to system "s<i>" and deletes i runs. failAt makes that step fail once (retried).
type fakeJob struct {
	mu       sync.Mutex
	total    int
	failAt   int
	failed   bool
	cursors  []JobCursor // the cursor each call got
	summary  []JobResult
	clockNow time.Time
}

func (f *fakeJob) step(_ context.Context, cur JobCursor) (JobStepResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cursors = append(f.cursors, cur)
	i := 1
	if cur.SystemID != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(cur.SystemID, "s"))
		if err != nil {
			return JobStepResult{}, err
		}
		i = n + 1
	}
	if i == f.failAt && !f.failed {
		f.failed = true
		return JobStepResult{}, errors.New("database went away")
	}
	next := JobCursor{Now: cur.Now, Phase: JobPhaseAssignments, SystemID: "s" + strconv.Itoa(i), Stage: JobStageRuns}
	if next.Now.IsZero() {
		next.Now = f.clockNow
	}
	res := JobStepResult{Cursor: next, Report: JobReport{RunsDeleted: int64(i), Assignments: 1}}
	if i >= f.total {
		res.Cursor = JobCursor{Now: next.Now, Phase: JobPhaseDone}
		res.Done = true
	}
	return res, nil
}

func (f *fakeJob) jobSummary(_ context.Context, r JobResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.summary = append(f.summary, r)
	return nil
}

func newJobEnv(t *testing.T, f *fakeJob) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RetentionJob, workflow.RegisterOptions{Name: RetentionJobWorkflow})
	env.RegisterWorkflowWithOptions(RollupJob, workflow.RegisterOptions{Name: RollupJobWorkflow})
	env.RegisterWorkflowWithOptions(PruneJob, workflow.RegisterOptions{Name: PruneJobWorkflow})
	for _, name := range []string{ActivityRetentionStep, ActivityRollupStep, ActivityPruneStep} {
		env.RegisterActivityWithOptions(f.step, activity.RegisterOptions{Name: name})
	}
	env.RegisterActivityWithOptions(f.jobSummary, activity.RegisterOptions{Name: ActivityJobSummary})
	return env
}

func sumRuns(n int) int64 { return int64(n * (n + 1) / 2) }

// Each job loops over its step activity until a step says done, passing each step the cursor
// the previous one returned, sums the steps' reports into its result and logs one summary. A
// failing step is retried with the same cursor.
func TestJobsLoopUntilDoneAndSumTheReport(t *testing.T) {
	for _, job := range []string{RetentionJobWorkflow, RollupJobWorkflow, PruneJobWorkflow} {
		t.Run(job, func(t *testing.T) {
			f := &fakeJob{total: 7, failAt: 4, clockNow: time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)}
			env := newJobEnv(t, f)
			env.ExecuteWorkflow(job, JobInput{})
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var res JobResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if res.Job != job || res.Steps != 7 || res.Runs != 1 {
				t.Fatalf("result %+v, want job %s, 7 steps, 1 run", res, job)
			}
			if res.Report.RunsDeleted != sumRuns(7) || res.Report.Assignments != 7 {
				t.Fatalf("report %+v, want runsDeleted %d and 7 assignments", res.Report, sumRuns(7))
			}
			if !res.Now.Equal(f.clockNow) {
				t.Errorf("result's clock %v, want the first step's %v", res.Now, f.clockNow)
			}
			if len(f.cursors) != 8 { // 7 steps + the failed attempt
				t.Fatalf("%d step calls, want 8 (7 + 1 retry)", len(f.cursors))
			}
			if f.cursors[0] != (JobCursor{}) {
				t.Errorf("first step got %+v, want the zero cursor", f.cursors[0])
			}
			if f.cursors[3] != f.cursors[4] {
				t.Errorf("the retried step got %+v then %+v, want the same cursor", f.cursors[3], f.cursors[4])
			}
			for i, c := range f.cursors[1:] {
				if !c.Now.Equal(f.clockNow) {
					t.Errorf("step %d lost the job's clock: %+v", i+2, c)
				}
			}
			if len(f.summary) != 1 || f.summary[0].Report != res.Report {
				t.Fatalf("summaries %+v, want one with the job's report", f.summary)
			}
		})
	}
}

// After MaxStepsPerRun steps the job continues as new carrying its cursor, report, step count
// and start time; the next run picks up at that cursor and the final result covers both runs.
func TestJobContinuesAsNewWithCursorAndReport(t *testing.T) {
	f := &fakeJob{total: 5, clockNow: time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)}
	env := newJobEnv(t, f)
	env.ExecuteWorkflow(RetentionJobWorkflow, JobInput{Options: JobOptions{MaxStepsPerRun: 3}})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("first run ended with %v, want continue-as-new", err)
	}
	if can.WorkflowType.Name != RetentionJobWorkflow {
		t.Fatalf("continued as %s", can.WorkflowType.Name)
	}
	var next JobInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Cursor.SystemID != "s3" || next.Steps != 3 || next.Runs != 1 || next.Report.RunsDeleted != sumRuns(3) ||
		next.StartedAt.IsZero() || next.Options.MaxStepsPerRun != 3 || !next.Cursor.Now.Equal(f.clockNow) {
		t.Fatalf("carried %+v, want cursor s3, 3 steps, 1 run, runsDeleted 6, the start time and options", next)
	}
	if len(f.summary) != 0 {
		t.Fatal("a summary was logged before the job finished")
	}

	env2 := newJobEnv(t, f)
	env2.ExecuteWorkflow(RetentionJobWorkflow, next)
	if err := env2.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res JobResult
	if err := env2.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Steps != 5 || res.Runs != 2 || res.Report.RunsDeleted != sumRuns(5) || !res.StartedAt.Equal(next.StartedAt) {
		t.Fatalf("result %+v, want 5 steps over 2 runs, runsDeleted %d, started at %v", res, sumRuns(5), next.StartedAt)
	}
	if got := f.cursors[3]; got != next.Cursor {
		t.Fatalf("the second run's first step got %+v, want the carried cursor %+v", got, next.Cursor)
	}
}

// Temporal's continue-as-new suggestion (a long history) also makes the job continue as new.
func TestJobContinuesAsNewWhenSuggested(t *testing.T) {
	f := &fakeJob{total: 50}
	env := newJobEnv(t, f)
	// Temporal suggests it after the third step (on the test environment's loop, so that the
	// job cannot finish first: a timer-based callback raced the steps and was flaky).
	steps := 0
	env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, err error) {
		if info.ActivityType.Name == ActivityPruneStep && err == nil {
			if steps++; steps == 3 {
				env.SetContinueAsNewSuggested(true)
			}
		}
	})
	env.ExecuteWorkflow(PruneJobWorkflow, JobInput{})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("ended with %v, want continue-as-new", err)
	}
	var next JobInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Steps != 3 || next.Report.RunsDeleted != sumRuns(next.Steps) {
		t.Fatalf("carried %+v: want the 3 steps before the suggestion, with their report", next)
	}
}

// A step that keeps failing fails the job after its retries (the schedule starts it again at the
// next interval); no summary is logged.
func TestJobFailsAfterStepRetries(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RollupJob, workflow.RegisterOptions{Name: RollupJobWorkflow})
	calls := 0
	env.RegisterActivityWithOptions(func(context.Context, JobCursor) (JobStepResult, error) {
		calls++
		return JobStepResult{}, errors.New("no database")
	}, activity.RegisterOptions{Name: ActivityRollupStep})
	summaries := 0
	env.RegisterActivityWithOptions(func(context.Context, JobResult) error { summaries++; return nil }, activity.RegisterOptions{Name: ActivityJobSummary})
	env.ExecuteWorkflow(RollupJobWorkflow, JobInput{})
	var ae *temporal.ActivityError
	if err := env.GetWorkflowError(); !errors.As(err, &ae) {
		t.Fatalf("ended with %v, want the step's activity error", err)
	}
	if calls != 20 || summaries != 0 {
		t.Fatalf("%d step attempts and %d summaries, want 20 and 0", calls, summaries)
	}
}

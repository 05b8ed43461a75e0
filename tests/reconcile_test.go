package tests

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// A system whose entity was never started (or has ended) gets one from the reconcile schedule,
// which a worker creates and triggers at start.
func TestReconcileStartsMissingEntities(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	tg := newTarget(t)
	sys := s.system(t, "orphan")
	s.httpCheck(t, sys, "api", tg.srv.URL, 1, nil)
	// Nothing signals the entity. A second worker on the same queues manages the schedule.
	scheduleID := testutil.UniqueName(t)
	w, err := worker.Start(worker.Config{Client: shared.temporal.Client, Pool: s.pool, TaskQueue: s.queue, ProbeTaskQueue: s.probes,
		Logger: testutil.Logger(t), ManageSchedules: true, ReconcileScheduleID: scheduleID, EntityOptions: s.entities.Options})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	t.Cleanup(func() {
		_ = shared.temporal.Client.ScheduleClient().GetHandle(context.Background(), scheduleID).Delete(context.Background())
	})
	waitFor(t, 30*time.Second, "runs of the reconciled system", func() (bool, error) {
		return s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1`, sys) >= 2, nil
	})
	desc, err := shared.temporal.Client.ScheduleClient().GetHandle(context.Background(), scheduleID).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if desc.Info.NumActions < 1 {
		t.Errorf("schedule ran %d actions, want the triggered one", desc.Info.NumActions)
	}
}

// The reconcile pass starts what does not run and counts only those: the SDK hides the
// conflict of a start with a running workflow unless asked not to, and every system counted as
// started.
func TestReconcileCountsOnlyWhatItStarted(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	tg := newTarget(t)
	running, missing := s.system(t, "running"), s.system(t, "missing")
	for _, sys := range []string{running, missing} {
		s.httpCheck(t, sys, "api", tg.srv.URL, 60, nil)
	}
	ctx := context.Background()
	if started, err := s.entities.EnsureStarted(ctx, running); err != nil || !started {
		t.Fatalf("first start: %v %v", started, err)
	}
	if started, err := s.entities.EnsureStarted(ctx, running); err != nil || started {
		t.Fatalf("second start of a running entity: started %v, %v", started, err)
	}
	rec := &activities.Reconciler{Store: s.store, Entities: s.entities}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(rec.ReconcileEntities)
	for _, want := range []int{1, 0} {
		v, err := env.ExecuteActivity(rec.ReconcileEntities)
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.ReconcileResult
		if err := v.Get(&res); err != nil {
			t.Fatal(err)
		}
		if res.Started != want || res.Systems != 2 {
			t.Errorf("reconcile started %d of %d systems, want %d of 2", res.Started, res.Systems, want)
		}
	}
	if _, err := shared.temporal.Client.DescribeWorkflowExecution(ctx, workflows.SystemWorkflowID(missing), ""); err != nil {
		t.Errorf("the missing entity was not started: %v", err)
	}
}

package tests

import (
	"context"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
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

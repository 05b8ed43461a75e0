package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/workflows"
)

// A worker creates the three data-lifecycle schedules with the cadences of its flags, without
// running them; `checkflow maintenance run-now prune` triggers one: it prints one line, exits 0,
// and the prune job's workflow runs on the worker and finishes.
func TestMaintenanceRunNowStartsTheJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := startExternalWorker(ctx, t, "--rollup-every", "2h", "--prune-after", "1h", "--job-batch-size", "500")
	srv, c, stderr := w.srv, w.client, w.stderr
	defer func() {
		w.stop()
		if code := <-w.done; code != 0 {
			t.Errorf("worker exit code %d; stderr: %s", code, stderr.String())
		}
	}()
	for id, every := range map[string]time.Duration{workflows.RollupScheduleID: 2 * time.Hour, workflows.RetentionScheduleID: 24 * time.Hour, workflows.PruneScheduleID: 24 * time.Hour} {
		d, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			t.Fatalf("schedule %s: %v", id, err)
		}
		if iv := d.Schedule.Spec.Intervals; len(iv) != 1 || iv[0].Every != every {
			t.Errorf("schedule %s intervals %+v, want every %v", id, iv, every)
		}
		if d.Info.NumActions != 0 || d.Schedule.State.Note == "" {
			t.Errorf("schedule %s: %d actions at start (want 0, only reconcile is triggered), note %q", id, d.Info.NumActions, d.Schedule.State.Note)
		}
	}

	var out, errb bytes.Buffer
	if code := run(ctx, []string{"maintenance", "run-now", "prune", "--temporal-address", srv.HostPort()}, &out, &errb); code != 0 {
		t.Fatalf("run-now: exit %d, stderr %s", code, errb.String())
	}
	if lines := nonEmptyLines(out.String()); len(lines) != 1 || !strings.Contains(lines[0], workflows.PruneScheduleID) {
		t.Errorf("run-now printed %q, want one line naming %s", out.String(), workflows.PruneScheduleID)
	}
	var wfID string
	deadline := time.Now().Add(30 * time.Second)
	for wfID == "" {
		d, err := c.ScheduleClient().GetHandle(ctx, workflows.PruneScheduleID).Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a := d.Info.RecentActions; len(a) > 0 {
			wfID = a[0].StartWorkflowResult.WorkflowID
		} else if time.Now().After(deadline) {
			t.Fatal("the prune schedule started nothing within 30 s")
		} else {
			time.Sleep(100 * time.Millisecond) // polling the schedule's state; no event to await
		}
	}
	var res workflows.JobResult
	if err := c.GetWorkflow(ctx, wfID, "").Get(ctx, &res); err != nil {
		t.Fatalf("prune job %s: %v", wfID, err)
	}
	if res.Job != workflows.PruneJobWorkflow || res.Steps < 1 {
		t.Errorf("job result %+v, want a finished %s", res, workflows.PruneJobWorkflow)
	}
	if !strings.Contains(stderr.String(), "lifecycle job finished") || !strings.Contains(stderr.String(), "job=PruneJob") {
		t.Errorf("the worker logged no job summary:\n%s", stderr.String())
	}
}

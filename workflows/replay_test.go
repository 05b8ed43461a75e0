package workflows

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Committed histories of real SystemHealth runs (recorded by tests.TestEntityHistoriesReplay
// with -record-histories) must replay against the current code: a change that breaks them needs
// workflow versioning (workflow.GetVersion) before it can ship.
func TestReplayCommittedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/systemhealth-*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d committed histories, want a normal run and a continued-as-new one", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(SystemHealth, workflow.RegisterOptions{Name: SystemHealthWorkflow})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}

// replayCases replays every committed history matching each glob against its workflow.
func replayCases(t *testing.T, cases []replayCase) {
	t.Helper()
	for _, c := range cases {
		files, err := filepath.Glob(c.glob)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no committed histories match %s", c.glob)
		}
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				r := worker.NewWorkflowReplayer()
				r.RegisterWorkflowWithOptions(c.fn, workflow.RegisterOptions{Name: c.name})
				if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
					t.Fatalf("replay %s: %v", f, err)
				}
			})
		}
	}
}

// replayCase names the committed histories of one workflow type.
type replayCase struct {
	glob string
	name string
	fn   any
}

// The notification workflows' committed histories (recorded by the tests in tests/notify*_test.go
// with -record-histories) replay against the current code.
func TestReplayNotificationHistories(t *testing.T) {
	replayCases(t, []replayCase{
		{"testdata/notifier-*.json", NotifierWorkflow, SystemNotifier},
		{"testdata/maintenance-*.json", MaintenanceWorkflow, MaintenanceWindow},
	})
}

// The data-lifecycle jobs' committed histories (recorded by tests.TestLifecycleJobsLeaveExactlyTheRetainedRows
// with -record-histories; one retention run continued as new) replay against the current code.
func TestReplayLifecycleHistories(t *testing.T) {
	replayCases(t, []replayCase{
		{"testdata/retentionjob-*.json", RetentionJobWorkflow, RetentionJob},
		{"testdata/rollupjob-*.json", RollupJobWorkflow, RollupJob},
		{"testdata/prunejob-*.json", PruneJobWorkflow, PruneJob},
	})
}

// The automation workflow's committed histories (recorded by tests.TestAutomationsEndToEnd with
// -record-histories) replay against the current code.
func TestReplayAutomationHistories(t *testing.T) {
	replayCases(t, []replayCase{
		{"testdata/automation-*.json", AutomationWorkflow, Automation},
	})
}

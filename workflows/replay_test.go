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

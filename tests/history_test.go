package tests

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// recordHistories, when set, also writes the recorded histories to that directory (used to
// refresh workflows/testdata: go test ./tests -run TestEntityHistoriesReplay -args
// -record-histories=$PWD/workflows/testdata).
var recordHistories = flag.String("record-histories", "", "directory to write recorded SystemHealth histories to")

// A real entity's histories — one run that continued as new and the run after it — replay
// without non-determinism against the current workflow code.
func TestEntityHistoriesReplay(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	s.entities.Options.ContinueAsNewAfterEvents = 120
	tg := newTarget(t)
	sys := s.system(t, "replay")
	cfg := s.httpCheck(t, sys, "api", tg.srv.URL, 1, nil)
	if err := s.entities.ConfigChanged(ctx, sys); err != nil {
		t.Fatal(err)
	}
	// Exercise every input: external results, a run-now update, a config change, a flip.
	for i := 0; i < 3; i++ {
		if err := s.entities.SendResult(ctx, sys, workflows.CheckResult{ID: fmt.Sprint("push-", i), ConfigurationID: cfg, Status: "healthy"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.entities.RunCheck(ctx, sys, "replay-run-1", workflows.RunCheckRequest{ConfigurationID: cfg}); err != nil {
		t.Fatal(err)
	}
	tg.code.Store(500)
	if err := s.entities.ConfigChanged(ctx, sys); err != nil {
		t.Fatal(err)
	}
	id := workflows.SystemWorkflowID(sys)
	var runs []string
	waitFor(t, 60*time.Second, "the entity to continue as new", func() (bool, error) {
		resp, err := shared.temporal.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf(`WorkflowId = %q`, id),
		})
		if err != nil {
			return false, err
		}
		runs = runs[:0]
		continued := false
		for _, e := range resp.Executions {
			runs = append(runs, e.GetExecution().GetRunId())
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
				continued = true
			}
		}
		return continued && len(runs) >= 2, nil
	})

	replayer := sdkworker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(workflows.SystemHealth, workflow.RegisterOptions{Name: workflows.SystemHealthWorkflow})
	logger := devenv.SDKLogger(testutil.Logger(t))
	for i, runID := range runs {
		h := fetchHistory(t, id, runID)
		if err := replayer.ReplayWorkflowHistory(logger, h); err != nil {
			t.Errorf("replay run %s (%d events): %v", runID, len(h.Events), err)
		}
		if *recordHistories != "" {
			last := h.Events[len(h.Events)-1].GetEventType()
			name := "systemhealth-running.json"
			if last == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
				name = "systemhealth-continued-as-new.json"
			}
			b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(*recordHistories, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("recorded run %d (%d events) to %s", i, len(h.Events), name)
		}
	}
}

func fetchHistory(t *testing.T, workflowID, runID string) *historypb.History {
	t.Helper()
	it := shared.temporal.Client.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	// Round-trip through JSON like the committed files.
	b, err := protojson.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h2
}

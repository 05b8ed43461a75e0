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
// grow workflows/testdata: go test ./tests -run 'TestEntityHistoriesReplay|TestDatabaseOutageLosesNothing' -args
// -record-histories=$PWD/workflows/testdata -record-label=<change id>).
var recordHistories = flag.String("record-histories", "", "directory to write recorded SystemHealth histories to")

// recordLabel names the recorded files (<workflow>-<label>-<kind>.json): the corpus grows with
// each workflow change and a committed history is never overwritten.
var recordLabel = flag.String("record-label", "", "label of the recorded histories, e.g. the workflow change id (required with -record-histories)")

// recordHistory writes h to the corpus as systemhealth-<label>-<kind>.json when recording is on;
// it refuses to overwrite a committed history.
func recordHistory(t *testing.T, h *historypb.History, kind string) {
	t.Helper()
	recordHistoryAs(t, "systemhealth", h, kind)
}

// recordHistoryAs writes h as <prefix>-<label>-<kind>.json when recording is on.
func recordHistoryAs(t *testing.T, prefix string, h *historypb.History, kind string) {
	t.Helper()
	if *recordHistories == "" {
		return
	}
	if *recordLabel == "" {
		t.Fatal("-record-histories needs -record-label (e.g. the GetVersion change id of the change being recorded)")
	}
	name := filepath.Join(*recordHistories, fmt.Sprintf("%s-%s-%s.json", prefix, *recordLabel, kind))
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatalf("record %s: %v (committed histories are never overwritten: choose a new -record-label)", name, err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d events to %s", len(h.Events), name)
}

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
	for _, runID := range runs {
		h := fetchReplayableHistory(t, id, runID)
		if err := replayer.ReplayWorkflowHistory(logger, h); err != nil {
			t.Errorf("replay run %s (%d events): %v", runID, len(h.Events), err)
		}
		kind := "running"
		if h.Events[len(h.Events)-1].GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
			kind = "continued-as-new"
		}
		recordHistory(t, h, kind)
	}
}

// fetchReplayableHistory is fetchHistory once the run completed its first workflow task (a run
// that has just started — a continue-as-new a moment ago — has nothing to replay yet).
func fetchReplayableHistory(t *testing.T, workflowID, runID string) *historypb.History {
	t.Helper()
	var h *historypb.History
	waitFor(t, 30*time.Second, "a completed workflow task in "+workflowID, func() (bool, error) {
		h = fetchHistory(t, workflowID, runID)
		for _, ev := range h.Events {
			if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
				return true, nil
			}
		}
		return false, nil
	})
	return h
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

// replayAll replays every run of a workflow id against the current code (registered under
// name) and records each history as <prefix>-<label>-<kind>.json when recording is on; kind
// is how the run closed (completed, continued-as-new) or "running".
func replayAll(t *testing.T, workflowID, name, prefix string, fn any) {
	t.Helper()
	ctx := context.Background()
	resp, err := shared.temporal.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf(`WorkflowId = %q`, workflowID),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Executions) == 0 {
		t.Fatalf("no runs of %s", workflowID)
	}
	replayer := sdkworker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	logger := devenv.SDKLogger(testutil.Logger(t))
	kinds := map[string]int{}
	for _, e := range resp.Executions {
		runID := e.GetExecution().GetRunId()
		h := fetchReplayableHistory(t, workflowID, runID)
		if err := replayer.ReplayWorkflowHistory(logger, h); err != nil {
			t.Fatalf("replay %s run %s: %v", workflowID, runID, err)
		}
		// Visibility lags: the run's own description says how it closed.
		d, err := shared.temporal.Client.DescribeWorkflowExecution(ctx, workflowID, runID)
		if err != nil {
			t.Fatal(err)
		}
		kind := "running"
		switch d.GetWorkflowExecutionInfo().GetStatus() {
		case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			kind = "completed"
		case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
			kind = "continued-as-new"
		case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		default:
			continue // terminated by a test's cleanup: not a history worth keeping
		}
		if kinds[kind]++; kinds[kind] > 1 {
			kind = fmt.Sprintf("%s-%d", kind, kinds[kind])
		}
		recordHistoryAs(t, prefix, h, kind)
	}
}

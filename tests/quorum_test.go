package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// quorumTargetURL is the checks' URL: each location's probe worker reaches it at its own local
// target (its registry's dialer), so that one location's path can fail while the others' do not.
const quorumTargetURL = "http://service.quorum.test/health"

// startLocationWorker starts a probe-only worker of location loc on the stack's probe task
// queues whose http probes of any host reach tg.
func (s *stack) startLocationWorker(t *testing.T, loc string, tg *target) {
	t.Helper()
	addr := tg.srv.Listener.Addr().String()
	reg := checks.NewRegistry(checks.WithDialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}))
	w, err := worker.Start(worker.Config{Client: shared.temporal.Client, ProbesOnly: true, Location: loc,
		ProbeTaskQueue: s.probes, Checks: reg, Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

// quorumCheck creates an http check of system probed from locations with the given quorum.
func (s *stack) quorumCheck(t *testing.T, system string, interval, quorum int, locations ...string) string {
	t.Helper()
	th := health.Thresholds{Mode: health.ModeConsecutive, Healthy: health.SuccessThreshold{MinSuccessCount: 1},
		Degraded: health.FailureThreshold{MinFailureCount: 1}, Unhealthy: health.FailureThreshold{MinFailureCount: 2}}
	id := s.httpCheck(t, system, "multi", quorumTargetURL, interval, &th)
	if _, _, err := s.store.Associate(context.Background(), store.AssociateInput{SystemID: system, ConfigurationID: id,
		Locations: &locations, Quorum: store.Some(&quorum)}); err != nil {
		t.Fatal(err)
	}
	if err := s.entities.ConfigChanged(context.Background(), system); err != nil {
		t.Fatal(err)
	}
	return id
}

// quorumRun is a stored run of a quorum check.
type quorumRun struct {
	id, status, message string
	source              *string
	doc                 health.QuorumDocument
}

// quorumRuns returns the check's stored runs, oldest first.
func (s *stack) quorumRuns(t *testing.T, system, check string) []quorumRun {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT id, status::text, coalesce(result->>'message', ''), source_id, result
		FROM health_check_runs WHERE system_id = $1 AND configuration_id = $2 ORDER BY "timestamp", id`, system, check)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []quorumRun
	for rows.Next() {
		var r quorumRun
		var body []byte
		if err := rows.Scan(&r.id, &r.status, &r.message, &r.source, &body); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(body, &r.doc); err != nil {
			t.Fatalf("run %s result %s: %v", r.id, body, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// locationStatuses renders a run's per-location statuses, e.g. "a=healthy b=unhealthy".
func locationStatuses(doc health.QuorumDocument, locations ...string) string {
	parts := make([]string, len(locations))
	for i, l := range locations {
		parts[i] = l + "=" + doc.Locations[l].Status
	}
	return strings.Join(parts, " ")
}

// Three probe workers (locations a, b, c) each reach the check's target over their own path.
// With quorum 2 the check stays healthy while one location's path fails, and fails when a
// second one does; every interval stores ONE run with each location's result; run-now returns
// the quorum run with the per-location results; a location without workers is reported
// unavailable, not as the target failing.
func TestQuorumLocations(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	targets := map[string]*target{"a": newTarget(t), "b": newTarget(t), "c": newTarget(t)}
	for _, loc := range []string{"a", "b", "c"} {
		s.startLocationWorker(t, loc, targets[loc])
	}
	targets["b"].code.Store(http.StatusInternalServerError)

	sys := s.system(t, "quorum")
	chk := s.quorumCheck(t, sys, 1, 2, "a", "b", "c")
	// A second system's check has a location no worker serves.
	sysGone := s.system(t, "quorum-gone")
	chkGone := s.quorumCheck(t, sysGone, 1, 2, "a", "b", "nowhere")

	// One location failing: healthy, one run per interval with every location's result.
	waitFor(t, 60*time.Second, "three quorum runs with b failing", func() (bool, error) {
		return len(s.quorumRuns(t, sys, chk)) >= 3, nil
	})
	for _, r := range s.quorumRuns(t, sys, chk) {
		if got := locationStatuses(r.doc, "a", "b", "c"); r.status != "healthy" || got != "a=healthy b=unhealthy c=healthy" || r.source != nil {
			t.Fatalf("run %s: %s %q (%s, source %v), want healthy with only b failing and no single source", r.id, r.status, r.message, got, r.source)
		}
		if !strings.HasPrefix(r.message, "1 of 3 locations failing (quorum 2): b: ") || r.doc.Quorum.Required != 2 || r.doc.Quorum.Failing != 1 {
			t.Fatalf("run %s message %q counts %+v", r.id, r.message, r.doc.Quorum)
		}
		if len(r.doc.Locations["b"].Result) == 0 || r.doc.Locations["a"].LatencyMs == nil {
			t.Fatalf("run %s keeps no raw result per location: %+v", r.id, r.doc.Locations)
		}
	}
	if v := s.view(t, sys); v == nil || v.Status != health.Healthy {
		t.Fatalf("view %+v, want healthy while one location of three fails", v)
	}
	if n := s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1 AND source_id IS NOT NULL`, sys); n != 0 {
		t.Fatalf("%d per-location runs stored, want none (one run per interval)", n)
	}

	// A location without workers: unavailable, not failing (b fails, a answers healthy).
	waitFor(t, 60*time.Second, "a quorum run with an unavailable location", func() (bool, error) {
		return len(s.quorumRuns(t, sysGone, chkGone)) >= 1, nil
	})
	gone := s.quorumRuns(t, sysGone, chkGone)[0]
	if got := locationStatuses(gone.doc, "a", "b", "nowhere"); gone.status != "healthy" || got != "a=healthy b=unhealthy nowhere=unavailable" {
		t.Fatalf("run %s: %s (%s), want healthy with nowhere unavailable", gone.id, gone.status, got)
	}
	if msg := gone.doc.Locations["nowhere"].Message; !strings.Contains(msg, "no probe worker of location nowhere took the run within 2s") {
		t.Fatalf("unavailable location's message %q", msg)
	}
	if !strings.HasSuffix(gone.message, "; unavailable: nowhere") || fmt.Sprint(gone.doc.Quorum.Unavailable) != "[nowhere]" {
		t.Fatalf("run message %q counts %+v, want the unavailable location named", gone.message, gone.doc.Quorum)
	}
	if v := s.view(t, sysGone); v == nil || v.Status != health.Healthy {
		t.Fatalf("view %+v, want healthy: an absent location is not a failing one", v)
	}

	// Run-now probes every location and returns the quorum run.
	resp, err := s.entities.RunCheck(ctx, sys, "quorum-now-1", workflows.RunCheckRequest{ConfigurationID: chk})
	if err != nil {
		t.Fatal(err)
	}
	var doc health.QuorumDocument
	if err := json.Unmarshal(resp.Run.Result, &doc); err != nil {
		t.Fatal(err)
	}
	if got := locationStatuses(doc, "a", "b", "c"); resp.Run.ID != sys+":run:quorum-now-1" || resp.Run.Status != health.Healthy || got != "a=healthy b=unhealthy c=healthy" {
		t.Fatalf("run-now = %s %s (%s), want the quorum run with every location", resp.Run.ID, resp.Run.Status, got)
	}
	if n := s.count(t, `SELECT count(*) FROM health_check_runs WHERE id = $1 AND result->'locations' ? 'c'`, resp.Run.ID); n != 1 {
		t.Fatalf("run-now stored %d runs with the locations, want 1", n)
	}

	// A second location failing fails the runs, and the system.
	targets["c"].code.Store(http.StatusServiceUnavailable)
	s.waitStatus(t, sys, health.Unhealthy, 60*time.Second)
	runs := s.quorumRuns(t, sys, chk)
	last := runs[len(runs)-1]
	if got := locationStatuses(last.doc, "a", "b", "c"); last.status != "unhealthy" || got != "a=healthy b=unhealthy c=unhealthy" ||
		!strings.HasPrefix(last.message, "2 of 3 locations failing (quorum 2): b: ") || !strings.Contains(last.message, "; c: ") {
		t.Fatalf("last run %s: %s %q (%s), want unhealthy with b and c failing", last.id, last.status, last.message, got)
	}

	// Cost: one Probe activity per location per run, and the histories replay.
	replayer := sdkworker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(workflows.SystemHealth, workflow.RegisterOptions{Name: workflows.SystemHealthWorkflow})
	logger := devenv.SDKLogger(testutil.Logger(t))
	for _, c := range []struct{ system, kind string }{{sys, "running"}, {sysGone, "unavailable-running"}} {
		h := fetchReplayableHistory(t, workflows.SystemWorkflowID(c.system), "")
		if err := replayer.ReplayWorkflowHistory(logger, h); err != nil {
			t.Fatalf("replay %s (%d events): %v", c.system, len(h.Events), err)
		}
		probes, tasks := 0, 0
		for _, ev := range h.Events {
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				if ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == workflows.ActivityProbe {
					probes++
				}
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
				tasks++
			}
		}
		stored := s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1`, c.system)
		// Probes of a run still in flight are scheduled but not stored yet.
		if probes < 3*stored || probes > 3*(stored+1) {
			t.Errorf("%s: %d Probe activities for %d stored runs, want 3 per run", c.system, probes, stored)
		}
		t.Logf("%s: %d history events, %d workflow tasks, %d Probe activities for %d stored runs (%.1f events, %.1f workflow tasks per run)",
			c.system, len(h.Events), tasks, probes, stored, float64(len(h.Events))/float64(stored), float64(tasks)/float64(stored))
		recordHistory(t, h, c.kind)
	}
}

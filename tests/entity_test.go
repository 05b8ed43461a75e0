package tests

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// The SystemHealth entity against a real target: one system, two checks every second, default
// thresholds (degraded at 2 consecutive failures, unhealthy at 5).
func TestEntityDegradesAndRecovers(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	a, b := newTarget(t), newTarget(t)
	shop := s.system(t, "shop")
	cfgA := s.httpCheck(t, shop, "api", a.srv.URL, 1, nil)
	cfgB := s.httpCheck(t, shop, "web", b.srv.URL, 1, nil)
	if err := s.entities.ConfigChanged(ctx, shop); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(t, shop, health.Healthy, 30*time.Second)
	if v := s.view(t, shop); v.TotalChecks != 2 || v.HealthyChecks != 2 {
		t.Fatalf("view = %+v, want 2/2 healthy", v)
	}

	// A single failing run on B never changes the system's status.
	runsOf := func(cfg string, status health.Status) int {
		return s.count(t, `SELECT count(*) FROM health_check_runs WHERE configuration_id = $1 AND status = $2::health_check_status`, cfg, string(status))
	}
	b.failOnce.Store(true)
	waitFor(t, 20*time.Second, "B's failing run", func() (bool, error) { return runsOf(cfgB, health.Unhealthy) == 1, nil })
	healthyB := runsOf(cfgB, health.Healthy)
	waitFor(t, 20*time.Second, "B's next run", func() (bool, error) { return runsOf(cfgB, health.Healthy) > healthyB, nil })
	if n := s.count(t, `SELECT count(*) FROM health_check_state_transitions WHERE system_id = $1`, shop); n != 0 {
		t.Fatalf("one failing run on B made %d transitions", n)
	}

	// A fails: degraded after its 2nd failing run, unhealthy after its 5th.
	a.code.Store(http.StatusInternalServerError)
	s.waitStatus(t, shop, health.Unhealthy, 40*time.Second)
	// A recovers: healthy after its next run.
	a.code.Store(http.StatusOK)
	s.waitStatus(t, shop, health.Healthy, 30*time.Second)

	trs, err := s.store.ListTransitions(ctx, store.TransitionFilter{SystemID: shop})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(trs) // oldest first
	var got []string
	for _, tr := range trs {
		got = append(got, string(*tr.FromStatus)+"→"+string(tr.ToStatus))
		if tr.ConfigurationID == nil || *tr.ConfigurationID != cfgA {
			t.Errorf("transition %+v not attributed to check A", tr)
		}
	}
	want := []string{"healthy→degraded", "degraded→unhealthy", "unhealthy→healthy"}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
	// Which run drove each transition: count A's failing runs started before it.
	failingBefore := func(at time.Time) int {
		return s.count(t, `SELECT count(*) FROM health_check_runs WHERE configuration_id = $1 AND status = 'unhealthy' AND "timestamp" <= $2`, cfgA, at)
	}
	if n := failingBefore(trs[0].TransitionedAt); n != 2 {
		t.Errorf("degraded after %d failing runs of A, want 2", n)
	}
	if n := failingBefore(trs[1].TransitionedAt); n != 5 {
		t.Errorf("unhealthy after %d failing runs of A, want 5", n)
	}
	if n := s.count(t, `SELECT count(*) FROM health_check_runs WHERE configuration_id = $1 AND status = 'healthy' AND "timestamp" > $2 AND "timestamp" <= $3`,
		cfgA, trs[1].TransitionedAt, trs[2].TransitionedAt); n != 1 {
		t.Errorf("healthy again after %d passing runs of A, want 1", n)
	}

	// The outbox holds each trigger event exactly once.
	for typ, wantN := range map[string]int{
		health.EventSystemDegraded:      1,
		health.EventSystemHealthy:       1,
		health.EventSystemHealthChanged: 3,
	} {
		if n := s.count(t, `SELECT count(*) FROM health_events WHERE system_id = $2 AND type = $1`, typ, shop); n != wantN {
			t.Errorf("outbox has %d %s, want %d", n, typ, wantN)
		}
	}
	if n := s.count(t, `SELECT count(*) FROM health_events WHERE system_id = $2 AND type = $1`, health.HookCheckCompleted, shop); n != s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1`, shop) {
		t.Errorf("check.completed events (%d) do not match runs", n)
	}
	waitFor(t, 20*time.Second, "outbox dispatched", func() (bool, error) {
		return s.count(t, `SELECT count(*) FROM health_events WHERE system_id = $1 AND type LIKE 'healthcheck.system%' AND delivered_at IS NULL`, shop) == 0, nil
	})
}

// Operators find unhealthy systems with a visibility query, and the entity's details name each
// check with its status.
func TestEntityVisibleInTemporal(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	bad := newTarget(t)
	bad.code.Store(http.StatusServiceUnavailable)
	good := newTarget(t)
	vis := s.system(t, "vis")
	s.httpCheck(t, vis, "payments-api", bad.srv.URL, 1, &health.Thresholds{Mode: health.ModeConsecutive,
		Healthy: health.SuccessThreshold{MinSuccessCount: 1}, Degraded: health.FailureThreshold{MinFailureCount: 1}, Unhealthy: health.FailureThreshold{MinFailureCount: 1}})
	s.httpCheck(t, vis, "homepage", good.srv.URL, 1, nil)
	if err := s.entities.ConfigChanged(ctx, vis); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(t, vis, health.Unhealthy, 30*time.Second)
	id := workflows.SystemWorkflowID(vis)
	waitFor(t, 20*time.Second, "visibility query to find the system", func() (bool, error) {
		resp, err := shared.temporal.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: `CheckflowHealth = "unhealthy" AND CheckflowSystemId = "` + vis + `" AND ExecutionStatus = "Running"`,
		})
		if err != nil {
			return false, err
		}
		for _, e := range resp.Executions {
			if e.GetExecution().GetWorkflowId() == id {
				return true, nil
			}
		}
		return false, nil
	})
	// The Temporal UI reads current details through the built-in metadata query.
	q, err := shared.temporal.Client.QueryWorkflow(ctx, id, "", "__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var meta sdkpb.WorkflowMetadata
	if err := q.Get(&meta); err != nil {
		t.Fatal(err)
	}
	details := meta.GetCurrentDetails()
	for _, want := range []string{"payments-api | unhealthy", "homepage | healthy", "| Check | Status | Last run | Next due |"} {
		if !strings.Contains(details, want) {
			t.Errorf("current details lack %q:\n%s", want, details)
		}
	}
	st, err := s.entities.State(ctx, vis)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Checks) != 2 || st.View == nil || st.View.Status != health.Unhealthy {
		t.Errorf("state query = %+v", st)
	}
}

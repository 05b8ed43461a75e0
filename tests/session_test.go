package tests

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/workflows"
)

// historySince returns the entity's history events after the first `from` ones.
func historySince(t *testing.T, systemID string, from int64) []*historypb.HistoryEvent {
	t.Helper()
	var out []*historypb.HistoryEvent
	it := shared.temporal.Client.GetWorkflowHistory(context.Background(), workflows.SystemWorkflowID(systemID), "", false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", systemID, err)
		}
		if ev.GetEventId() > from {
			out = append(out, ev)
		}
	}
	return out
}

// billableActions estimates the Temporal Cloud actions of history events: workflow starts and
// continue-as-new, activities scheduled, timers, signals, updates, search-attribute upserts, and
// local activities (all of one workflow task count once). Heartbeats are not in the history;
// checkflow records none.
func billableActions(events []*historypb.HistoryEvent) int {
	n, markerInTask := 0, false
	for _, ev := range events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
			enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, enumspb.EVENT_TYPE_TIMER_STARTED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
			enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
			enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
			n++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if !markerInTask {
				n++
				markerInTask = true
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			markerInTask = false
		}
	}
	return n
}

// Issue 12, acceptance 3: a quiet healthy system's history grows by ≤ 0.25 events and ≤ 0.1
// billable actions per run over ≥ 100 runs (probe sessions store quiet runs themselves and report
// them in batches; the entity only wakes when a session ends).
func TestQuietSystemHistoryStaysSmall(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	tgt := newTarget(t)
	sys := s.system(t, "quiet")
	for _, name := range []string{"a", "b", "c", "d"} {
		s.httpCheck(t, sys, name, tgt.srv.URL, 1, nil)
	}
	ctx := context.Background()
	if err := s.entities.ConfigChanged(ctx, sys); err != nil {
		t.Fatal(err)
	}
	runs := func() int { return s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1`, sys) }
	// Warm up: the first session has ended (its runs are folded) before counting starts.
	waitFor(t, 2*time.Minute, "a first probe session to end", func() (bool, error) {
		for _, ev := range historySince(t, sys, 0) {
			if ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED {
				return true, nil
			}
		}
		return false, nil
	})
	h0, r0 := int64(len(historySince(t, sys, 0))), runs()
	// 300 runs (75 s) hold at least one whole session (240 runs: a minute of 4 checks @1 s), so
	// that the figure counts what a session costs.
	waitFor(t, 3*time.Minute, "300 more runs", func() (bool, error) { return runs() >= r0+300, nil })
	grown := historySince(t, sys, h0)
	if !slices.ContainsFunc(grown, func(ev *historypb.HistoryEvent) bool {
		return ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
	}) {
		t.Errorf("no probe session ended within %d runs", runs()-r0)
	}
	r1 := runs()
	perRun := float64(len(grown)) / float64(r1-r0)
	actions := float64(billableActions(grown)) / float64(r1-r0)
	t.Logf("%d runs: %d history events (%.3f per run), %d billable actions (%.3f per run)", r1-r0, len(grown), perRun, billableActions(grown), actions)
	if perRun > 0.25 {
		t.Errorf("%.3f history events per quiet run, want ≤ 0.25", perRun)
	}
	if actions > 0.1 {
		t.Errorf("%.3f billable actions per quiet run, want ≤ 0.1", actions)
	}
	// Nothing got lost on the way: every run once, each with its hook, the view still healthy.
	if total, distinct := runs(), s.count(t, `SELECT count(DISTINCT id) FROM health_check_runs WHERE system_id = $1`, sys); total != distinct {
		t.Errorf("%d runs but %d distinct ids", total, distinct)
	}
	if v := s.view(t, sys); v == nil || v.Status != health.Healthy || v.TotalChecks != 4 {
		t.Errorf("view %+v, want healthy with 4 checks", v)
	}
	if n := s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1 AND id LIKE $1 || ':s%'`, sys); n < 300 {
		t.Errorf("only %d runs stored by probe sessions", n)
	}
	// Its live history (sessions that ended with stored runs) replays against the current code.
	replayAll(t, workflows.SystemWorkflowID(sys), workflows.SystemHealthWorkflow, "systemhealth-quiet", workflows.SystemHealth)
	// The API's "last run" moves with every quiet run, not once per session.
	waitFor(t, 30*time.Second, "a check's last run within 3 s", func() (bool, error) {
		return s.count(t, `SELECT count(*) FROM check_health_state WHERE system_id = $1 AND last_run_at > now() - interval '3 seconds'`, sys) > 0, nil
	})
}

// Issue 12, acceptance 3: a failing result (and the recovery after it) is applied, stored and in
// the outbox within 1 s of its probe ending — probe sessions do not hold a result that may change
// a status.
func TestStatusChangingResultIsAppliedWithinASecond(t *testing.T) {
	t.Parallel()
	type applied struct {
		lag    time.Duration
		status health.Status
	}
	var mu sync.Mutex
	var writes []applied
	hooks := activities.Hooks{Persisted: func(req workflows.PersistRequest, ok bool, at time.Time) {
		if req.Seq == 0 || !ok {
			return // a probe session's own write, or a write seen before
		}
		for _, r := range req.Runs {
			if r.LatencyMs == nil {
				continue
			}
			end := r.ExecutedAt.Add(time.Duration(*r.LatencyMs) * time.Millisecond)
			mu.Lock()
			writes = append(writes, applied{lag: at.Sub(end), status: r.Status})
			mu.Unlock()
		}
	}}
	s := newStackWith(t, stackOptions{hooks: hooks})
	tgt := newTarget(t)
	sys := s.system(t, "detect")
	cfg := s.httpCheck(t, sys, "web", tgt.srv.URL, 1, nil)
	ctx := context.Background()
	if err := s.entities.ConfigChanged(ctx, sys); err != nil {
		t.Fatal(err)
	}
	sessionRuns := func() int {
		return s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1 AND id LIKE $1 || ':s%'`, sys)
	}
	for round := range 3 {
		// Quiet runs flow through a session first.
		base := sessionRuns()
		waitFor(t, time.Minute, "quiet runs stored by a probe session", func() (bool, error) { return sessionRuns() >= base+3, nil })
		tgt.code.Store(http.StatusInternalServerError)
		s.waitStatus(t, sys, health.Unhealthy, 30*time.Second)
		if n := s.count(t, `SELECT count(*) FROM health_events WHERE system_id = $1 AND type = $2`, sys, health.EventCheckFailed); n < round+1 {
			t.Fatalf("round %d: %d check_failed events in the outbox", round, n)
		}
		tgt.code.Store(http.StatusOK)
		s.waitStatus(t, sys, health.Healthy, 30*time.Second)
	}
	mu.Lock()
	defer mu.Unlock()
	var lags []time.Duration
	failing := 0
	for _, w := range writes {
		lags = append(lags, w.lag)
		if w.status != health.Healthy {
			failing++
		}
	}
	slices.Sort(lags)
	if failing < 3 || len(lags) == 0 {
		t.Fatalf("%d entity writes of runs (%d failing), want the 3 failures and their recoveries", len(lags), failing)
	}
	t.Logf("check %s: %d status-changing writes, probe end → stored: p50 %v, max %v", cfg, len(lags), lags[len(lags)/2], lags[len(lags)-1])
	if max := lags[len(lags)-1]; max > time.Second {
		t.Errorf("a status-changing result was stored %v after its probe ended, want ≤ 1 s", max)
	}
}

// Issue 12 ("a fresh start of 1,000 systems probes every check within one interval"): a probe
// session whose worker stops is suspended and resumed by the next worker through Temporal's
// retry — the entity's history gains nothing while no worker runs and nothing when the new one
// takes over (no workflow task, no new session, no lost-session signal); the runs go on with
// the next ids, each stored once, and the session's end reports the runs of both attempts.
func TestProbeSessionResumesOnTheNextWorker(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// The session ends after 12 runs: the stop comes after its 3rd, the end within the test.
	s.entities.Options.SessionMaxRuns = 12
	s.worker.Stop()
	s.startWorker(t)
	tgt := newTarget(t)
	sys := s.system(t, "resumed")
	s.httpCheck(t, sys, "a", tgt.srv.URL, 1, nil)
	ctx := context.Background()
	if err := s.entities.ConfigChanged(ctx, sys); err != nil {
		t.Fatal(err)
	}
	sessionRuns := func() int {
		return s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1 AND id LIKE $1 || ':s%'`, sys)
	}
	waitFor(t, time.Minute, "3 runs stored by a probe session", func() (bool, error) { return sessionRuns() >= 3, nil })
	h0 := int64(len(historySince(t, sys, 0)))
	s.worker.Stop()
	atStop := sessionRuns()
	var owner *int32
	var resume []byte
	if err := s.pool.QueryRow(ctx, `SELECT probe_session_owner, probe_session_resume FROM system_health_state WHERE system_id = $1`, sys).
		Scan(&owner, &resume); err != nil {
		t.Fatal(err)
	}
	if owner == nil || *owner != 0 || len(resume) == 0 {
		t.Fatalf("after the stop: owner %v, resume %s; want the session handed over (0) and suspended", owner, resume)
	}
	hits := tgt.hits.Load()
	s.startWorker(t)
	waitFor(t, 30*time.Second, "the resumed session to store runs", func() (bool, error) { return sessionRuns() > atStop, nil })
	if tgt.hits.Load() == hits {
		t.Error("runs were stored but the target was not probed")
	}
	if grown := historySince(t, sys, h0); len(grown) != 0 {
		t.Errorf("the entity's history grew by %d events while its session was suspended and resumed: %v", len(grown), eventTypes(grown))
	}
	// The session ends after its 12th run; the entity folds every run of both attempts.
	var end *historypb.HistoryEvent
	var started *historypb.HistoryEvent
	waitFor(t, time.Minute, "the resumed session to end", func() (bool, error) {
		for _, ev := range historySince(t, sys, h0) {
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				if started == nil {
					started = ev
				}
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				end = ev
				return true, nil
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				return false, fmt.Errorf("the session did not end as one: %v", ev.GetEventType())
			}
		}
		return false, nil
	})
	if started == nil || started.GetActivityTaskStartedEventAttributes().GetAttempt() != 2 {
		t.Errorf("the session's start event %v, want attempt 2 (resumed by Temporal's retry)", started)
	}
	var res workflows.ProbeSessionResult
	if err := converter.GetDefaultDataConverter().FromPayloads(end.GetActivityTaskCompletedEventAttributes().GetResult(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Reason != workflows.SessionEndMaxRuns || len(res.Stored) != 12 {
		t.Fatalf("the session reported %d runs (%s), want 12 (max-runs)", len(res.Stored), res.Reason)
	}
	// Its runs are numbered 1 … 12 without a gap, each stored once, and the entity's state
	// names the last one.
	for k, r := range res.Stored {
		if want := workflows.SessionRunID(sys, res.Stored[0].ID[len(sys)+2:strings.LastIndex(res.Stored[0].ID, ".")], k+1); r.ID != want {
			t.Fatalf("run %d reported as %s, want %s", k+1, r.ID, want)
		}
		if n := s.count(t, `SELECT count(*) FROM health_check_runs WHERE id = $1`, r.ID); n != 1 {
			t.Errorf("run %s stored %d times", r.ID, n)
		}
	}
	last := res.Stored[len(res.Stored)-1].ID
	waitFor(t, 30*time.Second, "the check's state to name the session's last run or a later one", func() (bool, error) {
		return s.count(t, `SELECT count(*) FROM check_health_state WHERE system_id = $1 AND last_run_id IS NOT NULL
			AND (last_run_id = $2 OR last_run_at > (SELECT timestamp FROM health_check_runs WHERE id = $2))`, sys, last) == 1, nil
	})
	if v := s.view(t, sys); v == nil || v.Status != health.Healthy {
		t.Errorf("view %+v, want healthy", v)
	}
	replayAll(t, workflows.SystemWorkflowID(sys), workflows.SystemHealthWorkflow, "systemhealth-resume", workflows.SystemHealth)
}

// eventTypes names the events' types (for messages).
func eventTypes(events []*historypb.HistoryEvent) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev.GetEventType().String()
	}
	return out
}

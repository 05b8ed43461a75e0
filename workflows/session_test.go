package workflows

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

func TestSessionFold(t *testing.T) {
	at := t0
	consecutive := &health.Thresholds{Mode: health.ModeConsecutive, Healthy: health.SuccessThreshold{MinSuccessCount: 2},
		Degraded: health.FailureThreshold{MinFailureCount: 1}, Unhealthy: health.FailureThreshold{MinFailureCount: 3}}
	window := &health.Thresholds{Mode: health.ModeWindow, WindowSize: 5,
		Degraded: health.FailureThreshold{MinFailureCount: 1}, Unhealthy: health.FailureThreshold{MinFailureCount: 3}}
	hhhhu := []health.Status{health.Healthy, health.Healthy, health.Healthy, health.Healthy, health.Unhealthy}
	long := make([]health.Status, health.MaxWindowRuns)
	for i := range long {
		long[i] = health.Healthy
	}
	tests := []struct {
		name       string
		recent     []health.Status
		status     health.Status
		th         *health.Thresholds
		run        health.Status
		wantUrgent bool
	}{
		{"healthy run of a healthy check is quiet", []health.Status{health.Healthy}, health.Healthy, nil, health.Healthy, false},
		{"first run of a new check is quiet when healthy", nil, health.Healthy, nil, health.Healthy, false},
		{"a failed run is urgent (check_failed)", []health.Status{health.Healthy}, health.Healthy, nil, health.Unhealthy, true},
		{"a degraded run is urgent", []health.Status{health.Healthy}, health.Healthy, consecutive, health.Degraded, true},
		{"a success that recovers the check is urgent", []health.Status{health.Unhealthy}, health.Degraded, consecutive, health.Healthy, true},
		{"a success that moves the last failure out of the window is urgent", hhhhu, health.Degraded, window, health.Healthy, true},
		{"a success that leaves a failure in the window is quiet", []health.Status{health.Unhealthy}, health.Degraded, window, health.Healthy, false},
		{"a full window stays bounded", long, health.Healthy, nil, health.Healthy, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := SessionCheck{Assignment: Assignment{ConfigurationID: cfgA, Thresholds: tt.th, IntervalSeconds: 10}, Recent: slices.Clone(tt.recent), Status: tt.status}
			before := slices.Clone(c.Recent)
			got := SessionFold("sys-1", &c, CheckResult{ID: "sys-1:s1.1", ConfigurationID: cfgA, Status: tt.run, ExecutedAt: at})
			if got != tt.wantUrgent {
				t.Fatalf("urgent = %v, want %v", got, tt.wantUrgent)
			}
			if got {
				if !slices.Equal(c.Recent, before) || c.LastRunAt != nil {
					t.Fatalf("an urgent run changed the window: %v", c.Recent)
				}
				return
			}
			if len(c.Recent) != min(len(before)+1, health.MaxWindowRuns) || c.Recent[0] != tt.run {
				t.Fatalf("window after a quiet run: %d statuses, newest %v", len(c.Recent), c.Recent[0])
			}
			if c.LastRunAt == nil || !c.LastRunAt.Equal(at) {
				t.Fatalf("lastRunAt = %v", c.LastRunAt)
			}
		})
	}
}

// sessionFake answers probe sessions with scripted outcomes; after the script it answers
// "no-state" (the entity then probes by itself for a while, so the test clock moves on).
type sessionFake struct {
	*fake
	script   []func(req ProbeSessionRequest) ProbeSessionResult
	requests []ProbeSessionRequest
	revoked  []string
}

func (f *sessionFake) session(_ context.Context, req ProbeSessionRequest) (ProbeSessionResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.requests)
	f.requests = append(f.requests, req)
	if n < len(f.script) {
		return f.script[n](req), nil
	}
	return ProbeSessionResult{Reason: SessionEndNoState}, nil
}

func (f *sessionFake) revoke(_ context.Context, req RevokeProbeSessionRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, req.Session)
	return nil
}

func newSessionEnv(t *testing.T, f *sessionFake) func(after time.Duration) {
	t.Helper()
	env := newEnv(t, f.fake)
	env.RegisterActivityWithOptions(f.session, activity.RegisterOptions{Name: ActivityProbeSession})
	env.RegisterActivityWithOptions(f.session, activity.RegisterOptions{Name: ActivityResumableProbeSession})
	env.RegisterActivityWithOptions(f.revoke, activity.RegisterOptions{Name: ActivityRevokeProbeSession})
	return func(after time.Duration) {
		endAt(env, f.fake, after)
		env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1"})
		requireCompleted(t, env)
	}
}

// quietRuns makes n healthy stored runs of every check of the request, 10 s apart.
func quietRuns(n int) func(req ProbeSessionRequest) ProbeSessionResult {
	return func(req ProbeSessionRequest) ProbeSessionResult {
		res := ProbeSessionResult{Reason: SessionEndMaxRuns}
		k := 0
		for i := range n {
			for _, c := range req.Checks {
				k++
				res.Stored = append(res.Stored, SessionRun{ID: SessionRunID(req.SystemID, req.Session, k), ConfigurationID: c.ConfigurationID,
					Status: health.Healthy, ExecutedAt: c.NextDue.Add(time.Duration(i*c.IntervalSeconds) * time.Second)})
			}
		}
		for _, c := range req.Checks {
			res.NextDue = append(res.NextDue, CheckDue{ConfigurationID: c.ConfigurationID, NextDue: c.NextDue.Add(time.Duration(n*c.IntervalSeconds) * time.Second)})
		}
		return res
	}
}

// Quiet runs a session stored cost the entity no write: it folds them into its windows and
// hands the next session the windows and due times the last one reached.
func TestSessionQuietRunsAreFoldedWithoutAWrite(t *testing.T) {
	f := &sessionFake{fake: newFake(check(cfgA, 10, nil)), script: []func(ProbeSessionRequest) ProbeSessionResult{quietRuns(30), quietRuns(5)}}
	newSessionEnv(t, f)(3 * time.Minute)

	if len(f.requests) < 3 {
		t.Fatalf("%d sessions started, want ≥ 3", len(f.requests))
	}
	first, second := f.requests[0], f.requests[1]
	if first.Session == second.Session {
		t.Fatalf("two sessions share the id %q", first.Session)
	}
	if len(first.Checks) != 1 || len(second.Checks) != 1 {
		t.Fatalf("sessions hold %d and %d checks, want 1", len(first.Checks), len(second.Checks))
	}
	if got := len(second.Checks[0].Recent); got != 30 {
		t.Errorf("the second session starts with %d statuses in the window, want the 30 the first stored", got)
	}
	if want := first.Checks[0].NextDue.Add(300 * time.Second); !second.Checks[0].NextDue.Equal(want) {
		t.Errorf("second session's next due %v, want %v (where the first left off)", second.Checks[0].NextDue, want)
	}
	if got := len(f.requests[2].Checks[0].Recent); got != 35 {
		t.Errorf("third session starts with %d statuses, want 35", got)
	}
	// The only writes before the entity fell back to its own probing: the baseline view.
	for _, p := range f.persisted {
		for _, r := range p.Runs {
			if r.ID[:len("sys-1:s")] == "sys-1:s" {
				t.Errorf("the entity wrote the session's stored run %s again", r.ID)
			}
		}
	}
	if first.MaxDuration != 5*time.Minute || first.MaxRuns != sessionMaxRunsV1 {
		t.Errorf("session bounds %v / %d runs, want 5m (30 intervals of 10 s) / %d", first.MaxDuration, first.MaxRuns, sessionMaxRunsV1)
	}
}

// A session ends after 64 stored runs in entities that began before changeSessionRuns, after
// 512 from version 1 on (its duration then ends it for systems of up to ~17 checks @10 s).
func TestSessionMaxRunsByVersion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version workflow.Version
		want    int
	}{
		{"before session-runs", workflow.DefaultVersion, defaultSessionMaxRuns},
		{"session-runs 1", 1, sessionMaxRunsV1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &sessionFake{fake: newFake(check(cfgA, 10, nil), check(cfgB, 10, nil)), script: []func(ProbeSessionRequest) ProbeSessionResult{quietRuns(3)}}
			env := newEnv(t, f.fake)
			env.RegisterActivityWithOptions(f.session, activity.RegisterOptions{Name: ActivityProbeSession})
			env.RegisterActivityWithOptions(f.session, activity.RegisterOptions{Name: ActivityResumableProbeSession})
			env.RegisterActivityWithOptions(f.revoke, activity.RegisterOptions{Name: ActivityRevokeProbeSession})
			env.OnGetVersion(changeSessionRuns, workflow.DefaultVersion, 1).Return(tc.version)
			endAt(env, f.fake, time.Minute)
			env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1"})
			requireCompleted(t, env)
			if len(f.requests) == 0 {
				t.Fatal("no session started")
			}
			for i, r := range f.requests {
				if r.MaxRuns != tc.want {
					t.Errorf("session %d: maxRuns %d, want %d", i, r.MaxRuns, tc.want)
				}
			}
		})
	}
}

// From changeSessionResume on, a session is scheduled as ActivityResumableProbeSession, resumable,
// waiting up to sessionSuspendMax for a worker to resume it (ScheduleToClose), and a suspended
// attempt is retried — the entity hears only the retry's end;
// before it, as ActivityProbeSession with one attempt: the suspension reaches the entity.
func TestSessionResumableByVersion(t *testing.T) {
	for _, tc := range []struct {
		name      string
		version   workflow.Version
		activity  string
		resumable bool
		attempts  []int32 // of the first session
	}{
		{"before session-resume", workflow.DefaultVersion, ActivityProbeSession, false, []int32{1}},
		{"session-resume 1", 1, ActivityResumableProbeSession, true, []int32{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &sessionFake{fake: newFake(check(cfgA, 10, nil)), script: []func(ProbeSessionRequest) ProbeSessionResult{quietRuns(3)}}
			env := newEnv(t, f.fake)
			var infos []activity.Info
			var attempts []int32
			// The first session's first attempt is suspended by its worker's stop.
			session := func(ctx context.Context, req ProbeSessionRequest) (ProbeSessionResult, error) {
				info := activity.GetInfo(ctx)
				infos = append(infos, info)
				if info.ActivityID == infos[0].ActivityID {
					attempts = append(attempts, info.Attempt)
					if info.Attempt == 1 {
						return ProbeSessionResult{}, temporal.NewApplicationError("suspended", "ProbeSessionSuspended")
					}
				}
				return f.session(ctx, req)
			}
			env.RegisterActivityWithOptions(session, activity.RegisterOptions{Name: ActivityProbeSession})
			env.RegisterActivityWithOptions(session, activity.RegisterOptions{Name: ActivityResumableProbeSession})
			env.RegisterActivityWithOptions(f.revoke, activity.RegisterOptions{Name: ActivityRevokeProbeSession})
			env.OnGetVersion(changeSessionResume, workflow.DefaultVersion, 1).Return(tc.version)
			endAt(env, f.fake, 2*time.Minute)
			env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1"})
			requireCompleted(t, env)
			if !slices.Equal(attempts, tc.attempts) {
				t.Errorf("the first session ran attempts %v, want %v", attempts, tc.attempts)
			}
			if len(f.requests) == 0 {
				t.Fatal("no session ran to its end")
			}
			for i, info := range infos {
				if info.ActivityType.Name != tc.activity {
					t.Errorf("session attempt %d: %s, want %s", i, info.ActivityType.Name, tc.activity)
				}
				if tc.resumable && info.ScheduleToCloseTimeout != info.StartToCloseTimeout+sessionSuspendMax {
					t.Errorf("session attempt %d: schedule-to-close %v, start-to-close %v; want %v more to wait for a worker while suspended",
						i, info.ScheduleToCloseTimeout, info.StartToCloseTimeout, sessionSuspendMax)
				}
			}
			for i, r := range f.requests {
				if r.Resumable != tc.resumable {
					t.Errorf("session %d: resumable %v, want %v", i, r.Resumable, tc.resumable)
				}
			}
		})
	}
}

// The batch that ended a session (a failing run) is processed like any result: stored with its
// transition and trigger events.
func TestSessionUrgentBatchIsProcessedAtOnce(t *testing.T) {
	failing := func(req ProbeSessionRequest) ProbeSessionResult {
		c := req.Checks[0]
		lat := 3
		return ProbeSessionResult{Reason: SessionEndUrgent,
			Pending: []CheckResult{{ID: SessionRunID(req.SystemID, req.Session, 1), ConfigurationID: c.ConfigurationID,
				Status: health.Unhealthy, LatencyMs: &lat, ExecutedAt: c.NextDue}},
			NextDue: []CheckDue{{ConfigurationID: c.ConfigurationID, NextDue: c.NextDue.Add(10 * time.Second)}}}
	}
	th := &health.Thresholds{Mode: health.ModeConsecutive, Healthy: health.SuccessThreshold{MinSuccessCount: 1},
		Degraded: health.FailureThreshold{MinFailureCount: 1}, Unhealthy: health.FailureThreshold{MinFailureCount: 2}}
	f := &sessionFake{fake: newFake(check(cfgA, 10, th)), script: []func(ProbeSessionRequest) ProbeSessionResult{failing}}
	newSessionEnv(t, f)(2 * time.Minute)

	id := SessionRunID("sys-1", f.requests[0].Session, 1)
	var write *PersistRequest
	for i := range f.persisted {
		if len(f.persisted[i].Runs) == 1 && f.persisted[i].Runs[0].ID == id {
			write = &f.persisted[i]
		}
	}
	if write == nil {
		t.Fatalf("the failing run %s was not written by the entity", id)
	}
	if write.Transition == nil || write.Transition.To == health.Healthy {
		t.Errorf("write of the failing run has transition %+v, want one away from healthy", write.Transition)
	}
	var types []string
	for _, e := range write.Events {
		types = append(types, e.Type)
	}
	if !slices.Contains(types, health.EventCheckFailed) || !slices.Contains(types, health.EventSystemDegraded) {
		t.Errorf("events of the failing run: %v", types)
	}
	if got := f.requests[1].Checks[0].Status; got == health.Healthy {
		t.Errorf("the next session starts from status %s, want the failing evaluation", got)
	}
}

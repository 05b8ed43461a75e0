package workflows

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

// locationFake answers probes by location: a location's status, or no worker at all.
type locationFake struct {
	*fake
	lmu    sync.Mutex
	status map[string]health.Status // by location; unset: healthy
	absent map[string]bool          // no worker: the probe times out before it starts
	broken map[string]bool          // the probe activity itself fails
	calls  []locationCall
}

type locationCall struct {
	location, taskQueue, resultID string
}

func newLocationFake(c LoadedCheck) *locationFake {
	return &locationFake{fake: newFake(c), status: map[string]health.Status{}, absent: map[string]bool{}, broken: map[string]bool{}}
}

func (f *locationFake) probe(ctx context.Context, req ProbeRequest) ([]CheckResult, error) {
	f.lmu.Lock()
	defer f.lmu.Unlock()
	f.calls = append(f.calls, locationCall{req.Location, activity.GetInfo(ctx).TaskQueue, req.Probes[0].ResultID})
	if f.absent[req.Location] {
		return nil, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil)
	}
	if f.broken[req.Location] {
		return nil, temporal.NewNonRetryableApplicationError("worker out of file descriptors", "ProbeBroken", nil)
	}
	var out []CheckResult
	for _, it := range req.Probes {
		st := f.status[req.Location]
		if st == "" {
			st = health.Healthy
		}
		lat := 10 * (1 + len(req.Location))
		msg := "Completed in 1ms"
		if st != health.Healthy {
			msg = "HTTP 500 from " + req.Location
		}
		body, _ := json.Marshal(map[string]any{"status": st, "message": msg, "from": req.Location})
		loc := req.Location
		out = append(out, CheckResult{ID: it.ResultID, ConfigurationID: it.Assignment.ConfigurationID, Status: st,
			LatencyMs: &lat, Message: msg, Result: body, ExecutedAt: t0, SourceID: &loc, SourceLabel: &loc})
	}
	return out, nil
}

func (f *locationFake) locationCalls() []locationCall {
	f.lmu.Lock()
	defer f.lmu.Unlock()
	return slices.Clone(f.calls)
}

func (f *locationFake) runs() []CheckResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []CheckResult
	for _, p := range f.persisted {
		out = append(out, p.Runs...)
	}
	return out
}

func newLocationEnv(t *testing.T, f *locationFake) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.RegisterWorkflowWithOptions(SystemHealth, workflow.RegisterOptions{Name: SystemHealthWorkflow})
	env.RegisterActivityWithOptions(f.load, activity.RegisterOptions{Name: ActivityLoadSystem})
	env.RegisterActivityWithOptions(f.persist, activity.RegisterOptions{Name: ActivityPersistSystem})
	env.RegisterActivityWithOptions(f.probe, activity.RegisterOptions{Name: ActivityProbe})
	env.RegisterActivityWithOptions(f.dispatchEvents, activity.RegisterOptions{Name: ActivityDispatchEvents})
	return env
}

func quorumCheck(quorum int, locations ...string) LoadedCheck {
	c := check(cfgA, 10, consecutiveTh(1))
	c.Locations, c.Quorum = locations, quorum
	last := t0.Add(-10 * time.Second)
	c.LastRunAt = &last // due at once
	return c
}

func quorumDoc(t *testing.T, r CheckResult) health.QuorumDocument {
	t.Helper()
	var doc health.QuorumDocument
	if err := json.Unmarshal(r.Result, &doc); err != nil {
		t.Fatalf("run %s result %s: %v", r.ID, r.Result, err)
	}
	return doc
}

// Every interval the check is probed once from each location, on the location's task queue,
// and ONE run is stored, decided by the quorum, with every location's result in its document.
func TestQuorumRuns(t *testing.T) {
	tests := []struct {
		name       string
		quorum     int
		failing    []string
		absent     []string
		broken     []string
		wantRun    health.Status
		wantSystem health.Status
		wantMsg    string
	}{
		{"one failing location stays healthy", 0, []string{"b"}, nil, nil, health.Healthy, health.Healthy,
			"1 of 3 locations failing (quorum 2): b: HTTP 500 from b"},
		{"two failing locations fail", 0, []string{"b", "c"}, nil, nil, health.Unhealthy, health.Degraded,
			"2 of 3 locations failing (quorum 2): b: HTTP 500 from b; c: HTTP 500 from c"},
		{"quorum one: one failing location fails", 1, []string{"c"}, nil, nil, health.Unhealthy, health.Degraded,
			"1 of 3 locations failing (quorum 1): c: HTTP 500 from c"},
		{"absent location is unavailable, not failing", 2, []string{"b"}, []string{"c"}, nil, health.Healthy, health.Healthy,
			"1 of 3 locations failing (quorum 2): b: HTTP 500 from b; unavailable: c"},
		{"no location answered fails naming them", 2, nil, []string{"a", "b", "c"}, nil, health.Unhealthy, health.Degraded,
			"no location answered (quorum 2 of 3): a, b, c unavailable"},
		{"a failing probe activity is its location failing", 2, []string{"a"}, nil, []string{"c"}, health.Unhealthy, health.Degraded,
			"2 of 3 locations failing (quorum 2): a: HTTP 500 from a; c: probe failed: worker out of file descriptors (type: ProbeBroken, retryable: false)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newLocationFake(quorumCheck(tt.quorum, "a", "b", "c"))
			for _, l := range tt.failing {
				f.status[l] = health.Unhealthy
			}
			for _, l := range tt.absent {
				f.absent[l] = true
			}
			for _, l := range tt.broken {
				f.broken[l] = true
			}
			env := newLocationEnv(t, f)
			endAt(env, f.fake, 45*time.Second)
			env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{ProbeTaskQueue: "pq"}})
			requireCompleted(t, env)

			runs := f.runs()
			calls := f.locationCalls()
			if len(runs) < 4 {
				t.Fatalf("%d runs in 45 s @10 s, want ≥ 4", len(runs))
			}
			if len(calls) != 3*len(runs) {
				t.Fatalf("%d probes for %d runs, want one per location per run", len(calls), len(runs))
			}
			for i, r := range runs {
				var got []string
				for _, c := range calls[3*i : 3*i+3] {
					if c.resultID != r.ID || c.taskQueue != "pq-"+c.location {
						t.Errorf("probe %+v for run %s: want the run's id on pq-<location>", c, r.ID)
					}
					got = append(got, c.location)
				}
				if slices.Sort(got); !slices.Equal(got, []string{"a", "b", "c"}) {
					t.Errorf("run %s probed %v, want a, b, c", r.ID, got)
				}
				if r.Status != tt.wantRun || r.Message != tt.wantMsg {
					t.Errorf("run %s = %s %q, want %s %q", r.ID, r.Status, r.Message, tt.wantRun, tt.wantMsg)
				}
				if r.SourceID != nil {
					t.Errorf("run %s has source %s, want none (all locations)", r.ID, *r.SourceID)
				}
				doc := quorumDoc(t, r)
				for _, l := range []string{"a", "b", "c"} {
					want := string(health.Healthy)
					switch {
					case slices.Contains(tt.absent, l):
						want = health.LocationUnavailable
					case slices.Contains(tt.failing, l), slices.Contains(tt.broken, l):
						want = string(health.Unhealthy)
					}
					e := doc.Locations[l]
					if e.Status != want {
						t.Errorf("run %s location %s = %+v, want %s", r.ID, l, e, want)
					}
					if want == health.LocationUnavailable && !strings.Contains(e.Message, "no probe worker of location "+l) {
						t.Errorf("unavailable location %s message %q", l, e.Message)
					}
					if want != health.LocationUnavailable && !slices.Contains(tt.broken, l) && !strings.Contains(string(e.Result), `"from":"`+l+`"`) {
						t.Errorf("location %s result %s, want its own document", l, e.Result)
					}
				}
			}
			if ids := f.runIDs(); len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
				t.Errorf("run ids %v are not distinct", ids)
			}
			var last *health.View
			for _, p := range f.persisted {
				if p.View != nil {
					last = p.View
				}
			}
			if last == nil || last.Status != tt.wantSystem {
				t.Errorf("system view = %+v, want %s", last, tt.wantSystem)
			}
		})
	}
}

// A check with one location keeps a run per probe, with its location as the run's source.
func TestQuorumSingleLocationKeepsItsRuns(t *testing.T) {
	f := newLocationFake(quorumCheck(0, "a"))
	env := newLocationEnv(t, f)
	endAt(env, f.fake, 25*time.Second)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{ProbeTaskQueue: "pq"}})
	requireCompleted(t, env)
	runs := f.runs()
	if len(runs) < 2 || len(f.locationCalls()) != len(runs) {
		t.Fatalf("%d runs for %d probes, want ≥ 2 and one run per probe", len(runs), len(f.locationCalls()))
	}
	for _, r := range runs {
		if r.SourceID == nil || *r.SourceID != "a" || strings.Contains(string(r.Result), `"quorum"`) {
			t.Errorf("run %+v: want location a's own result", r)
		}
	}
}

// Run-now probes every location and returns the quorum run with the per-location results.
func TestQuorumRunNowProbesAllLocations(t *testing.T) {
	c := quorumCheck(2, "a", "b", "c")
	last := t0
	c.LastRunAt = &last // the next scheduled run is 10 s away
	f := newLocationFake(c)
	f.status["a"] = health.Unhealthy
	f.absent["c"] = true
	env := newLocationEnv(t, f)
	var resp RunCheckResponse
	var respErr error
	done := false
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateRunCheck, "now-1", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { respErr = err },
			OnAccept:   func() {},
			OnComplete: func(v any, err error) { done, respErr = true, err; resp, _ = v.(RunCheckResponse) },
		}, RunCheckRequest{ConfigurationID: cfgA})
	}, time.Second)
	endAt(env, f.fake, 5*time.Second)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{ProbeTaskQueue: "pq"}})
	requireCompleted(t, env)
	if !done || respErr != nil {
		t.Fatalf("run-now: done %v, err %v", done, respErr)
	}
	if resp.Run.ID != "sys-1:run:now-1" || resp.Run.Status != health.Healthy {
		t.Errorf("run = %+v, want sys-1:run:now-1 healthy (1 of 3 failing, quorum 2)", resp.Run)
	}
	doc := quorumDoc(t, resp.Run)
	if doc.Locations["a"].Status != string(health.Unhealthy) || doc.Locations["b"].Status != string(health.Healthy) ||
		doc.Locations["c"].Status != health.LocationUnavailable {
		t.Errorf("locations = %+v", doc.Locations)
	}
	if doc.Quorum.Required != 2 || doc.Quorum.Answered != 2 || doc.Quorum.Failing != 1 {
		t.Errorf("counts = %+v", doc.Quorum)
	}
	var nowCalls []string
	for _, c := range f.locationCalls() {
		if c.resultID == resp.Run.ID {
			nowCalls = append(nowCalls, c.location)
		}
	}
	if slices.Sort(nowCalls); !slices.Equal(nowCalls, []string{"a", "b", "c"}) {
		t.Errorf("run-now probed %v, want a, b, c", nowCalls)
	}
	if ids := f.runIDs(); !slices.Contains(ids, resp.Run.ID) || len(ids) != 1 {
		t.Errorf("stored runs %v, want just the run-now's", ids)
	}
}

// The concurrency bound counts one probe per location: with room for three probes, the second
// of two three-location checks due together is probed only once the first one's probes are back.
func TestQuorumProbesCountAgainstTheBound(t *testing.T) {
	a := quorumCheck(0, "a", "b", "c")
	b := a
	b.ConfigurationID = cfgB
	f := newLocationFake(a)
	f.system.Checks = append(f.system.Checks, b)
	env := newLocationEnv(t, f)
	env.OnActivity(ActivityProbe, mock.Anything, mock.Anything).After(3 * time.Second).Return(f.probe)
	started := map[string][]time.Time{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		var req ProbeRequest
		if info.ActivityType.Name != ActivityProbe || args.Get(&req) != nil {
			return
		}
		id := req.Probes[0].Assignment.ConfigurationID
		started[id] = append(started[id], env.Now())
	})
	endAt(env, f.fake, 8*time.Second)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{ProbeTaskQueue: "pq", MaxConcurrentProbes: 3}})
	requireCompleted(t, env)
	if len(started[cfgA]) < 3 || len(started[cfgB]) < 3 {
		t.Fatalf("probes started: %v, want three per check", started)
	}
	firstA, firstB := slices.MinFunc(started[cfgA], time.Time.Compare), slices.MinFunc(started[cfgB], time.Time.Compare)
	if d := firstB.Sub(firstA); d < 3*time.Second && -d < 3*time.Second {
		t.Errorf("both checks' probes started within %v (A %v, B %v): six probes in flight, bound 3", d, started[cfgA], started[cfgB])
	}
	if n := len(f.runs()); n != 2 {
		t.Errorf("%d runs, want one per check", n)
	}
}

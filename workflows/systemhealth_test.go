package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

var t0 = time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)

const (
	cfgA = "00000000-0000-0000-0000-00000000000a"
	cfgB = "00000000-0000-0000-0000-00000000000b"
)

// fake stands in for the database and the probes: it records what the entity asks for.
type fake struct {
	mu        sync.Mutex
	system    LoadedSystem
	status    map[string]health.Status // probe outcome per configuration
	probes    []ProbeItem
	persisted []PersistRequest
	dispatch  int
	// persistErr, when set, decides the outcome of each write before it is recorded.
	persistErr func(req PersistRequest) error
	// persistHook, when it returns true, answers a write instead of the fake's store.
	persistHook func(req PersistRequest) (PersistResponse, bool)
	// outcome, when set, decides each probe's status from the number of probes so far (1-based).
	outcome  func(n int) health.Status
	attempts int
}

func newFake(checks ...LoadedCheck) *fake {
	return &fake{system: LoadedSystem{SystemID: "sys-1", SystemName: "Web", Checks: checks}, status: map[string]health.Status{}}
}

func check(id string, interval int, th *health.Thresholds) LoadedCheck {
	return LoadedCheck{Assignment: Assignment{ConfigurationID: id, Name: "check " + id[len(id)-1:], StrategyID: "http",
		Config: []byte(`{"timeout":1000}`), IntervalSeconds: interval, Thresholds: th}}
}

func (f *fake) load(_ context.Context, _ LoadSystemRequest) (LoadedSystem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.system
	s.Checks = slices.Clone(f.system.Checks)
	return s, nil
}

func (f *fake) probe(_ context.Context, req ProbeRequest) ([]CheckResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []CheckResult
	for _, it := range req.Probes {
		f.probes = append(f.probes, it)
		st := f.status[it.Assignment.ConfigurationID]
		if f.outcome != nil {
			st = f.outcome(len(f.probes))
		}
		if st == "" {
			st = health.Healthy
		}
		lat := 5
		out = append(out, CheckResult{ID: it.ResultID, ConfigurationID: it.Assignment.ConfigurationID, Status: st, LatencyMs: &lat, ExecutedAt: t0})
	}
	return out, nil
}

func (f *fake) persist(_ context.Context, req PersistRequest) (PersistResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.persistHook != nil {
		if resp, ok := f.persistHook(req); ok {
			return resp, nil
		}
	}
	if f.persistErr != nil {
		if err := f.persistErr(req); err != nil {
			return PersistResponse{}, err
		}
		// Like the store: a write seen before (a retried attempt whose first try committed)
		// changes nothing.
		for _, p := range f.persisted {
			if p.Seq == req.Seq {
				return PersistResponse{Applied: false}, nil
			}
		}
	}
	f.persisted = append(f.persisted, req)
	return PersistResponse{Applied: true}, nil
}

func (f *fake) dispatchEvents(_ context.Context, _ DispatchRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dispatch++
	return nil
}

func (f *fake) runIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, p := range f.persisted {
		for _, r := range p.Runs {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

func (f *fake) transitions() []Transition {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.transitionsLocked()
}

func (f *fake) transitionsLocked() []Transition {
	var out []Transition
	for _, p := range f.persisted {
		if p.Transition != nil {
			out = append(out, *p.Transition)
		}
	}
	return out
}

// systemEvents lists the system-level trigger events in persist order.
func (f *fake) systemEvents() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.persisted {
		for _, e := range p.Events {
			switch e.Type {
			case health.EventSystemDegraded, health.EventSystemHealthy, health.EventSystemHealthChanged:
				out = append(out, e.Type)
			}
		}
	}
	return out
}

func (f *fake) probeCount(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.probes {
		if p.Assignment.ConfigurationID == id {
			n++
		}
	}
	return n
}

func newEnv(t *testing.T, f *fake) *testsuite.TestWorkflowEnvironment {
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

// endAt removes every check at the given offset so the entity ends; the test then inspects.
func endAt(env *testsuite.TestWorkflowEnvironment, f *fake, after time.Duration) {
	env.RegisterDelayedCallback(func() {
		f.mu.Lock()
		f.system.Checks = nil
		f.mu.Unlock()
		env.SignalWorkflow(SignalConfigChanged, nil)
	}, after)
}

func requireCompleted(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error: %v", err)
	}
}

func TestFirstDue(t *testing.T) {
	last := t0.Add(-10 * time.Second)
	long := t0.Add(-time.Hour)
	cases := []struct {
		name     string
		interval int
		lastRun  *time.Time
		want     func(time.Time) bool
	}{
		{"after last run", 60, &last, func(d time.Time) bool { return d.Equal(t0.Add(50 * time.Second)) }},
		{"overdue runs now", 60, &long, func(d time.Time) bool { return d.Equal(t0) }},
		{"never ran: inside first interval", 30, nil, func(d time.Time) bool { return !d.Before(t0) && !d.After(t0.Add(30*time.Second)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := firstDue("sys-1", tc.interval, tc.lastRun, t0); !tc.want(got) {
				t.Errorf("firstDue = %v", got)
			}
		})
	}
	// Spread: many systems do not share one instant, and the result is stable.
	seen := map[time.Time]bool{}
	for i := 0; i < 50; i++ {
		d := firstDue(fmt.Sprint("sys-", i), 60, nil, t0)
		if d != firstDue(fmt.Sprint("sys-", i), 60, nil, t0) {
			t.Fatal("firstDue is not deterministic")
		}
		seen[d] = true
	}
	if len(seen) < 45 {
		t.Errorf("50 systems got only %d distinct first due times", len(seen))
	}
}

// The checks of one system with the same interval fall due together and go out as one probe
// batch, persisted as one step.
func TestChecksOfASystemAreBatched(t *testing.T) {
	f := newFake(check(cfgA, 10, nil), check(cfgB, 10, nil))
	env := newEnv(t, f)
	endAt(env, f, 35*time.Second)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	f.mu.Lock()
	defer f.mu.Unlock()
	batches := 0
	for _, p := range f.persisted {
		if len(p.Runs) == 0 {
			continue
		}
		batches++
		if len(p.Runs) != 2 {
			t.Errorf("persisted %d runs in one step, want both checks together", len(p.Runs))
		}
	}
	if batches < 3 {
		t.Errorf("%d batches in 35 s at 10 s, want ≥3", batches)
	}
}

// Mixed intervals: each check runs at its first due time and then every interval.
func TestCadenceMixedIntervals(t *testing.T) {
	f := newFake(check(cfgA, 10, nil), check(cfgB, 30, nil))
	env := newEnv(t, f)
	horizon := 2 * time.Minute
	endAt(env, f, horizon)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	for _, c := range []struct {
		id       string
		interval int
	}{{cfgA, 10}, {cfgB, 30}} {
		first := firstDue("sys-1", c.interval, nil, t0).Sub(t0)
		want := int((horizon-first)/(time.Duration(c.interval)*time.Second)) + 1
		if got := f.probeCount(c.id); got < want-1 || got > want {
			t.Errorf("check %s (every %ds, first after %v): %d probes in %v, want %d", c.id, c.interval, first, got, horizon, want)
		}
	}
}

func TestPausedCheckIsNotProbed(t *testing.T) {
	paused := check(cfgB, 5, nil)
	paused.Paused = true
	f := newFake(check(cfgA, 5, nil), paused)
	env := newEnv(t, f)
	endAt(env, f, time.Minute)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	if n := f.probeCount(cfgB); n != 0 {
		t.Errorf("paused check probed %d times", n)
	}
	if n := f.probeCount(cfgA); n < 10 {
		t.Errorf("active check probed only %d times in a minute at 5 s", n)
	}
}

// HE-25: one enabled check without runs; the first failing evaluation (degraded threshold 1)
// emits system_degraded + system_health_changed exactly once.
func TestFirstRunDegradationHE25(t *testing.T) {
	th := health.Thresholds{Mode: health.ModeConsecutive, Healthy: health.SuccessThreshold{MinSuccessCount: 1},
		Degraded: health.FailureThreshold{MinFailureCount: 1}, Unhealthy: health.FailureThreshold{MinFailureCount: 5}}
	f := newFake(check(cfgA, 10, &th))
	f.status[cfgA] = health.Unhealthy
	env := newEnv(t, f)
	endAt(env, f, 35*time.Second)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	want := []string{health.EventSystemDegraded, health.EventSystemHealthChanged}
	if got := f.systemEvents(); !slices.Equal(got, want) {
		t.Errorf("system events = %v, want %v", got, want)
	}
	tr := f.transitions()
	if len(tr) != 1 || *tr[0].From != health.Healthy || tr[0].To != health.Degraded || tr[0].ConfigurationID != cfgA {
		t.Errorf("transitions = %+v, want one healthy→degraded driven by %s", tr, cfgA)
	}
}

// Ten concurrent run-check updates on one system: ten runs, one transition, one event set.
func TestConcurrentRunCheckUpdates(t *testing.T) {
	th := health.Thresholds{Mode: health.ModeConsecutive, Healthy: health.SuccessThreshold{MinSuccessCount: 1},
		Degraded: health.FailureThreshold{MinFailureCount: 1}, Unhealthy: health.FailureThreshold{MinFailureCount: 100}}
	c := check(cfgA, 3600, &th)
	last := t0
	c.LastRunAt = &last // next scheduled run is an hour away
	f := newFake(c)
	f.status[cfgA] = health.Unhealthy
	env := newEnv(t, f)
	var mu sync.Mutex
	responses := map[string]RunCheckResponse{}
	env.RegisterDelayedCallback(func() {
		for i := 0; i < 10; i++ {
			id := fmt.Sprintf("req-%d", i)
			env.UpdateWorkflow(UpdateRunCheck, id, &testsuite.TestUpdateCallback{
				OnReject: func(err error) { t.Errorf("update %s rejected: %v", id, err) },
				OnAccept: func() {},
				OnComplete: func(v any, err error) {
					if err != nil {
						t.Errorf("update %s: %v", id, err)
						return
					}
					mu.Lock()
					responses[id] = v.(RunCheckResponse)
					mu.Unlock()
				},
			}, RunCheckRequest{ConfigurationID: cfgA})
		}
	}, time.Second)
	endAt(env, f, time.Minute)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	if ids := f.runIDs(); len(ids) != 10 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 10 {
		t.Errorf("runs = %v, want 10 distinct", ids)
	}
	if tr := f.transitions(); len(tr) != 1 {
		t.Errorf("transitions = %+v, want exactly one", tr)
	}
	if ev := f.systemEvents(); !slices.Equal(ev, []string{health.EventSystemDegraded, health.EventSystemHealthChanged}) {
		t.Errorf("system events = %v, want one degraded set", ev)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(responses) != 10 {
		t.Fatalf("%d responses, want 10", len(responses))
	}
	withEvents := 0
	for id, r := range responses {
		if r.Run.ID != "sys-1:run:"+id || r.View == nil || r.View.Status != health.Degraded {
			t.Errorf("response %s = %+v", id, r)
		}
		for _, e := range r.Events {
			if e.Type == health.EventSystemDegraded {
				withEvents++
			}
		}
	}
	if withEvents != 1 {
		t.Errorf("%d responses carry system_degraded, want 1", withEvents)
	}
}

func TestRunCheckRejections(t *testing.T) {
	paused := check(cfgB, 3600, nil)
	paused.Paused = true
	f := newFake(check(cfgA, 3600, nil), paused)
	env := newEnv(t, f)
	cases := []struct {
		name    string
		req     RunCheckRequest
		errType string // "" = runs
	}{
		{"unknown check: rejected after reloading", RunCheckRequest{ConfigurationID: "unknown"}, ErrTypeCheckNotEnabled},
		{"missing id", RunCheckRequest{}, ErrTypeCheckNotEnabled},
		{"paused", RunCheckRequest{ConfigurationID: cfgB}, ErrTypeCheckPaused},
		{"paused with force", RunCheckRequest{ConfigurationID: cfgB, Force: true}, ""},
	}
	got := make([]string, len(cases))
	env.RegisterDelayedCallback(func() {
		for i, tc := range cases {
			record := func(err error) {
				var app *temporal.ApplicationError
				switch {
				case err == nil:
					got[i] = ""
				case errors.As(err, &app):
					got[i] = app.Type()
				default:
					got[i] = "untyped: " + err.Error()
				}
			}
			env.UpdateWorkflow(UpdateRunCheck, fmt.Sprint("u", i), &testsuite.TestUpdateCallback{
				OnReject:   record,
				OnAccept:   func() {},
				OnComplete: func(_ any, err error) { record(err) },
			}, tc.req)
		}
	}, time.Second)
	endAt(env, f, time.Minute)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	for i, tc := range cases {
		if got[i] != tc.errType {
			t.Errorf("%s: got %q, want %q", tc.name, got[i], tc.errType)
		}
	}
}

// A check assigned a moment ago (its config-changed signal not processed yet) runs at once:
// the update reloads the configuration first.
func TestRunCheckOfJustAssignedCheck(t *testing.T) {
	c := check(cfgA, 3600, nil)
	last := t0
	c.LastRunAt = &last
	f := newFake(c)
	env := newEnv(t, f)
	var resp RunCheckResponse
	var runErr error
	env.RegisterDelayedCallback(func() {
		f.mu.Lock()
		nb := check(cfgB, 3600, nil)
		nb.LastRunAt = &last
		f.system.Checks = append(f.system.Checks, nb) // written to the database, not signalled yet
		f.mu.Unlock()
		env.UpdateWorkflow(UpdateRunCheck, "now", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { runErr = err }, OnAccept: func() {},
			OnComplete: func(v any, err error) {
				runErr = err
				if err == nil {
					resp = v.(RunCheckResponse)
				}
			},
		}, RunCheckRequest{ConfigurationID: cfgB})
	}, time.Second)
	endAt(env, f, time.Minute)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	if runErr != nil || resp.Run.ConfigurationID != cfgB || resp.View == nil || resp.View.TotalChecks != 2 {
		t.Fatalf("run of the just-assigned check: %+v, %v", resp, runErr)
	}
}

// The same external result id signalled twice is persisted once.
func TestDuplicateExternalResult(t *testing.T) {
	c := check(cfgA, 3600, nil)
	last := t0
	c.LastRunAt = &last
	f := newFake(c)
	env := newEnv(t, f)
	res := CheckResult{ID: "push-1", ConfigurationID: cfgA, Status: health.Unhealthy, ExecutedAt: t0}
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalCheckResult, res) }, time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalCheckResult, res) }, 2*time.Second)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalCheckResult, CheckResult{ID: "", ConfigurationID: cfgA, Status: "bogus"})
	}, 3*time.Second)
	endAt(env, f, time.Minute)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	if ids := f.runIDs(); !slices.Equal(ids, []string{"sys-1:ext:push-1"}) {
		t.Errorf("persisted runs = %v, want the external result once", ids)
	}
}

// Disabling the only failing check re-evaluates at once: system_healthy without another run.
func TestDisablingFailingCheckRecoversAtOnce(t *testing.T) {
	th := health.Thresholds{Mode: health.ModeConsecutive, Healthy: health.SuccessThreshold{MinSuccessCount: 1},
		Degraded: health.FailureThreshold{MinFailureCount: 1}, Unhealthy: health.FailureThreshold{MinFailureCount: 2}}
	a := check(cfgA, 3600, &th)
	a.Recent = []health.Status{health.Unhealthy, health.Unhealthy}
	last := t0
	a.LastRunAt = &last
	b := check(cfgB, 3600, nil)
	b.LastRunAt = &last
	f := newFake(a, b)
	f.system.View = &health.View{Status: health.Unhealthy, HealthyChecks: 1, TotalChecks: 2}
	env := newEnv(t, f)
	env.RegisterDelayedCallback(func() {
		f.mu.Lock()
		f.system.Checks = f.system.Checks[1:] // A disabled
		f.mu.Unlock()
		env.SignalWorkflow(SignalConfigChanged, nil)
	}, 5*time.Second)
	endAt(env, f, time.Minute)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	if n := len(f.probes); n != 0 {
		t.Errorf("%d probes ran; the re-evaluation must not wait for one", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.persisted) != 2 {
		t.Fatalf("persisted %d items, want the re-evaluation and the final tombstone", len(f.persisted))
	}
	p := f.persisted[0]
	if p.View == nil || *p.View != (health.View{Status: health.Healthy, HealthyChecks: 1, TotalChecks: 1}) {
		t.Errorf("view after disabling = %+v", p.View)
	}
	if len(p.Events) < 1 || p.Events[0].Type != health.EventSystemHealthy {
		t.Errorf("events = %+v, want system_healthy first", p.Events)
	}
	if p.Transition == nil || *p.Transition.From != health.Unhealthy || p.Transition.To != health.Healthy {
		t.Errorf("transition = %+v", p.Transition)
	}
	if last := f.persisted[1]; last.View != nil || len(last.Events) != 0 {
		t.Errorf("tombstone = %+v, want a cleared view and no events", last)
	}
}

// Continue-as-new while signals and updates are in flight: every item is processed exactly
// once, in this run or carried into the next.
func TestContinueAsNewLosesNothing(t *testing.T) {
	c := check(cfgA, 2, nil)
	f := newFake(c)
	env := newEnv(t, f)
	var sent []string
	for i := 0; i < 20; i++ {
		i := i
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(SignalCheckResult, CheckResult{ID: fmt.Sprint("ext-", i), ConfigurationID: cfgA, Status: health.Healthy, ExecutedAt: t0})
		}, time.Duration(1000+i*300)*time.Millisecond)
		sent = append(sent, fmt.Sprint("sys-1:ext:ext-", i))
	}
	for i := 0; i < 3; i++ {
		id := fmt.Sprint("upd-", i)
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(UpdateRunCheck, id, &testsuite.TestUpdateCallback{
				OnReject: func(err error) { t.Errorf("rejected %s: %v", id, err) }, OnAccept: func() {},
				OnComplete: func(_ any, err error) {
					if err != nil {
						t.Errorf("update %s: %v", id, err)
					}
				},
			}, RunCheckRequest{ConfigurationID: cfgA})
		}, 3*time.Second)
		sent = append(sent, "sys-1:run:"+id)
	}
	// Temporal suggests continue-as-new while signals and updates are arriving.
	env.RegisterDelayedCallback(func() {
		env.SetContinueAsNewSuggested(true)
		env.SignalWorkflow(SignalCheckResult, CheckResult{ID: "ext-last", ConfigurationID: cfgA, Status: health.Healthy, ExecutedAt: t0})
	}, 3*time.Second)
	sent = append(sent, "sys-1:ext:ext-last")
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next SystemHealthInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	processed := f.runIDs()
	if next.State == nil {
		t.Fatal("no state carried")
	}
	for _, r := range next.State.Pending {
		processed = append(processed, r.ID)
	}
	counts := map[string]int{}
	for _, id := range processed {
		counts[id]++
	}
	delivered := 0
	for _, id := range sent {
		if counts[id] > 1 {
			t.Errorf("%s processed %d times", id, counts[id])
		}
		if counts[id] == 1 {
			delivered++
		}
	}
	// Signals scheduled after the continue-as-new point go to the next run (the test env ends
	// here): everything sent before it must be accounted for.
	for _, id := range []string{"sys-1:run:upd-0", "sys-1:run:upd-1", "sys-1:run:upd-2", "sys-1:ext:ext-last", "sys-1:ext:ext-0", "sys-1:ext:ext-6"} {
		if counts[id] != 1 {
			t.Errorf("%s processed %d times before continue-as-new, want 1", id, counts[id])
		}
	}
	for id, n := range counts {
		if n > 1 {
			t.Errorf("%s processed %d times", id, n)
		}
	}
	if next.State.Seq < int64(len(f.runIDs())) {
		t.Errorf("carried seq %d < %d persisted items", next.State.Seq, len(f.runIDs()))
	}
	seen := map[string]bool{}
	for _, id := range next.State.Seen {
		seen[id] = true
	}
	for _, id := range f.runIDs() {
		if !seen[id] {
			t.Errorf("processed id %s not carried in the seen ring", id)
		}
	}

	// The next run, given the carried state, does not store a redelivered result again.
	f2 := newFake(c)
	env2 := newEnv(t, f2)
	env2.RegisterDelayedCallback(func() {
		env2.SignalWorkflow(SignalCheckResult, CheckResult{ID: "ext-0", ConfigurationID: cfgA, Status: health.Healthy, ExecutedAt: t0})
	}, 500*time.Millisecond)
	endAt(env2, f2, 800*time.Millisecond)
	env2.ExecuteWorkflow(SystemHealthWorkflow, next)
	requireCompleted(t, env2)
	if slices.Contains(f2.runIDs(), "sys-1:ext:ext-0") {
		t.Error("a result processed before continue-as-new was stored again after it")
	}
	if len(f2.probes) > 0 && len(f.probes) > 0 && f2.probes[0].ResultID == f.probes[0].ResultID {
		t.Error("probe ids restarted after continue-as-new")
	}
	t.Logf("%d of %d sent items processed before continue-as-new; %d probes", delivered, len(sent), len(f.probes))
}

// An entity started for a system whose checks are all gone clears the stored view and ends.
func TestStartWithoutChecksClearsLeftoverView(t *testing.T) {
	f := newFake()
	f.system.View = &health.View{Status: health.Degraded, HealthyChecks: 0, TotalChecks: 1}
	f.system.Seq = 7
	env := newEnv(t, f)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.persisted) != 1 || f.persisted[0].View != nil || f.persisted[0].Seq != 8 || len(f.persisted[0].Events) != 0 {
		t.Fatalf("persisted %+v, want one tombstone at seq 8 without events", f.persisted)
	}
}

// Flap detection (issue 13, acceptance 2 in the entity): a check that alternates pass/fail on
// every run (degraded from one failure) makes the check and the system flap — one
// flapping_started each, written before the step's transition events — and 15 healthy runs in a
// row end it with one flapping_stopped each carrying the current status. Meanwhile every
// transition is still recorded.
func TestFlappingStartsAndStopsOnce(t *testing.T) {
	c := check(cfgA, 1, consecutiveTh(1))
	f := newFake(c)
	f.outcome = func(n int) health.Status {
		if n <= 20 && n%2 == 0 {
			return health.Unhealthy
		}
		return health.Healthy
	}
	env := newEnv(t, f)
	endAt(env, f, 60*time.Second)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	f.mu.Lock()
	defer f.mu.Unlock()
	var flaps []string
	for _, p := range f.persisted {
		for i, ev := range p.Events {
			if ev.Type != health.EventFlappingStarted && ev.Type != health.EventFlappingStopped {
				continue
			}
			scope := "system"
			if ev.Discriminator != "" {
				scope = "check"
			}
			flaps = append(flaps, scope+" "+ev.Type)
			for _, later := range p.Events[:i] {
				if later.Type == health.EventSystemHealthChanged {
					t.Errorf("seq %d: the transition event came before %s", p.Seq, ev.Type)
				}
			}
			if ev.Type == health.EventFlappingStopped && ev.Payload["status"] != string(health.Healthy) {
				t.Errorf("flapping stopped with status %v, want healthy", ev.Payload["status"])
			}
		}
	}
	want := []string{"system " + health.EventFlappingStarted, "check " + health.EventFlappingStarted,
		"system " + health.EventFlappingStopped, "check " + health.EventFlappingStopped}
	if !slices.Equal(flaps, want) {
		t.Errorf("flap events %v, want %v", flaps, want)
	}
	if n := len(f.transitionsLocked()); n < 19 {
		t.Errorf("%d transitions, want every change recorded while flapping", n)
	}
}

func consecutiveTh(degraded int) *health.Thresholds {
	return &health.Thresholds{Mode: health.ModeConsecutive, Healthy: health.SuccessThreshold{MinSuccessCount: 1},
		Degraded: health.FailureThreshold{MinFailureCount: degraded}, Unhealthy: health.FailureThreshold{MinFailureCount: 1000}}
}

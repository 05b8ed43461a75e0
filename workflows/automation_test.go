package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

// automationFake stands in for the store and the action executors.
type automationFake struct {
	mu          sync.Mutex
	cfg         AutomationConfig
	occurrences map[string][]time.Time // by partition
	ran         []string               // action keys, in order
}

func (f *automationFake) load(_ context.Context, id string) (AutomationConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg, nil
}

func (f *automationFake) record(_ context.Context, req RecordOccurrenceRequest) (RecordOccurrenceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var prior []time.Time
	for _, at := range f.occurrences[req.PartitionKey] {
		if !at.Before(req.Since) {
			prior = append(prior, at)
		}
	}
	f.occurrences[req.PartitionKey] = append(f.occurrences[req.PartitionKey], req.At)
	return RecordOccurrenceResponse{Inserted: true, Prior: prior}, nil
}

func (f *automationFake) run(_ context.Context, req RunAutomationActionRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Key != health.AutomationActionKey(req.Event.Key, req.AutomationID, req.Index) {
		return fmt.Errorf("action key %q", req.Key)
	}
	f.ran = append(f.ran, req.Key)
	return nil
}

func (f *automationFake) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ran)
}

func newAutomationEnv(t *testing.T, f *automationFake) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.RegisterWorkflowWithOptions(Automation, workflow.RegisterOptions{Name: AutomationWorkflow})
	env.RegisterActivityWithOptions(f.load, activity.RegisterOptions{Name: ActivityLoadAutomation})
	env.RegisterActivityWithOptions(f.record, activity.RegisterOptions{Name: ActivityRecordOccurrence})
	env.RegisterActivityWithOptions(f.run, activity.RegisterOptions{Name: ActivityRunAutomationAction})
	return env
}

func autoEvent(key, partition string, at time.Time) AutomationEvent {
	return AutomationEvent{Key: key, Type: health.EventSystemHealthChanged, Payload: json.RawMessage(`{"systemId":"` + partition + `"}`),
		At: at, PartitionKey: partition, Revision: 1}
}

// The gate of the automation workflow, case by case: events signalled at offsets (from t0) with
// their partitions; the actions (two per fire) run for exactly the events that fire.
func TestAutomationWorkflowGate(t *testing.T) {
	type sent struct {
		key, partition string
		at             time.Duration
	}
	ev := func(key, p string, at time.Duration) sent { return sent{key, p, at} }
	cases := []struct {
		name     string
		window   *health.WindowConfig
		cooldown int
		events   []sent
		fired    []string
	}{
		{"no window: every event fires", nil, 0,
			[]sent{ev("e1", "s1", time.Second), ev("e2", "s1", 2*time.Second)}, []string{"e1", "e2"}},
		{"a redelivered event fires once", nil, 0,
			[]sent{ev("e1", "s1", time.Second), ev("e1", "s1", 2*time.Second)}, []string{"e1"}},
		{"window 3 in 10 min: fires on the 3rd, and on every later one (refire every)", &health.WindowConfig{Count: 3, Minutes: 10, Refire: health.RefireEvery}, 0,
			[]sent{ev("e1", "s1", time.Second), ev("e2", "s1", time.Minute), ev("e3", "s1", 2*time.Minute), ev("e4", "s1", 3*time.Minute)}, []string{"e3", "e4"}},
		{"refire once: only when the count reaches 3", &health.WindowConfig{Count: 3, Minutes: 10, Refire: health.RefireOnce}, 0,
			[]sent{ev("e1", "s1", time.Second), ev("e2", "s1", time.Minute), ev("e3", "s1", 2*time.Minute), ev("e4", "s1", 3*time.Minute)}, []string{"e3"}},
		{"occurrences outside the window do not count", &health.WindowConfig{Count: 2, Minutes: 5, Refire: health.RefireEvery}, 0,
			[]sent{ev("e1", "s1", time.Second), ev("e2", "s1", 10*time.Minute), ev("e3", "s1", 12*time.Minute)}, []string{"e3"}},
		{"partitions are counted apart", &health.WindowConfig{Count: 2, Minutes: 10, Refire: health.RefireEvery}, 0,
			[]sent{ev("e1", "s1", time.Second), ev("e2", "s2", time.Minute), ev("e3", "s2", 2*time.Minute)}, []string{"e3"}},
		{"cooldown suppresses within 60 s, per partition", nil, 60,
			[]sent{ev("e1", "s1", time.Second), ev("e2", "s1", 30*time.Second), ev("e3", "s2", 31*time.Second), ev("e4", "s1", 61*time.Second)}, []string{"e1", "e3", "e4"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &automationFake{occurrences: map[string][]time.Time{}, cfg: AutomationConfig{Found: true, ID: "a1", Name: "n", Revision: 1, Enabled: true,
				Window: c.window, CooldownSeconds: c.cooldown, Actions: []AutomationAction{{Type: "webhook"}, {Type: "run_check"}}}}
			env := newAutomationEnv(t, f)
			for _, s := range c.events {
				env.RegisterDelayedCallback(func() {
					env.SignalWorkflow(SignalAutomationEvent, autoEvent(s.key, s.partition, t0.Add(s.at)))
				}, s.at)
			}
			last := c.events[len(c.events)-1].at
			env.RegisterDelayedCallback(func() {
				f.mu.Lock()
				f.cfg.Found = false
				f.mu.Unlock()
				env.SignalWorkflow(SignalAutomationChanged, nil)
			}, last+time.Second)
			env.ExecuteWorkflow(AutomationWorkflow, AutomationInput{AutomationID: "a1"})
			requireCompleted(t, env)
			var want []string
			for _, k := range c.fired {
				want = append(want, health.AutomationActionKey(k, "a1", 0), health.AutomationActionKey(k, "a1", 1))
			}
			got := f.keys()
			slices.Sort(got) // the actions of a fire run concurrently
			if !slices.Equal(got, want) {
				t.Errorf("actions ran %v, want %v", got, want)
			}
		})
	}
}

// An event matched with a newer revision makes the workflow reload; disabled, it does not act,
// and the workflow ends once idle.
func TestAutomationWorkflowDisabledEnds(t *testing.T) {
	f := &automationFake{occurrences: map[string][]time.Time{}, cfg: AutomationConfig{Found: true, ID: "a1", Revision: 1, Enabled: true,
		Actions: []AutomationAction{{Type: "webhook"}}}}
	env := newAutomationEnv(t, f)
	env.RegisterDelayedCallback(func() {
		f.mu.Lock()
		f.cfg.Enabled = false
		f.cfg.Revision = 2
		f.mu.Unlock()
		ev := autoEvent("e1", "s1", t0.Add(time.Second))
		ev.Revision = 2 // matched by a dispatcher that saw revision 2: the workflow reloads
		env.SignalWorkflow(SignalAutomationEvent, ev)
	}, time.Second)
	env.ExecuteWorkflow(AutomationWorkflow, AutomationInput{AutomationID: "a1"})
	requireCompleted(t, env)
	if got := f.keys(); len(got) > 0 {
		t.Errorf("a disabled automation acted: %v", got)
	}
}

// Continue-as-new carries the cooldowns, the seen events and what was not processed yet.
func TestAutomationWorkflowContinuesAsNewWithItsState(t *testing.T) {
	f := &automationFake{occurrences: map[string][]time.Time{}, cfg: AutomationConfig{Found: true, ID: "a1", Revision: 1, Enabled: true,
		CooldownSeconds: 3600, Actions: []AutomationAction{{Type: "webhook"}}}}
	env := newAutomationEnv(t, f)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalAutomationEvent, autoEvent("e1", "s1", t0.Add(time.Second)))
	}, time.Second)
	env.RegisterDelayedCallback(func() {
		env.SetContinueAsNewSuggested(true)
		env.SignalWorkflow(SignalAutomationEvent, autoEvent("e2", "s2", t0.Add(2*time.Second)))
	}, 2*time.Second)
	env.ExecuteWorkflow(AutomationWorkflow, AutomationInput{AutomationID: "a1"})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next AutomationInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.State == nil || next.State.Cooldowns.Last("s1") == nil || !slices.Contains(next.State.Seen, "e1") || next.State.Fires < 1 {
		t.Fatalf("carried state %+v: want s1's cooldown, e1 seen and its fire", next.State)
	}
}

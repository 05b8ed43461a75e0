package workflows

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

// fakeNotify stands in for the notification activities: every plan gives one delivery per
// channel in chans; deliver answers with deliverErr.
type fakeNotify struct {
	mu         sync.Mutex
	env        *testsuite.TestWorkflowEnvironment
	chans      []string
	reminders  []ReminderChannel
	inMaint    bool
	endStatus  health.Status
	deliverErr func(id string, attempt int32) error
	delivered  []string
	attempts   map[string]int
	failed     map[string]string
	reminded   []time.Time
	plans      []string
}

func newFakeNotify() *fakeNotify {
	return &fakeNotify{chans: []string{"c1"}, attempts: map[string]int{}, failed: map[string]string{}}
}

func (f *fakeNotify) deliveries(key string) []PlannedDelivery {
	var out []PlannedDelivery
	for _, c := range f.chans {
		out = append(out, PlannedDelivery{ID: key + ":" + c, ChannelID: c})
	}
	return out
}

func (f *fakeNotify) planTransition(_ context.Context, req PlanTransitionRequest) (PlanResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans = append(f.plans, req.Transition.EventKey)
	if f.inMaint {
		return PlanResponse{InMaintenance: true, Suppressed: "maintenance", Status: req.Transition.To}, nil
	}
	return PlanResponse{Deliveries: f.deliveries(req.Transition.EventKey), Status: req.Transition.To, Reminders: f.reminders}, nil
}

func (f *fakeNotify) planCheckFailed(_ context.Context, req PlanCheckFailedRequest) (PlanResponse, error) {
	return PlanResponse{Deliveries: f.deliveries(req.CheckFailed.EventKey)}, nil
}

func (f *fakeNotify) planReminders(_ context.Context, req PlanRemindersRequest) (PlanResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reminded = append(f.reminded, req.At)
	var out PlanResponse
	for _, d := range req.Due {
		out.Deliveries = append(out.Deliveries, PlannedDelivery{ID: fmt.Sprintf("rem:%d:%s", d.Count, d.ChannelID), ChannelID: d.ChannelID})
	}
	out.Reminders = f.reminders
	return out, nil
}

func (f *fakeNotify) planMaintenanceEnd(_ context.Context, req PlanMaintenanceEndRequest) (PlanResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans = append(f.plans, "end:"+req.WindowID)
	return PlanResponse{Deliveries: f.deliveries("end:" + req.WindowID), Status: f.endStatus, Reminders: f.reminders}, nil
}

func (f *fakeNotify) deliver(ctx context.Context, req DeliverRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts[req.DeliveryID]++
	if f.deliverErr != nil {
		if err := f.deliverErr(req.DeliveryID, activity.GetInfo(ctx).Attempt); err != nil {
			return err
		}
	}
	f.delivered = append(f.delivered, req.DeliveryID)
	return nil
}

func (f *fakeNotify) failDelivery(_ context.Context, req FailDeliveryRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed[req.DeliveryID] = req.Reason
	return nil
}

func (f *fakeNotify) snapshot() (delivered []string, reminded []time.Time, plans []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.delivered), slices.Clone(f.reminded), slices.Clone(f.plans)
}

func newNotifierEnv(t *testing.T, f *fakeNotify) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	f.env = env
	env.RegisterWorkflowWithOptions(SystemNotifier, workflow.RegisterOptions{Name: NotifierWorkflow})
	env.RegisterActivityWithOptions(f.planTransition, activity.RegisterOptions{Name: ActivityPlanTransition})
	env.RegisterActivityWithOptions(f.planCheckFailed, activity.RegisterOptions{Name: ActivityPlanCheckFailed})
	env.RegisterActivityWithOptions(f.planReminders, activity.RegisterOptions{Name: ActivityPlanReminders})
	env.RegisterActivityWithOptions(f.planMaintenanceEnd, activity.RegisterOptions{Name: ActivityPlanMaintenanceEnd})
	env.RegisterActivityWithOptions(f.deliver, activity.RegisterOptions{Name: ActivityDeliver})
	env.RegisterActivityWithOptions(f.failDelivery, activity.RegisterOptions{Name: ActivityFailDelivery})
	return env
}

func transition(seq int64, from, to health.Status, at time.Time) NotifyTransition {
	return NotifyTransition{EventKey: fmt.Sprintf("sys-1:%d:healthcheck.system_health_changed", seq), Seq: seq, From: from, To: to, At: at}
}

// signalAt sends a signal to the notifier d after the start.
func signalAt(env *testsuite.TestWorkflowEnvironment, d time.Duration, name string, arg any) {
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(name, arg) }, d)
}

func TestNotifierDeliversTransitionsInOrderOnce(t *testing.T) {
	f := newFakeNotify()
	f.chans = []string{"c1", "c2"}
	env := newNotifierEnv(t, f)
	signalAt(env, time.Second, SignalNotifyTransition, transition(1, health.Healthy, health.Degraded, t0))
	signalAt(env, 2*time.Second, SignalNotifyTransition, transition(2, health.Degraded, health.Unhealthy, t0))
	// The outbox hands a transition over again (at least once): it is dropped.
	signalAt(env, 3*time.Second, SignalNotifyTransition, transition(2, health.Degraded, health.Unhealthy, t0))
	signalAt(env, 4*time.Second, SignalNotifyTransition, transition(3, health.Unhealthy, health.Healthy, t0))
	env.ExecuteWorkflow(SystemNotifier, NotifierInput{SystemID: "sys-1", Options: NotifierOptions{IdleTimeout: time.Minute}})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("notifier did not end when idle: completed=%v err=%v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	delivered, _, plans := f.snapshot()
	if len(plans) != 3 {
		t.Fatalf("planned %v, want three transitions (the repeat dropped)", plans)
	}
	for _, ch := range []string{"c1", "c2"} {
		var got []string
		for _, id := range delivered {
			if len(id) > 3 && id[len(id)-2:] == ch {
				got = append(got, id)
			}
		}
		want := []string{
			"sys-1:1:healthcheck.system_health_changed:" + ch,
			"sys-1:2:healthcheck.system_health_changed:" + ch,
			"sys-1:3:healthcheck.system_health_changed:" + ch,
		}
		if !slices.Equal(got, want) {
			t.Errorf("channel %s got %v, want %v", ch, got, want)
		}
	}
}

func TestNotifierKeepsChannelOrderAcrossRetries(t *testing.T) {
	f := newFakeNotify()
	// The escalation fails twice; the recovery, planned meanwhile, must wait for it.
	f.deliverErr = func(id string, attempt int32) error {
		if id == "sys-1:1:healthcheck.system_health_changed:c1" && attempt < 3 {
			return temporal.NewApplicationError("HTTP 500", "DeliveryFailed")
		}
		return nil
	}
	env := newNotifierEnv(t, f)
	signalAt(env, time.Second, SignalNotifyTransition, transition(1, health.Healthy, health.Unhealthy, t0))
	signalAt(env, 1500*time.Millisecond, SignalNotifyTransition, transition(2, health.Unhealthy, health.Healthy, t0))
	env.ExecuteWorkflow(SystemNotifier, NotifierInput{SystemID: "sys-1", Options: NotifierOptions{IdleTimeout: time.Minute}})
	delivered, _, _ := f.snapshot()
	want := []string{"sys-1:1:healthcheck.system_health_changed:c1", "sys-1:2:healthcheck.system_health_changed:c1"}
	if !slices.Equal(delivered, want) {
		t.Fatalf("delivered %v, want %v", delivered, want)
	}
	if n := f.attempts[want[0]]; n != 3 {
		t.Errorf("escalation attempts = %d, want 3", n)
	}
}

func TestNotifierGivesUpAndRecordsFailure(t *testing.T) {
	f := newFakeNotify()
	f.deliverErr = func(string, int32) error { return temporal.NewApplicationError("connection refused", "DeliveryFailed") }
	env := newNotifierEnv(t, f)
	signalAt(env, time.Second, SignalNotifyTransition, transition(1, health.Healthy, health.Unhealthy, t0))
	env.ExecuteWorkflow(SystemNotifier, NotifierInput{SystemID: "sys-1", Options: NotifierOptions{
		GiveUpAfter: time.Hour, MaxRetryInterval: 10 * time.Minute, IdleTimeout: time.Minute}})
	id := "sys-1:1:healthcheck.system_health_changed:c1"
	if got := f.failed[id]; got == "" {
		t.Fatalf("delivery not recorded as failed; failed=%v", f.failed)
	}
	if got := f.failed[id]; got != "gave up: connection refused" {
		t.Errorf("failure reason %q, want the last error, marked as given up", got)
	}
	if n := f.attempts[id]; n < 5 {
		t.Errorf("attempts = %d: the delivery was not retried", n)
	}
}

func TestNotifierRemindsAtCadenceUntilRecovery(t *testing.T) {
	f := newFakeNotify()
	f.reminders = []ReminderChannel{{ChannelID: "c1", EverySeconds: 30}}
	env := newNotifierEnv(t, f)
	signalAt(env, time.Second, SignalNotifyTransition, transition(1, health.Healthy, health.Unhealthy, t0.Add(time.Second)))
	// Recovery after 100 s: reminders at +31, +61, +91 s only.
	signalAt(env, 101*time.Second, SignalNotifyTransition, transition(2, health.Unhealthy, health.Healthy, t0.Add(101*time.Second)))
	env.ExecuteWorkflow(SystemNotifier, NotifierInput{SystemID: "sys-1", Options: NotifierOptions{IdleTimeout: 5 * time.Minute}})
	delivered, reminded, _ := f.snapshot()
	want := []time.Time{t0.Add(31 * time.Second), t0.Add(61 * time.Second), t0.Add(91 * time.Second)}
	if !slices.EqualFunc(reminded, want, time.Time.Equal) {
		t.Fatalf("reminders at %v, want %v", reminded, want)
	}
	if !slices.Contains(delivered, "rem:3:c1") || slices.Contains(delivered, "rem:4:c1") {
		t.Errorf("delivered %v: want reminders 1–3 and no 4th", delivered)
	}
}

func TestNotifierMaintenanceSilencesRemindersAndEndReplans(t *testing.T) {
	f := newFakeNotify()
	f.reminders = []ReminderChannel{{ChannelID: "c1", EverySeconds: 60}}
	f.endStatus = health.Unhealthy
	env := newNotifierEnv(t, f)
	signalAt(env, time.Second, SignalNotifyTransition, transition(1, health.Healthy, health.Unhealthy, t0))
	signalAt(env, 10*time.Second, SignalNotifyMaintenance, NotifyMaintenance{WindowID: "w1", Started: true, At: t0.Add(10 * time.Second)})
	// Ends at +300 s: one end plan, then reminders again from there (at +360 s) until recovery.
	signalAt(env, 300*time.Second, SignalNotifyMaintenance, NotifyMaintenance{WindowID: "w1", At: t0.Add(300 * time.Second)})
	signalAt(env, 370*time.Second, SignalNotifyTransition, transition(2, health.Unhealthy, health.Healthy, t0.Add(370*time.Second)))
	env.ExecuteWorkflow(SystemNotifier, NotifierInput{SystemID: "sys-1", Options: NotifierOptions{IdleTimeout: 5 * time.Minute}})
	_, reminded, plans := f.snapshot()
	if want := []time.Time{t0.Add(360 * time.Second)}; !slices.EqualFunc(reminded, want, time.Time.Equal) {
		t.Errorf("reminders at %v, want %v (none during the window)", reminded, want)
	}
	if !slices.Contains(plans, "end:w1") {
		t.Errorf("plans %v: the window's end was not planned", plans)
	}
}

func TestNotifierSuppressedTransitionSetsNoReminders(t *testing.T) {
	f := newFakeNotify()
	f.reminders = []ReminderChannel{{ChannelID: "c1", EverySeconds: 30}}
	f.inMaint = true
	env := newNotifierEnv(t, f)
	signalAt(env, time.Second, SignalNotifyTransition, transition(1, health.Healthy, health.Unhealthy, t0))
	env.ExecuteWorkflow(SystemNotifier, NotifierInput{SystemID: "sys-1", Options: NotifierOptions{IdleTimeout: 5 * time.Minute}})
	delivered, reminded, _ := f.snapshot()
	if len(delivered) != 0 || len(reminded) != 0 {
		t.Fatalf("in maintenance: delivered %v, reminded %v; want nothing", delivered, reminded)
	}
}

// fakeWindow stands in for the maintenance activities.
type fakeWindow struct {
	mu    sync.Mutex
	info  MaintenanceInfo
	edges []MaintenanceEdgeRequest
}

func (f *fakeWindow) load(context.Context, string) (MaintenanceInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.info, nil
}

func (f *fakeWindow) edge(_ context.Context, req MaintenanceEdgeRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.edges = append(f.edges, req)
	if req.Final && req.Started {
		at := req.At
		f.info.StartedAt = &at
	} else if req.Final {
		at := req.At
		f.info.EndedAt = &at
	}
	return nil
}

func newWindowEnv(f *fakeWindow) *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.RegisterWorkflowWithOptions(MaintenanceWindow, workflow.RegisterOptions{Name: MaintenanceWorkflow})
	env.RegisterActivityWithOptions(f.load, activity.RegisterOptions{Name: ActivityLoadMaintenance})
	env.RegisterActivityWithOptions(f.edge, activity.RegisterOptions{Name: ActivityMaintenanceEdge})
	return env
}

func TestMaintenanceWindowStartsAndEndsOnTime(t *testing.T) {
	f := &fakeWindow{info: MaintenanceInfo{Found: true, SystemIDs: []string{"a", "b"}, StartsAt: t0.Add(time.Hour), EndsAt: t0.Add(2 * time.Hour)}}
	env := newWindowEnv(f)
	env.ExecuteWorkflow(MaintenanceWindow, MaintenanceInput{WindowID: "w1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(f.edges) != 2 {
		t.Fatalf("edges %+v, want start and end", f.edges)
	}
	start, end := f.edges[0], f.edges[1]
	if !start.Started || !start.Final || !start.At.Equal(t0.Add(time.Hour)) || !slices.Equal(start.SystemIDs, []string{"a", "b"}) {
		t.Errorf("start edge %+v, want started at +1h for a, b", start)
	}
	if end.Started || !end.Final || !end.At.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("end edge %+v, want ended at +2h", end)
	}
}

func TestMaintenanceWindowFollowsChanges(t *testing.T) {
	f := &fakeWindow{info: MaintenanceInfo{Found: true, SystemIDs: []string{"a", "b"}, StartsAt: t0.Add(time.Minute), EndsAt: t0.Add(time.Hour)}}
	env := newWindowEnv(f)
	// While active: b leaves the window and the end moves to +30 min.
	env.RegisterDelayedCallback(func() {
		f.mu.Lock()
		f.info.SystemIDs = []string{"a"}
		f.info.EndsAt = t0.Add(30 * time.Minute)
		f.mu.Unlock()
		env.SignalWorkflow(SignalMaintenanceChanged, nil)
	}, 10*time.Minute)
	env.ExecuteWorkflow(MaintenanceWindow, MaintenanceInput{WindowID: "w1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range f.edges {
		got = append(got, fmt.Sprintf("%v %v %s", e.Started, e.SystemIDs, e.At.Sub(t0)))
	}
	want := []string{"true [a b] 1m0s", "false [b] 10m0s", "false [a] 30m0s"}
	if !slices.Equal(got, want) {
		t.Fatalf("edges %v, want %v", got, want)
	}
}

func TestMaintenanceWindowDeletedWhileActiveEnds(t *testing.T) {
	f := &fakeWindow{info: MaintenanceInfo{Found: true, SystemIDs: []string{"a"}, StartsAt: t0.Add(-time.Minute), EndsAt: t0.Add(time.Hour)}}
	env := newWindowEnv(f)
	env.RegisterDelayedCallback(func() {
		f.mu.Lock()
		f.info = MaintenanceInfo{}
		f.mu.Unlock()
		env.SignalWorkflow(SignalMaintenanceChanged, nil)
	}, 5*time.Minute)
	env.ExecuteWorkflow(MaintenanceWindow, MaintenanceInput{WindowID: "w1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(f.edges) != 2 || !f.edges[0].Started || f.edges[1].Started || !f.edges[1].At.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("edges %+v, want a start now and an end at the deletion", f.edges)
	}
}

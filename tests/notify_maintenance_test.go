package tests

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/workflows"
)

type maintenanceDTO struct {
	ID        string     `json:"id"`
	State     string     `json:"state"`
	StartsAt  time.Time  `json:"startsAt"`
	StartedAt *time.Time `json:"startedAt"`
	EndedAt   *time.Time `json:"endedAt"`
}

func (a *apiStack) createMaintenance(t *testing.T, systems []string, startsAt, endsAt time.Time) maintenanceDTO {
	t.Helper()
	var m maintenanceDTO
	expectStatus(t, a.admin.Do("POST", "/api/v1/maintenances", map[string]any{
		"title": "maintenance " + t.Name(), "systemIds": systems,
		"startsAt": startsAt.UTC().Format(time.RFC3339Nano), "endsAt": endsAt.UTC().Format(time.RFC3339Nano),
	}), http.StatusCreated).Decode(t, &m)
	t.Cleanup(func() {
		_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.MaintenanceWorkflowID(m.ID), "", "test ended")
	})
	return m
}

func (a *apiStack) maintenance(t *testing.T, id string) maintenanceDTO {
	t.Helper()
	var m maintenanceDTO
	expectStatus(t, a.admin.Do("GET", "/api/v1/maintenances/"+id, nil), http.StatusOK).Decode(t, &m)
	return m
}

func (a *apiStack) inMaintenance(t *testing.T, systemID string) bool {
	t.Helper()
	var hs struct {
		InMaintenance bool `json:"inMaintenance"`
	}
	expectStatus(t, a.admin.Do("GET", "/api/v1/systems/"+systemID+"/health-state", nil), http.StatusOK).Decode(t, &hs)
	return hs.InMaintenance
}

// Issue 10, acceptance 3: a failure inside a window sends nothing and health-state says
// inMaintenance; the window ends while the system is unhealthy → exactly one notification.
func TestMaintenanceSilencesThenTellsOnce(t *testing.T) {
	t.Parallel()
	a := newAPIStackWith(t, stackOptions{notify: quickNotify()})
	rcv := newReceiver(t, "", nil)
	sys := a.system(t, "maintained")
	terminateNotifier(t, sys)
	a.webhookChannel(t, rcv, []string{sys}, nil)
	tg := newTarget(t)
	a.httpCheck(t, sys, "web", tg.srv.URL, 1, consecutiveThresholds(1, 2))
	if err := a.entities.ConfigChanged(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	a.waitStatus(t, sys, health.Healthy, 30*time.Second)

	m := a.createMaintenance(t, []string{sys}, time.Now(), time.Now().Add(12*time.Second))
	waitFor(t, 10*time.Second, "the window to start", func() (bool, error) { return a.maintenance(t, m.ID).StartedAt != nil, nil })
	if !a.inMaintenance(t, sys) {
		t.Fatal("health-state says inMaintenance false inside the window")
	}
	tg.code.Store(http.StatusInternalServerError)
	a.waitStatus(t, sys, health.Unhealthy, 30*time.Second)
	if n := len(rcv.all()); n != 0 {
		t.Fatalf("%d notifications during the window: %v", n, events(rcv.all()))
	}
	// The window ends with the system still unhealthy: one notification says so.
	posts := rcv.waitPosts(t, 1, 30*time.Second)
	if got := a.maintenance(t, m.ID); got.EndedAt == nil || got.State != "ended" {
		t.Fatalf("window after its end: %+v", got)
	}
	if a.inMaintenance(t, sys) {
		t.Fatal("health-state still says inMaintenance after the window")
	}
	notifierDone(t, sys, 30*time.Second)
	posts = rcv.all()
	if len(posts) != 1 || posts[0].msg.Event != notify.EventEscalation || posts[0].msg.Status != string(health.Unhealthy) {
		t.Fatalf("posts after the window %v, want exactly one escalation to unhealthy", events(posts))
	}
	if n := a.count(t, `SELECT count(*) FROM health_events WHERE system_id = $1 AND type IN ('maintenance.started', 'maintenance.ended')`, sys); n != 2 {
		t.Errorf("%d maintenance events, want started and ended", n)
	}
	// The histories of the window and of the notifier it spoke to replay.
	replayAll(t, workflows.MaintenanceWorkflowID(m.ID), workflows.MaintenanceWorkflow, "maintenance", workflows.MaintenanceWindow)
	replayAll(t, workflows.NotifierWorkflowID(sys), workflows.NotifierWorkflow, "notifier-maintenance", workflows.SystemNotifier)
}

// Issue 10, acceptance 3: a window created for the future starts within 2 s of startsAt.
func TestFutureMaintenanceStartsOnTime(t *testing.T) {
	t.Parallel()
	a := newAPIStackWith(t, stackOptions{notify: quickNotify()})
	sys := a.system(t, "future")
	terminateNotifier(t, sys)
	startsAt := time.Now().Add(3 * time.Second).Truncate(time.Millisecond)
	m := a.createMaintenance(t, []string{sys}, startsAt, startsAt.Add(time.Hour))
	if m.State != "scheduled" || a.inMaintenance(t, sys) {
		t.Fatalf("window %+v before its start: want scheduled, not in maintenance", m)
	}
	waitFor(t, 15*time.Second, "the window to start", func() (bool, error) { return a.maintenance(t, m.ID).StartedAt != nil, nil })
	got := a.maintenance(t, m.ID)
	if late := got.StartedAt.Sub(startsAt); late < 0 || late > 2*time.Second {
		t.Fatalf("window started %v after startsAt, want within 0–2 s", late)
	}
	if got.State != "active" || !a.inMaintenance(t, sys) {
		t.Fatalf("window %+v after its start: want active and in maintenance", got)
	}
	if n := a.count(t, `SELECT count(*) FROM health_events WHERE system_id = $1 AND type = 'maintenance.started'`, sys); n != 1 {
		t.Fatalf("%d maintenance.started events, want 1", n)
	}
}

package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// postSystems lists the payload's systemId of each webhook-action post, in order.
func postSystems(r *receiver) []string {
	var out []string
	for _, p := range r.all() {
		var body struct {
			Payload struct {
				SystemID string `json:"systemId"`
			} `json:"payload"`
		}
		_ = json.Unmarshal(p.body, &body)
		out = append(out, body.Payload.SystemID)
	}
	return out
}

func (s *stack) automation(t *testing.T, body string) string {
	t.Helper()
	spec, err := automation.Parse([]byte(body))
	if err != nil {
		t.Fatalf("automation %s: %v", body, err)
	}
	a, err := s.store.CreateAutomation(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.entities.AutomationChanged(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.AutomationWorkflowID(a.ID), "", "test ended")
	})
	return a.ID
}

// Issue 13, acceptance 1: automations end to end — outbox event → dispatcher (CEL filter,
// partition) → the automation's workflow (window gate, cooldown) → a signed webhook action.
// Two systems turn degraded (A twice, B once); four automations on system_health_changed:
//   - filter newStatus == "degraded": fires for each of the three degradations;
//   - filter newStatus == "unhealthy": never (the filter is false);
//   - window 2 in 60 min, partitioned by system: fires on A's second degradation only;
//   - cooldown 1 h: fires once per system.
//
// Then the prune job's sweep removes occurrences older than 24 h and keeps the recent ones.
func TestAutomationsEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t)
	all, never, windowed, cooled := newReceiver(t, "s3cret", nil), newReceiver(t, "", nil), newReceiver(t, "", nil), newReceiver(t, "", nil)
	hook := func(r *receiver, secret string) string {
		c := map[string]any{"type": "webhook", "config": map[string]any{"url": r.srv.URL}}
		if secret != "" {
			c["config"].(map[string]any)["secret"] = secret
		}
		b, _ := json.Marshal([]any{c})
		return string(b)
	}
	degraded := `"filter": "trigger.payload.newStatus == \"degraded\""`
	aAll := s.automation(t, `{"name": "all", "trigger": {"event": "healthcheck.system_health_changed", `+degraded+`}, "actions": `+hook(all, "s3cret")+`}`)
	s.automation(t, `{"name": "never", "trigger": {"event": "healthcheck.system_health_changed", "filter": "trigger.payload.newStatus == \"unhealthy\""}, "actions": `+hook(never, "")+`}`)
	aWin := s.automation(t, `{"name": "second", "trigger": {"event": "healthcheck.system_health_changed", `+degraded+`, "window": {"count": 2, "minutes": 60}}, "actions": `+hook(windowed, "")+`}`)
	s.automation(t, `{"name": "cooled", "trigger": {"event": "healthcheck.system_health_changed", `+degraded+`}, "cooldownSeconds": 3600, "actions": `+hook(cooled, "")+`}`)

	ta, tb := newTarget(t), newTarget(t)
	sa, sb := s.system(t, "a"), s.system(t, "b")
	s.httpCheck(t, sa, "api", ta.srv.URL, 1, consecutiveThresholds(1, 1000))
	s.httpCheck(t, sb, "api", tb.srv.URL, 1, consecutiveThresholds(1, 1000))
	for _, id := range []string{sa, sb} {
		if err := s.entities.ConfigChanged(ctx, id); err != nil {
			t.Fatal(err)
		}
		s.waitStatus(t, id, health.Healthy, 30*time.Second)
	}
	flip := func(tg *target, id string, code int, want health.Status) {
		tg.code.Store(int32(code))
		s.waitStatus(t, id, want, 30*time.Second)
	}
	flip(ta, sa, 500, health.Degraded)
	flip(ta, sa, 200, health.Healthy)
	flip(ta, sa, 500, health.Degraded)
	flip(tb, sb, 500, health.Degraded)

	waitFor(t, 60*time.Second, "three posts of the unfiltered-degraded automation", func() (bool, error) {
		return len(all.all()) >= 3, nil
	})
	waitFor(t, 30*time.Second, "the windowed and cooled automations", func() (bool, error) {
		return len(windowed.all()) >= 1 && len(cooled.all()) >= 2, nil
	})
	// Whatever was still in flight has arrived: the fires are recorded once each.
	waitFor(t, 30*time.Second, "every fire's outcome", func() (bool, error) {
		n := s.count(t, `SELECT count(*) FROM automation_fires WHERE outcome = 'succeeded'`)
		return n == 3+1+2, nil
	})
	if got := postSystems(all); !slices.Equal(got, []string{sa, sa, sb}) && !slices.Equal(got, []string{sa, sb, sa}) {
		t.Errorf("filter degraded: posts for %v, want A, A, B", got)
	}
	if n := len(never.all()); n != 0 {
		t.Errorf("the automation whose filter is false posted %d times", n)
	}
	if got := postSystems(windowed); !slices.Equal(got, []string{sa}) {
		t.Errorf("window 2 per system: posts for %v, want only A's second degradation", got)
	}
	if got := postSystems(cooled); len(got) != 2 || got[0] == got[1] {
		t.Errorf("cooldown 1 h: posts for %v, want A and B once each", got)
	}
	for _, p := range all.all() {
		if !all.signed(p) {
			t.Errorf("signature %q does not sign the body", p.signature)
		}
		var ev store.Event
		if err := s.pool.QueryRow(ctx, `SELECT idempotency_key FROM health_events WHERE type = $1 AND $2 LIKE idempotency_key || ':%'`,
			health.EventSystemHealthChanged, p.deliveryID).Scan(&ev.IdempotencyKey); err != nil {
			t.Errorf("delivery id %q is not <event key>:<automation>:<index> of a stored event: %v", p.deliveryID, err)
		} else if p.deliveryID != health.AutomationActionKey(ev.IdempotencyKey, aAll, 0) {
			t.Errorf("delivery id %q, want %q", p.deliveryID, health.AutomationActionKey(ev.IdempotencyKey, aAll, 0))
		}
	}
	// The windowed automation recorded an occurrence per degradation, per system.
	if n := s.count(t, `SELECT count(*) FROM automation_occurrences WHERE automation_id = $1`, aWin); n != 3 {
		t.Errorf("%d occurrences of the windowed automation, want 3", n)
	}

	// The 24 h sweep (prune job): an occurrence 25 h old goes, the recent ones stay.
	if _, err := s.store.InsertOccurrence(ctx, store.Occurrence{AutomationID: aWin, PartitionKey: sa, EventKey: "old", At: time.Now().Add(-25 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	run, err := shared.temporal.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "prune-" + s.queue, TaskQueue: s.queue},
		workflows.PruneJobWorkflow, workflows.JobInput{})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.JobResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Report.OccurrencesDeleted != 1 {
		t.Errorf("the sweep deleted %d occurrences, want the one 25 h old", res.Report.OccurrencesDeleted)
	}
	if n := s.count(t, `SELECT count(*) FROM automation_occurrences WHERE automation_id = $1`, aWin); n != 3 {
		t.Errorf("%d occurrences left after the sweep, want the 3 recent ones", n)
	}
	replayAll(t, workflows.AutomationWorkflowID(aWin), workflows.AutomationWorkflow, "automation", workflows.Automation)
}

// Issue 13, acceptance 4: the worker is killed hard while a fired action runs (a run_check
// whose probe the target holds); a new worker retries the action with the same key: the check
// is run once (one run stored under <system>:run:<key>) and the fire's outcome is recorded once.
func TestAutomationActionAcrossWorkerKill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newChildStack(t)

	var mu sync.Mutex
	held := 0
	first, release := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	probed := newTargetFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		held++
		n := held
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release // hold the first probe until its worker is dead
		}
	})
	// S2's check is paused (its cadence never probes): only the automation's run_check reaches the
	// target.
	s2 := s.system(t, "acted-on")
	cfgJSON, _ := json.Marshal(map[string]any{"timeout": 30000})
	collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{"url": probed.URL, "timeout": 30000}}})
	c2, err := s.store.CreateConfiguration(ctx, store.ConfigurationInput{Name: "held", StrategyID: "http", Config: cfgJSON, Collectors: collectors, IntervalSeconds: 60, Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.store.Associate(ctx, store.AssociateInput{SystemID: s2, ConfigurationID: c2.ID}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.SystemWorkflowID(s2), "", "test ended")
	})
	id := s.automation(t, `{"name": "rerun", "trigger": {"event": "healthcheck.system_degraded"},
		"actions": [{"type": "run_check", "config": {"systemId": "`+s2+`", "configurationId": "`+c2.ID+`"}}]}`)

	w1 := startWorkerProcess(t, s.dbURL, s.queue, s.probes)
	s1 := s.system(t, "failing")
	tg := newTarget(t)
	tg.code.Store(http.StatusInternalServerError)
	s.httpCheck(t, s1, "down", tg.srv.URL, 1, consecutiveThresholds(1, 1000))
	if err := s.entities.ConfigChanged(ctx, s1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first:
	case <-time.After(60 * time.Second):
		t.Fatal("the automation's run_check never probed")
	}
	if err := w1.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = w1.Wait()
	startWorkerProcess(t, s.dbURL, s.queue, s.probes)
	close(release)

	var key string
	waitFor(t, 90*time.Second, "the fire's outcome", func() (bool, error) {
		var outcome string
		err := s.pool.QueryRow(ctx, `SELECT id, outcome FROM automation_fires WHERE automation_id = $1`, id).Scan(&key, &outcome)
		return err == nil && outcome == "succeeded", nil
	})
	if n := s.count(t, `SELECT count(*) FROM automation_fires WHERE automation_id = $1`, id); n != 1 {
		t.Errorf("%d fire rows, want 1", n)
	}
	if n := s.count(t, `SELECT count(*) FROM health_check_runs WHERE id = $1`, health.RunNowRunID(s2, key)); n != 1 {
		t.Errorf("%d runs stored under %s, want 1", n, health.RunNowRunID(s2, key))
	}
	if n := s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1`, s2); n != 1 {
		t.Errorf("%d runs of the acted-on system, want the run_check's one", n)
	}
	mu.Lock()
	t.Logf("the target saw %d probe(s) (the held one and its retry after the kill)", held)
	mu.Unlock()
}

// The notify and set_assignment_enabled actions end to end: a system turns degraded; its
// automation sends a message rendered from its templates through a notification channel (a
// webhook receiver) and disables another check's assignment (the entity is told and drops it).
func TestAutomationNotifyAndDisableActions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t)
	rcv := newReceiver(t, "", nil)
	cfg, _ := json.Marshal(map[string]any{"url": rcv.srv.URL})
	// Subscribed to nothing the system's transitions would send (check_failed only): every post
	// comes from the automation.
	ch, err := s.store.CreateChannel(ctx, store.ChannelInput{Name: "ops", Type: "webhook", Config: cfg, Enabled: true,
		Systems: []string{"nobody"}, Events: []string{"check_failed"}})
	if err != nil {
		t.Fatal(err)
	}
	sys := s.system(t, "acted")
	tg, other := newTarget(t), newTarget(t)
	s.httpCheck(t, sys, "api", tg.srv.URL, 1, consecutiveThresholds(1, 1000))
	spare := s.httpCheck(t, sys, "spare", other.srv.URL, 1, nil)
	body, _ := json.Marshal(map[string]any{"name": "notify and disable",
		"trigger": map[string]any{"event": health.EventSystemDegraded},
		"actions": []any{
			map[string]any{"type": "notify", "config": map[string]any{"channelId": ch.ID,
				"title": "{{.Payload.systemId}} went {{.Payload.newStatus}}", "body": "automation {{.AutomationID}}"}},
			map[string]any{"type": "set_assignment_enabled", "config": map[string]any{"systemId": sys, "configurationId": spare, "enabled": false}},
		}})
	id := s.automation(t, string(body))
	if err := s.entities.ConfigChanged(ctx, sys); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(t, sys, health.Healthy, 30*time.Second)
	tg.code.Store(http.StatusInternalServerError)
	s.waitStatus(t, sys, health.Degraded, 30*time.Second)

	posts := rcv.waitPosts(t, 1, 30*time.Second)
	if got, want := posts[0].msg.Title, sys+" went degraded"; got != want {
		t.Errorf("notify title %q, want %q", got, want)
	}
	if got, want := posts[0].msg.Body, "automation "+id; got != want {
		t.Errorf("notify body %q, want %q", got, want)
	}
	waitFor(t, 30*time.Second, "the spare check's assignment to be disabled and dropped by the entity", func() (bool, error) {
		a, err := s.store.GetAssignment(ctx, sys, spare)
		if err != nil || a.Enabled {
			return false, err
		}
		v := s.view(t, sys)
		return v != nil && v.TotalChecks == 1, nil
	})
	waitFor(t, 30*time.Second, "both outcomes", func() (bool, error) {
		n := s.count(t, `SELECT count(*) FROM automation_fires WHERE automation_id = $1 AND outcome = 'succeeded'`, id)
		return n == 2, nil
	})
}

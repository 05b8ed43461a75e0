package tests

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/metrics"
	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// quickNotify makes notifiers end soon after their last work (tests wait for that) and
// channels fail after three attempts.
func quickNotify() worker.NotifyConfig {
	return worker.NotifyConfig{Notifier: workflows.NotifierOptions{IdleTimeout: 2 * time.Second}, FailingAfter: 3}
}

// Issue 10, acceptance 1: healthy → degraded → unhealthy → healthy sends one escalation per
// escalating transition and one recovery, signed, each with a delivery id not seen before; with
// suppressDeEscalations an unhealthy → degraded step sends nothing.
func TestNotificationsFollowTransitions(t *testing.T) {
	t.Parallel()
	a := newAPIStackWith(t, stackOptions{notify: quickNotify()})
	rcv := newReceiver(t, "hook-secret-1", nil)
	sys := a.system(t, "notified")
	terminateNotifier(t, sys)
	a.webhookChannel(t, rcv, []string{sys}, nil)

	tA, tB := newTarget(t), newTarget(t)
	// A: degraded after 1 failure, unhealthy after 2. B: degraded after 1, never unhealthy.
	a.httpCheck(t, sys, "a", tA.srv.URL, 1, consecutiveThresholds(1, 2))
	a.httpCheck(t, sys, "b", tB.srv.URL, 1, consecutiveThresholds(1, 1000))
	if err := a.entities.ConfigChanged(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	a.waitStatus(t, sys, health.Healthy, 30*time.Second)

	// Phase 1, no suppression: A fails (degraded, then unhealthy), then passes.
	tA.code.Store(http.StatusInternalServerError)
	a.waitStatus(t, sys, health.Unhealthy, 30*time.Second)
	tA.code.Store(http.StatusOK)
	a.waitStatus(t, sys, health.Healthy, 30*time.Second)
	posts := rcv.waitPosts(t, 3, 30*time.Second)
	want := []string{"escalation healthy→degraded", "escalation degraded→unhealthy", "recovery unhealthy→healthy"}
	if got := events(posts); !slices.Equal(got, want) {
		t.Fatalf("phase 1 posts %v, want %v", got, want)
	}

	// Phase 2, suppressDeEscalations (platform default): B degrades, A fails (unhealthy), A
	// passes (unhealthy → degraded: silent), B passes (recovery).
	if err := a.store.SetNotificationDefaults(context.Background(), health.NotificationPolicy{SuppressDeEscalations: true}); err != nil {
		t.Fatal(err)
	}
	tB.code.Store(http.StatusInternalServerError)
	a.waitStatus(t, sys, health.Degraded, 30*time.Second)
	tA.code.Store(http.StatusInternalServerError)
	a.waitStatus(t, sys, health.Unhealthy, 30*time.Second)
	tA.code.Store(http.StatusOK)
	a.waitStatus(t, sys, health.Degraded, 30*time.Second)
	tB.code.Store(http.StatusOK)
	a.waitStatus(t, sys, health.Healthy, 30*time.Second)
	// The recovery is planned after the de-escalation (one notifier, in order): once it
	// arrived and the notifier is idle, nothing else can come.
	rcv.waitPosts(t, 6, 30*time.Second)
	notifierDone(t, sys, 30*time.Second)
	posts = rcv.all()
	want = append(want, "escalation healthy→degraded", "escalation degraded→unhealthy", "recovery degraded→healthy")
	if got := events(posts); !slices.Equal(got, want) {
		t.Fatalf("posts %v, want %v", got, want)
	}
	if n := a.count(t, `SELECT count(*) FROM health_check_state_transitions WHERE system_id = $1 AND from_status = 'unhealthy' AND to_status = 'degraded'`, sys); n != 1 {
		t.Fatalf("%d unhealthy → degraded transitions, want the one that was not notified", n)
	}
	seen := map[string]bool{}
	for _, p := range posts {
		if !rcv.signed(p) {
			t.Errorf("post %s: signature %q does not match the body", p.deliveryID, p.signature)
		}
		if p.deliveryID == "" || p.deliveryID != p.msg.ID || seen[p.deliveryID] {
			t.Errorf("post delivery id %q (body id %q): empty, mismatched or seen before", p.deliveryID, p.msg.ID)
		}
		seen[p.deliveryID] = true
		if p.msg.System.ID != sys || len(p.msg.Checks) != 2 || p.msg.Title == "" {
			t.Errorf("post %s: system %+v, %d checks, title %q", p.deliveryID, p.msg.System, len(p.msg.Checks), p.msg.Title)
		}
	}
	if p := posts[1]; p.msg.Importance != health.ImportanceCritical || !strings.HasPrefix(p.msg.Title, "System health critical: ") {
		t.Errorf("unhealthy notification %q importance %s", p.msg.Title, p.msg.Importance)
	}
}

// Issue 10, acceptance 2 (first part): a receiver answering 500 twice, then 200, gets the same
// delivery three times; one row, sent, attempts = 3.
func TestDeliveryIsRetriedUntilAccepted(t *testing.T) {
	t.Parallel()
	reg := metrics.New(metrics.Options{})
	a := newAPIStackWith(t, stackOptions{notify: quickNotify(), metrics: reg})
	rcv := newReceiver(t, "", func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	sys := a.system(t, "retried")
	terminateNotifier(t, sys)
	ch := a.webhookChannel(t, rcv, []string{"*"}, nil)
	tg := newTarget(t)
	tg.code.Store(http.StatusInternalServerError)
	a.httpCheck(t, sys, "down", tg.srv.URL, 1, consecutiveThresholds(1, 1000))
	if err := a.entities.ConfigChanged(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	posts := rcv.waitPosts(t, 3, 60*time.Second)
	notifierDone(t, sys, 30*time.Second)
	if len(rcv.all()) != 3 {
		t.Fatalf("receiver got %d posts, want 3", len(rcv.all()))
	}
	for _, p := range posts {
		if p.deliveryID != posts[0].deliveryID {
			t.Fatalf("retries carry different delivery ids: %q and %q", posts[0].deliveryID, p.deliveryID)
		}
	}
	ds := a.deliveries(t, ch)
	if len(ds) != 1 || ds[0].Status != "sent" || ds[0].Attempts != 3 || ds[0].ID != posts[0].deliveryID {
		t.Fatalf("delivery rows %+v, want one sent after 3 attempts with id %s", ds, posts[0].deliveryID)
	}
	// The worker's metrics count the same attempts (issue 15: deliveries by outcome).
	attempts := map[string]float64{}
	mfs, err := reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metrics.NameDeliveryAttempts {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["channel_type"] == "webhook" {
				attempts[labels["outcome"]] = m.GetCounter().GetValue()
			}
		}
	}
	if attempts[metrics.DeliveryFailed] != 2 || attempts[metrics.DeliverySent] != 1 || attempts[metrics.DeliveryRejected] != 0 {
		t.Errorf("webhook delivery attempts by outcome %v, want failed 2, sent 1, rejected 0", attempts)
	}
}

// Issue 10, acceptance 2 (second part): the receiver is down for 60 s, then up: the delivery
// arrives after it returns.
func TestDeliverySurvivesReceiverOutage(t *testing.T) {
	t.Parallel()
	a := newAPIStackWith(t, stackOptions{notify: quickNotify()})
	// Reserve a port, then close it: connections are refused until the receiver starts on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	sys := a.system(t, "outage")
	terminateNotifier(t, sys)
	ch := a.createChannel(t, map[string]any{"name": "later", "type": "webhook", "config": map[string]any{"url": "http://" + addr + "/hook"}})
	tg := newTarget(t)
	tg.code.Store(http.StatusInternalServerError)
	a.httpCheck(t, sys, "down", tg.srv.URL, 1, consecutiveThresholds(1, 1000))
	if err := a.entities.ConfigChanged(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a failed attempt", func() (bool, error) {
		ds := a.deliveries(t, ch)
		return len(ds) == 1 && ds[0].Attempts >= 1 && ds[0].LastError != nil, nil
	})
	down := time.Now()
	outage := 60 * time.Second
	if testing.Short() {
		outage = 10 * time.Second
	}
	time.Sleep(outage) // the outage itself, not a synchronization
	var got atomic.Int32
	var rl net.Listener
	for i := 0; ; i++ {
		if rl, err = net.Listen("tcp", addr); err == nil {
			break
		}
		if i > 50 {
			t.Fatalf("listen on %s again: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { got.Add(1) }))
	srv.Listener = rl
	srv.Start()
	t.Cleanup(srv.Close)
	// Backoff 1, 2, 4, … 64 s: the next attempt comes at most ~70 s after the receiver returned.
	waitFor(t, 3*time.Minute, "the delivery after the receiver returned", func() (bool, error) {
		ds := a.deliveries(t, ch)
		return len(ds) == 1 && ds[0].Status == "sent", nil
	})
	ds := a.deliveries(t, ch)
	if got.Load() != 1 || ds[0].Attempts < 3 {
		t.Fatalf("receiver got %d posts, delivery %+v: want one post after several refused attempts", got.Load(), ds[0])
	}
	t.Logf("delivered %v after the outage began, %d attempts", time.Since(down).Round(time.Second), ds[0].Attempts)
}

// Issue 10, acceptance 4 (reminders): a channel with remindEvery reminds at that cadence while
// the system stays unhealthy, and stops at recovery.
func TestRemindersWhileDown(t *testing.T) {
	t.Parallel()
	a := newAPIStackWith(t, stackOptions{notify: quickNotify()})
	rcv := newReceiver(t, "", nil)
	sys := a.system(t, "reminded")
	terminateNotifier(t, sys)
	a.webhookChannel(t, rcv, []string{sys}, map[string]any{"remindEvery": "3s"})
	tg := newTarget(t)
	tg.code.Store(http.StatusInternalServerError)
	a.httpCheck(t, sys, "down", tg.srv.URL, 1, consecutiveThresholds(1, 1))
	if err := a.entities.ConfigChanged(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	// The escalation, then three reminders.
	posts := rcv.waitPosts(t, 4, 60*time.Second)
	tg.code.Store(http.StatusOK)
	a.waitStatus(t, sys, health.Healthy, 30*time.Second)
	notifierDone(t, sys, 30*time.Second)
	posts = rcv.all()
	if posts[0].msg.Event != notify.EventEscalation {
		t.Fatalf("first post %s, want the escalation", posts[0].msg.Event)
	}
	var reminders []post
	recovered := -1
	for i, p := range posts {
		switch p.msg.Event {
		case notify.EventReminder:
			reminders = append(reminders, p)
			if recovered >= 0 {
				t.Errorf("a reminder after the recovery: %s", p.deliveryID)
			}
		case notify.EventRecovery:
			recovered = i
		}
	}
	if len(reminders) < 3 || recovered < 0 {
		t.Fatalf("posts %v: want ≥ 3 reminders and a recovery", events(posts))
	}
	for i, r := range reminders {
		prev := posts[0].at
		if i > 0 {
			prev = reminders[i-1].at
		}
		if gap := r.at.Sub(prev); gap < time.Second || gap > 5*time.Second {
			t.Errorf("reminder %d came %v after the previous post, want 3 s ± 2 s", i+1, gap)
		}
		if r.msg.DownForSeconds <= 0 || r.msg.Status != string(health.Unhealthy) {
			t.Errorf("reminder %d: down for %d s, status %s", i+1, r.msg.DownForSeconds, r.msg.Status)
		}
	}
	// The notifier's history (transitions, reminder timers, deliveries, idle end) replays.
	replayAll(t, workflows.NotifierWorkflowID(sys), workflows.NotifierWorkflow, "notifier", workflows.SystemNotifier)
}

// Issue 10, acceptance 4 (failing channel): a receiver that fails every request turns its
// channel failing, with the last error, and raises notification.channel_failing once.
func TestFailingChannelIsVisible(t *testing.T) {
	t.Parallel()
	a := newAPIStackWith(t, stackOptions{notify: quickNotify()})
	rcv := newReceiver(t, "", func(int) int { return http.StatusBadGateway })
	sys := a.system(t, "broken-hook")
	terminateNotifier(t, sys)
	ch := a.webhookChannel(t, rcv, []string{sys}, nil)
	tg := newTarget(t)
	tg.code.Store(http.StatusInternalServerError)
	a.httpCheck(t, sys, "down", tg.srv.URL, 1, consecutiveThresholds(1, 1000))
	if err := a.entities.ConfigChanged(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	// Three attempts make it failing; wait for two more to show the event is raised once.
	rcv.waitPosts(t, 5, 60*time.Second)
	var got struct {
		Failing   bool    `json:"failing"`
		LastError *string `json:"lastError"`
	}
	expectStatus(t, a.admin.Do("GET", "/api/v1/channels/"+ch, nil), http.StatusOK).Decode(t, &got)
	if !got.Failing || got.LastError == nil || !strings.Contains(*got.LastError, "502") {
		t.Fatalf("channel failing=%v lastError=%v, want failing with the 502", got.Failing, got.LastError)
	}
	if n := a.count(t, `SELECT count(*) FROM health_events WHERE type = 'notification.channel_failing' AND payload->>'channelId' = $1`, ch); n != 1 {
		t.Fatalf("%d channel_failing events, want 1", n)
	}
}

package tests

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/notify"
)

// Issue 13, acceptance 2: a check that alternates pass/fail on every run (degraded from one
// failure) makes its system flap; the channel gets one "flapping" notification instead of one
// per transition; once the check passes steadily the system stops flapping and the channel gets
// one "stopped flapping (now healthy)" notification. The outbox holds one start and one stop per
// system and per check.
func TestFlappingReplacesTransitionNotifications(t *testing.T) {
	t.Parallel()
	a := newAPIStackWith(t, stackOptions{notify: quickNotify()})
	rcv := newReceiver(t, "flap-secret", nil)
	sys := a.system(t, "flappy")
	terminateNotifier(t, sys)
	a.webhookChannel(t, rcv, []string{sys}, nil)

	var n atomic.Int64
	alternating := atomic.Bool{}
	tg := newTargetFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		if alternating.Load() && n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	a.httpCheck(t, sys, "flappy", tg.URL, 1, consecutiveThresholds(1, 1000))
	if err := a.entities.ConfigChanged(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	a.waitStatus(t, sys, health.Healthy, 30*time.Second)
	alternating.Store(true)
	flapEvents := func(typ string) int {
		return a.count(t, `SELECT count(*) FROM health_events WHERE system_id = $1 AND type = $2`, sys, typ)
	}
	waitFor(t, 60*time.Second, "the system to start flapping", func() (bool, error) {
		return flapEvents(health.EventFlappingStarted) == 2, nil // the system and its check
	})
	// Keep alternating a while: these transitions must not be notified one by one.
	before := a.count(t, `SELECT count(*) FROM health_check_state_transitions WHERE system_id = $1`, sys)
	waitFor(t, 30*time.Second, "more transitions while flapping", func() (bool, error) {
		return a.count(t, `SELECT count(*) FROM health_check_state_transitions WHERE system_id = $1`, sys) >= before+6, nil
	})
	alternating.Store(false)
	waitFor(t, 90*time.Second, "the system to stop flapping", func() (bool, error) {
		return flapEvents(health.EventFlappingStopped) == 2, nil
	})
	a.waitStatus(t, sys, health.Healthy, 10*time.Second)
	// The stop notification is the last one planned: once it arrived and the notifier is idle,
	// nothing else can come.
	waitFor(t, 30*time.Second, "the stop notification", func() (bool, error) {
		for _, p := range rcv.all() {
			if p.msg.Event == notify.EventFlapping && strings.Contains(p.msg.Title, "stopped flapping") {
				return true, nil
			}
		}
		return false, nil
	})
	notifierDone(t, sys, 30*time.Second)
	posts := rcv.all()
	start, stop := -1, -1
	for i, p := range posts {
		if p.msg.Event != notify.EventFlapping {
			continue
		}
		switch {
		case strings.HasPrefix(p.msg.Title, "System flapping") && start < 0:
			start = i
		case strings.HasPrefix(p.msg.Title, "System stopped flapping") && strings.HasSuffix(p.msg.Title, "(now healthy)") && stop < 0:
			stop = i
		default:
			t.Errorf("an extra flapping notification: %q", p.msg.Title)
		}
		if !rcv.signed(p) {
			t.Errorf("flapping notification %q is not signed", p.msg.Title)
		}
	}
	if start < 0 || stop < 0 || stop < start {
		t.Fatalf("flapping notifications at %d and %d of %v", start, stop, events(posts))
	}
	if between := stop - start - 1; between != 0 {
		t.Errorf("%d transition notifications while flapping: %v", between, events(posts[start+1:stop]))
	}
	if after := len(posts) - stop - 1; after != 0 {
		t.Errorf("%d notifications after the stop: %v", after, events(posts[stop+1:]))
	}
	transitions := a.count(t, `SELECT count(*) FROM health_check_state_transitions WHERE system_id = $1`, sys)
	t.Logf("%d transitions, %d posts (%d before flapping)", transitions, len(posts), start)
	if len(posts) >= transitions {
		t.Errorf("%d posts for %d transitions: flapping replaced none", len(posts), transitions)
	}
}

package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// TestLastNotified: never notified → ok=false; SetLastNotified upserts one row per system; an
// unknown system is not found, an unknown status invalid.
func TestLastNotified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	if st, ok, err := f.s.LastNotified(ctx, f.sys); err != nil || ok || st != "" {
		t.Fatalf("never notified: %q %v %v", st, ok, err)
	}
	for i, st := range []health.Status{health.Degraded, health.Healthy, health.Unhealthy} {
		if err := f.s.SetLastNotified(ctx, f.sys, st, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, ok, err := f.s.LastNotified(ctx, f.sys)
		if err != nil || !ok || got != st {
			t.Fatalf("after setting %s: %q %v %v", st, got, ok, err)
		}
	}
	if n := count(t, f.pool, "notification_state"); n != 1 {
		t.Fatalf("%d notification_state rows, want 1", n)
	}
	var at time.Time
	if err := f.pool.QueryRow(ctx, `SELECT last_notified_at FROM notification_state`).Scan(&at); err != nil || !at.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("last_notified_at %v %v", at, err)
	}
	if err := f.s.SetLastNotified(ctx, "nope", health.Healthy, t0); !isNotFound(err, "System") {
		t.Fatalf("unknown system: %v", err)
	}
	if err := f.s.SetLastNotified(ctx, f.sys, "sideways", t0); !isValidation(err, "status") {
		t.Fatalf("unknown status: %v", err)
	}
}

// TestInsertEvent: an outbox event outside Persist takes the system's current seq (0 without a
// state row) and is written once per idempotency key.
func TestInsertEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	mustSystem(t, f.s, "fresh")
	eventSeq := func(key string) int64 {
		t.Helper()
		var seq int64
		if err := f.pool.QueryRow(ctx, `SELECT seq FROM health_events WHERE idempotency_key = $1`, key).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		return seq
	}
	if ok, err := f.s.InsertEvent(ctx, "fresh", "notification.channel_failing", "k-fresh", map[string]any{"channelId": "c"}); err != nil || !ok {
		t.Fatalf("insert: %v %v", ok, err)
	}
	if seq := eventSeq("k-fresh"); seq != 0 {
		t.Fatalf("seq without a state row = %d, want 0", seq)
	}
	if _, err := f.s.Persist(ctx, degradedItem(f, 7, t0)); err != nil {
		t.Fatal(err)
	}
	payload := map[string]any{"channelId": "c", "n": 1}
	if ok, err := f.s.InsertEvent(ctx, f.sys, "notification.channel_failing", "k-1", payload); err != nil || !ok {
		t.Fatalf("insert: %v %v", ok, err)
	}
	if ok, err := f.s.InsertEvent(ctx, f.sys, "notification.channel_failing", "k-1", map[string]any{"other": true}); err != nil || ok {
		t.Fatalf("same key again: inserted=%v %v, want false", ok, err)
	}
	if seq := eventSeq("k-1"); seq != 7 {
		t.Fatalf("seq = %d, want the state row's 7", seq)
	}
	events, err := f.s.ListEvents(ctx, EventFilter{Type: "notification.channel_failing", SystemID: f.sys})
	if err != nil || len(events) != 1 {
		t.Fatalf("events %+v %v", events, err)
	}
	var got map[string]any
	if err := json.Unmarshal(events[0].Payload, &got); err != nil || got["channelId"] != "c" || got["other"] != nil {
		t.Fatalf("payload %s", events[0].Payload)
	}
	if ok, err := f.s.InsertEvent(ctx, "fresh", "x", "k-nil", nil); err != nil || !ok {
		t.Fatalf("nil payload: %v %v", ok, err)
	}
	if _, err := f.s.InsertEvent(ctx, "nope", "x", "k-2", nil); !isNotFound(err, "System") {
		t.Fatalf("unknown system: %v", err)
	}
	if _, err := f.s.InsertEvent(ctx, f.sys, "x", "", nil); !isValidation(err, "idempotencyKey") {
		t.Fatalf("empty key: %v", err)
	}
}

// TestTransitionConfiguration: the configuration of the transition written with a seq; "" for
// a transition without one; Transition not found for a seq without a transition.
func TestTransitionConfiguration(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	if _, err := f.s.Persist(ctx, degradedItem(f, 1, t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Persist(ctx, PersistInput{SystemID: f.sys, Seq: 2, At: t0.Add(time.Minute), View: health.BaselineView(1),
		Transition: &TransitionRecord{From: statusp(health.Degraded), To: health.Healthy}}); err != nil {
		t.Fatal(err)
	}
	if cfg, err := f.s.TransitionConfiguration(ctx, f.sys, 1); err != nil || cfg != f.cfg {
		t.Fatalf("seq 1: %q %v, want %s", cfg, err, f.cfg)
	}
	if cfg, err := f.s.TransitionConfiguration(ctx, f.sys, 2); err != nil || cfg != "" {
		t.Fatalf("seq 2: %q %v, want \"\"", cfg, err)
	}
	for _, c := range []struct {
		sys string
		seq int64
	}{{f.sys, 3}, {"nope", 1}} {
		if _, err := f.s.TransitionConfiguration(ctx, c.sys, c.seq); !isNotFound(err, "Transition") {
			t.Errorf("%s seq %d: %v, want Transition not found", c.sys, c.seq, err)
		}
	}
}

// TestNotificationPolicyFor: the assignment's policy, else the platform default, else
// {suppressDeEscalations:false} — the same answer as health.ResolveNotificationPolicy.
func TestNotificationPolicyFor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	suppress := &health.NotificationPolicy{SuppressDeEscalations: true}
	notify := &health.NotificationPolicy{SuppressDeEscalations: false}
	withPolicy := mustConfig(t, f.s, "with-policy")
	if _, _, err := f.s.Associate(ctx, AssociateInput{SystemID: f.sys, ConfigurationID: withPolicy.ID, NotificationPolicy: Some(suppress)}); err != nil {
		t.Fatal(err)
	}
	withFalse := mustConfig(t, f.s, "with-false")
	if _, _, err := f.s.Associate(ctx, AssociateInput{SystemID: f.sys, ConfigurationID: withFalse.ID, NotificationPolicy: Some(notify)}); err != nil {
		t.Fatal(err)
	}
	unassigned := mustConfig(t, f.s, "unassigned")
	// The fixture's assignment (f.cfg) has no policy of its own: it inherits.

	cases := []struct {
		name, cfg string
		defaults  *health.NotificationPolicy
		want      bool
	}{
		{"assignment policy, no defaults", withPolicy.ID, nil, true},
		{"inherited, no defaults → compile-time false", f.cfg, nil, false},
		{"no check, no defaults", "", nil, false},
		{"unassigned check, no defaults", unassigned.ID, nil, false},
		{"inherited → platform default", f.cfg, suppress, true},
		{"no check → platform default", "", suppress, true},
		{"unassigned check → platform default", strings.ToUpper(unassigned.ID), suppress, true},
		{"assignment false beats platform true", withFalse.ID, suppress, false},
		{"assignment true beats platform false", withPolicy.ID, notify, true},
	}
	for _, c := range cases {
		if c.defaults != nil {
			if err := f.s.SetNotificationDefaults(ctx, *c.defaults); err != nil {
				t.Fatal(err)
			}
		}
		got, err := f.s.NotificationPolicyFor(ctx, f.sys, c.cfg)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.SuppressDeEscalations != c.want {
			t.Errorf("%s: suppressDeEscalations %v, want %v", c.name, got.SuppressDeEscalations, c.want)
		}
	}
	if _, err := f.s.NotificationPolicyFor(ctx, f.sys, "x"); !isValidation(err, "configurationId") {
		t.Fatalf("malformed configuration id: %v", err)
	}
	// It agrees with what Load resolves for the entity.
	st, err := f.s.Load(ctx, f.sys)
	if err != nil {
		t.Fatal(err)
	}
	for _, lc := range st.Checks {
		got, err := f.s.NotificationPolicyFor(ctx, f.sys, lc.ConfigurationID)
		if err != nil || got != lc.Policy {
			t.Errorf("%s: %+v %v, Load says %+v", lc.ConfigurationName, got, err, lc.Policy)
		}
	}
}

// TestCheckStatuses: the enabled checks of a system by name, with their evaluated status (nil
// before the first evaluation); disabled checks are left out.
func TestCheckStatuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	if _, err := f.s.Persist(ctx, degradedItem(f, 1, t0)); err != nil {
		t.Fatal(err)
	}
	fresh := mustConfig(t, f.s, "a-fresh")
	mustAssign(t, f.s, f.sys, fresh.ID)
	off := mustConfig(t, f.s, "b-off")
	mustAssign(t, f.s, f.sys, off.ID)
	if _, err := f.s.SetAssignmentEnabled(ctx, f.sys, off.ID, false); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.CheckStatuses(ctx, f.sys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "a-fresh" || got[0].ConfigurationID != fresh.ID || got[0].Status != nil ||
		got[1].Name != "check-1" || got[1].ConfigurationID != f.cfg || got[1].Status == nil || *got[1].Status != health.Degraded {
		t.Fatalf("check statuses %+v", got)
	}
	if none, err := f.s.CheckStatuses(ctx, "nope"); err != nil || len(none) != 0 {
		t.Fatalf("unknown system: %+v %v", none, err)
	}
}

// hookEvents returns the healthcheck.assignment.changed events of a system, in write order.
func hookEvents(t *testing.T, f fixture) []Event {
	t.Helper()
	evs, err := f.s.ListEvents(ctxT(t), EventFilter{SystemID: f.sys, Type: health.HookAssignmentChanged, Limit: MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestAssignmentChangedHook: every assign, update and unassign writes exactly one
// healthcheck.assignment.changed event in its transaction (seq = the system's current seq, a
// fresh key each time); a failed write leaves none, and a write whose hook cannot be written is
// rolled back.
func TestAssignmentChangedHook(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // one assignment: one hook already
	ctx := ctxT(t)
	c2 := mustConfig(t, f.s, "check-2")
	rc := &RetentionConfigInput{RawRetentionDays: intp(3)}
	writes := []struct {
		name  string
		write func() error
		seq   int64
	}{
		{"assign", func() error {
			_, _, err := f.s.Associate(ctx, AssociateInput{SystemID: f.sys, ConfigurationID: strings.ToUpper(c2.ID)})
			return err
		}, 0},
		{"persist (not an assignment write)", func() error { _, err := f.s.Persist(ctx, degradedItem(f, 4, t0)); return err }, -1},
		{"update", func() error {
			_, _, err := f.s.Associate(ctx, AssociateInput{SystemID: f.sys, ConfigurationID: c2.ID, Locations: &[]string{"eu-west"}})
			return err
		}, 4},
		{"disable", func() error { _, err := f.s.SetAssignmentEnabled(ctx, f.sys, c2.ID, false); return err }, 4},
		{"retention", func() error { _, err := f.s.SetRetentionConfig(ctx, f.sys, c2.ID, rc); return err }, 4},
		{"unassign", func() error { return f.s.Disassociate(ctx, f.sys, c2.ID) }, 4},
	}
	before := hookEvents(t, f)
	if len(before) != 1 {
		t.Fatalf("%d hooks after the fixture's assignment, want 1", len(before))
	}
	keys := map[string]bool{before[0].IdempotencyKey: true}
	n := 1
	for _, w := range writes {
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		evs := hookEvents(t, f)
		if w.seq < 0 {
			if len(evs) != n {
				t.Fatalf("%s wrote %d hooks, want 0", w.name, len(evs)-n)
			}
			continue
		}
		if len(evs) != n+1 {
			t.Fatalf("%s: %d new hooks, want exactly 1", w.name, len(evs)-n)
		}
		n++
		e := evs[len(evs)-1]
		var p map[string]any
		if err := json.Unmarshal(e.Payload, &p); err != nil || p["systemId"] != f.sys || p["configurationId"] != c2.ID || len(p) != 2 {
			t.Errorf("%s: payload %s", w.name, e.Payload)
		}
		if e.Seq != w.seq {
			t.Errorf("%s: seq %d, want %d", w.name, e.Seq, w.seq)
		}
		if !strings.HasPrefix(e.IdempotencyKey, f.sys+":assignment:"+c2.ID+":") || keys[e.IdempotencyKey] {
			t.Errorf("%s: key %q (must be new and start with <systemId>:assignment:<configurationId>:)", w.name, e.IdempotencyKey)
		}
		keys[e.IdempotencyKey] = true
	}

	// Failed writes leave no hook.
	missing := "11111111-2222-4333-8444-555555555555"
	failed := map[string]error{
		"assign to unknown system": func() error {
			_, _, err := f.s.Associate(ctx, AssociateInput{SystemID: "nope", ConfigurationID: c2.ID})
			return err
		}(),
		"assign unknown config": func() error {
			_, _, err := f.s.Associate(ctx, AssociateInput{SystemID: f.sys, ConfigurationID: missing})
			return err
		}(),
		"enable missing":       func() error { _, err := f.s.SetAssignmentEnabled(ctx, f.sys, c2.ID, true); return err }(),
		"retention of missing": func() error { _, err := f.s.SetRetentionConfig(ctx, f.sys, c2.ID, rc); return err }(),
		"unassign missing":     f.s.Disassociate(ctx, f.sys, c2.ID),
	}
	for name, err := range failed {
		if err == nil {
			t.Errorf("%s succeeded", name)
		}
	}
	if got := hookEvents(t, f); len(got) != n {
		t.Fatalf("failed writes left %d hooks", len(got)-n)
	}
	if got := count(t, f.pool, "health_events WHERE type = $1", health.HookAssignmentChanged); got != n {
		t.Fatalf("%d hooks in total, want %d", got, n)
	}

	// A write whose hook cannot be written is rolled back with it: same transaction.
	mustExec(t, f.pool, `ALTER TABLE health_events ADD CONSTRAINT no_assignment_hooks CHECK (type <> 'healthcheck.assignment.changed') NOT VALID`)
	if _, _, err := f.s.Associate(ctx, AssociateInput{SystemID: f.sys, ConfigurationID: c2.ID}); err == nil {
		t.Fatal("assign succeeded without its hook")
	}
	if _, err := f.s.GetAssignment(ctx, f.sys, c2.ID); !isNotFound(err, "Assignment") {
		t.Fatalf("the assignment was committed without its hook: %v", err)
	}
	if _, err := f.s.SetAssignmentEnabled(ctx, f.sys, f.cfg, false); err == nil {
		t.Fatal("update succeeded without its hook")
	}
	if err := f.s.Disassociate(ctx, f.sys, f.cfg); err == nil {
		t.Fatal("unassign succeeded without its hook")
	}
	if a, err := f.s.GetAssignment(ctx, f.sys, f.cfg); err != nil || !a.Enabled {
		t.Fatalf("the fixture's assignment after failed update/unassign: %+v %v, want it enabled and present", a, err)
	}
}

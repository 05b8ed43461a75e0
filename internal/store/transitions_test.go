package store

import (
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// transitionsFixture: systems system-1 and system-2 and one configuration assigned to system-1.
func transitionsFixture(t *testing.T) fixture {
	t.Helper()
	s, pool := newStore(t)
	mustSystem(t, s, "system-1")
	mustSystem(t, s, "system-2")
	c := mustConfig(t, s, "config-1")
	mustAssign(t, s, "system-1", c.ID)
	return fixture{s: s, pool: pool, sys: "system-1", cfg: c.ID}
}

// TestStateTransitionsST covers ST-1…ST-6 through real SQL.
func TestStateTransitionsST(t *testing.T) {
	t.Parallel()
	f := transitionsFixture(t)
	ctx := ctxT(t)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	t.Run("ST-1 findInStatusSince returns the newest transition into the status", func(t *testing.T) {
		insertTransition(t, f.pool, "", "system-1", &f.cfg, statusp(health.Healthy), health.Unhealthy, at("2026-05-30T08:00:00Z"))
		insertTransition(t, f.pool, "", "system-1", &f.cfg, statusp(health.Degraded), health.Unhealthy, at("2026-05-30T10:00:00Z"))
		insertTransition(t, f.pool, "", "system-1", &f.cfg, statusp(health.Unhealthy), health.Degraded, at("2026-05-30T11:00:00Z"))
		insertTransition(t, f.pool, "", "system-2", nil, statusp(health.Healthy), health.Unhealthy, at("2026-05-30T11:30:00Z"))
		got, err := f.s.FindInStatusSince(ctx, "system-1", health.Unhealthy)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || !got.Equal(at("2026-05-30T10:00:00.000Z")) {
			t.Fatalf("inStatusSince %v, want 2026-05-30T10:00:00Z", got)
		}
	})

	t.Run("ST-2 findInStatusSince without rows is null", func(t *testing.T) {
		got, err := f.s.FindInStatusSince(ctx, "system-2", health.Degraded)
		if err != nil || got != nil {
			t.Fatalf("got %v err %v, want nil, nil", got, err)
		}
	})

	t.Run("ST-3 recordStateTransition writes exactly the given values", func(t *testing.T) {
		s, pool := newStore(t)
		mustSystem(t, s, "system-1")
		c := mustConfig(t, s, "config-1")
		mustAssign(t, s, "system-1", c.ID)
		now := at("2026-05-30T12:00:00Z")
		if _, err := s.Persist(ctx, PersistInput{SystemID: "system-1", Seq: 1, At: now,
			Runs:       []RunRecord{run("system-1", c.ID, 1, health.Unhealthy, nil, now)},
			View:       &health.View{Status: health.Unhealthy, TotalChecks: 1},
			Transition: &TransitionRecord{ConfigurationID: c.ID, From: statusp(health.Healthy), To: health.Unhealthy}}); err != nil {
			t.Fatal(err)
		}
		if n := count(t, pool, "health_check_state_transitions"); n != 1 {
			t.Fatalf("%d transitions, want exactly 1", n)
		}
		tr, err := s.ListTransitions(ctx, TransitionFilter{SystemID: "system-1"})
		if err != nil {
			t.Fatal(err)
		}
		got := tr[0]
		if got.SystemID != "system-1" || !ptrEq(got.ConfigurationID, &c.ID) || !ptrEq(got.FromStatus, statusp(health.Healthy)) ||
			got.ToStatus != health.Unhealthy || !got.TransitionedAt.Equal(now) {
			t.Fatalf("transition %+v", got)
		}
	})

	t.Run("ST-4 undefined fromStatus is stored as null", func(t *testing.T) {
		s, pool := newStore(t)
		mustSystem(t, s, "system-1")
		c := mustConfig(t, s, "config-1")
		mustAssign(t, s, "system-1", c.ID)
		if _, err := s.Persist(ctx, PersistInput{SystemID: "system-1", Seq: 1, At: t0,
			Runs:       []RunRecord{run("system-1", c.ID, 1, health.Unhealthy, nil, t0)},
			View:       &health.View{Status: health.Degraded, TotalChecks: 1},
			Transition: &TransitionRecord{ConfigurationID: c.ID, To: health.Degraded}}); err != nil {
			t.Fatal(err)
		}
		if n := count(t, pool, "health_check_state_transitions WHERE from_status IS NULL AND to_status = 'degraded'"); n != 1 {
			t.Fatalf("%d rows with null fromStatus, want 1", n)
		}
	})

	t.Run("ST-5 countStateTransitionsInWindow counts the window (lower bound inclusive)", func(t *testing.T) {
		s, pool := newStore(t)
		mustSystem(t, s, "system-1")
		mustSystem(t, s, "system-2")
		now := at("2026-05-30T12:00:00Z")
		for _, ago := range []time.Duration{60 * time.Minute, 45 * time.Minute, 10 * time.Minute, 0} { // 4 in the window
			insertTransition(t, pool, "", "system-1", nil, statusp(health.Healthy), health.Degraded, now.Add(-ago))
		}
		insertTransition(t, pool, "", "system-1", nil, statusp(health.Healthy), health.Unhealthy, now.Add(-61*time.Minute))
		insertTransition(t, pool, "", "system-1", nil, statusp(health.Healthy), health.Unhealthy, now.Add(time.Minute)) // no upper bound
		insertTransition(t, pool, "", "system-2", nil, statusp(health.Healthy), health.Degraded, now.Add(-time.Minute))
		n, err := s.CountTransitionsInWindow(ctx, "system-1", 60, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if n != 5 {
			t.Fatalf("count %d, want 5 (4 in the window + 1 in the future)", n)
		}
		n, err = s.CountTransitionsInWindow(ctx, "system-1", 60, statusp(health.Degraded), now)
		if err != nil || n != 4 {
			t.Fatalf("count to degraded %d (%v), want 4", n, err)
		}
	})

	t.Run("ST-6 a window without rows counts 0", func(t *testing.T) {
		n, err := f.s.CountTransitionsInWindow(ctx, "system-1", 30, nil, at("2026-05-31T12:00:00Z"))
		if err != nil || n != 0 {
			t.Fatalf("count %d err %v, want 0", n, err)
		}
	})
}

// deletesOnTransitions returns the DELETE statements sent against the transitions table.
func deletesOnTransitions(stmts []string) []string {
	var out []string
	for _, s := range stmts {
		if strings.HasPrefix(strings.TrimSpace(s), "DELETE FROM health_check_state_transitions") {
			out = append(out, s)
		}
	}
	return out
}

// TestRetentionTransitionsRT covers RT-1…RT-4 through real SQL.
func TestRetentionTransitionsRT(t *testing.T) {
	t.Parallel()
	now := t0

	t.Run("RT-1 prune keeps rows inside the cutoff and the newest row, in one delete", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		s, pool, tr := newTracedStore(t)
		mustSystem(t, s, "system-1")
		mustSystem(t, s, "system-2")
		newest := "0b0b0b0b-0000-4000-8000-000000000001"
		insertTransition(t, pool, newest, "system-1", nil, statusp(health.Healthy), health.Degraded, now.Add(-time.Hour))
		insertTransition(t, pool, "", "system-1", nil, statusp(health.Degraded), health.Healthy, now.Add(-3*24*time.Hour))
		insertTransition(t, pool, "", "system-1", nil, statusp(health.Healthy), health.Degraded, now.Add(-8*24*time.Hour))
		insertTransition(t, pool, "", "system-1", nil, statusp(health.Healthy), health.Degraded, now.Add(-30*24*time.Hour))
		insertTransition(t, pool, "", "system-2", nil, statusp(health.Healthy), health.Degraded, now.Add(-30*24*time.Hour))
		tr.reset()
		n, err := s.PruneTransitions(ctx, "system-1", now.AddDate(0, 0, -7))
		if err != nil {
			t.Fatal(err)
		}
		if d := deletesOnTransitions(tr.statements()); len(d) != 1 {
			t.Fatalf("%d delete statements, want 1: %q", len(d), d)
		}
		if n != 2 {
			t.Fatalf("deleted %d, want 2", n)
		}
		if c := count(t, pool, "health_check_state_transitions WHERE system_id = 'system-1'"); c != 2 {
			t.Fatalf("%d rows of system-1 left, want 2", c)
		}
		if c := count(t, pool, "health_check_state_transitions WHERE id = $1", newest); c != 1 {
			t.Fatal("newest row deleted")
		}
		if c := count(t, pool, "health_check_state_transitions WHERE system_id = 'system-2'"); c != 1 {
			t.Fatal("other system's rows touched")
		}
	})

	t.Run("RT-2 a system without rows still issues exactly one delete", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		s, _, tr := newTracedStore(t)
		mustSystem(t, s, "system-1")
		tr.reset()
		n, err := s.PruneTransitions(ctx, "system-1", now.AddDate(0, 0, -7))
		if err != nil || n != 0 {
			t.Fatalf("deleted %d err %v, want 0, nil", n, err)
		}
		if d := deletesOnTransitions(tr.statements()); len(d) != 1 {
			t.Fatalf("%d delete statements, want 1", len(d))
		}
	})

	t.Run("RT-3 a system's transitions keep the largest raw retention of its assignments", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		s, pool := newStore(t)
		mustSystem(t, s, "system-1")
		for i, days := range []int{3, 10} {
			c := mustConfig(t, s, "c"+string(rune('a'+i)))
			mustAssign(t, s, "system-1", c.ID)
			hourly := 30
			if _, err := s.SetRetentionConfig(ctx, "system-1", c.ID, &RetentionConfigInput{RawRetentionDays: &days, HourlyRetentionDays: &hourly}); err != nil {
				t.Fatal(err)
			}
		}
		insertTransition(t, pool, "", "system-1", nil, nil, health.Degraded, now.Add(-time.Hour))
		insertTransition(t, pool, "", "system-1", nil, nil, health.Healthy, now.Add(-5*24*time.Hour))   // kept with 10 days (not with 3)
		insertTransition(t, pool, "", "system-1", nil, nil, health.Degraded, now.Add(-11*24*time.Hour)) // pruned
		rep, err := s.RunRetention(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if rep.TransitionsDeleted != 1 {
			t.Fatalf("deleted %d transitions, want 1", rep.TransitionsDeleted)
		}
		if c := count(t, pool, "health_check_state_transitions WHERE transitioned_at = $1", now.Add(-5*24*time.Hour)); c != 1 {
			t.Fatal("the 5-day-old row was pruned with the smaller retention")
		}
	})

	t.Run("RT-4 a single 400-day-old transition is never deleted", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		s, pool := newStore(t)
		mustSystem(t, s, "system-1")
		c := mustConfig(t, s, "c")
		mustAssign(t, s, "system-1", c.ID)
		insertTransition(t, pool, "", "system-1", nil, nil, health.Unhealthy, now.AddDate(0, 0, -400))
		if _, err := s.RunRetention(ctx, now); err != nil {
			t.Fatal(err)
		}
		if n := count(t, pool, "health_check_state_transitions"); n != 1 {
			t.Fatalf("%d rows left, want the single newest row", n)
		}
		since, err := s.FindInStatusSince(ctx, "system-1", health.Unhealthy)
		if err != nil || since == nil {
			t.Fatalf("in status since blanked: %v %v", since, err)
		}
	})
}

// TestRunRetention runs the whole retention job: raw runs older than raw retention are deleted,
// hourly buckets older than the hourly retention roll into daily ones, daily buckets older than
// the daily retention are deleted; recent data is untouched.
func TestRunRetention(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	now := t0
	for i, ago := range []time.Duration{time.Hour, 6 * 24 * time.Hour, 8 * 24 * time.Hour, 20 * 24 * time.Hour} {
		mustExec(t, f.pool, `INSERT INTO health_check_runs (id, configuration_id, system_id, status, "timestamp") VALUES ($1, $2, $3, 'healthy', $4)`,
			ProbeRunID(f.sys, int64(i+1)), f.cfg, f.sys, now.Add(-ago))
	}
	old := health.DayStart(now.AddDate(0, 0, -40))
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", old.Add(time.Hour), health.Bucket{RunCount: 2, HealthyCount: 2})
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", old.Add(2*time.Hour), health.Bucket{RunCount: 3, HealthyCount: 3})
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", health.HourStart(now.Add(-time.Hour)), health.Bucket{RunCount: 1, HealthyCount: 1})
	insertBucket(t, f.pool, f.sys, f.cfg, "daily", health.DayStart(now.AddDate(0, 0, -400)), health.Bucket{RunCount: 9, HealthyCount: 9})
	rep, err := f.s.RunRetention(ctxT(t), now)
	if err != nil {
		t.Fatal(err)
	}
	want := RetentionReport{Systems: 1, Assignments: 1, RunsDeleted: 2, HourlyRolledUp: 2, DailyWritten: 1, DailyDeleted: 1}
	if rep != want {
		t.Fatalf("report %+v, want %+v", rep, want)
	}
	if n := count(t, f.pool, "health_check_runs"); n != 2 {
		t.Fatalf("%d runs left, want 2", n)
	}
	if n := count(t, f.pool, "health_check_aggregates WHERE bucket_size = 'daily' AND bucket_start = $1 AND run_count = 5", old); n != 1 {
		t.Fatal("daily rollup row missing")
	}
	if n := count(t, f.pool, "health_check_aggregates WHERE bucket_size = 'hourly'"); n != 1 {
		t.Fatalf("%d hourly rows, want the recent one", n)
	}
}

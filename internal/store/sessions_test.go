package store

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// sessionItem is a probe session's write of one quiet run.
func sessionItem(f fixture, session, runID string, at time.Time) PersistInput {
	r := run(f.sys, f.cfg, 0, health.Healthy, intp(12), at)
	r.ID = runID
	return PersistInput{SystemID: f.sys, Seq: 1, At: at, Session: &SessionFence{ID: session, ExpiresAt: at.Add(time.Minute)},
		Runs:   []RunRecord{r},
		Checks: []CheckState{{ConfigurationID: f.cfg, Status: health.Healthy, RunsConsidered: 7}},
		Events: []EventRecord{{Type: health.HookCheckCompleted, Discriminator: f.cfg, Payload: map[string]any{"status": "healthy"}, Key: runID + ":" + health.HookCheckCompleted}},
	}
}

// A probe session writes while the state row names it: runs, their bucket, the check's last run
// and count, the hooks (keyed by run id) — never the seq, the view or the check's status. Once
// the entity revokes it or another session claims, it writes nothing.
func TestProbeSessionFence(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	// The entity's baseline: seq 1, healthy.
	if _, err := f.s.Persist(ctx, PersistInput{SystemID: f.sys, Seq: 1, At: t0, View: health.BaselineView(1),
		Checks: []CheckState{{ConfigurationID: f.cfg, Status: health.Healthy}}}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.s.ClaimProbeSession(ctx, "no-such-system", "x.1", t0, 0); err != nil || ok {
		t.Fatalf("claim for a system without state: ok %v err %v, want not claimed", ok, err)
	}
	seq, ok, err := f.s.ClaimProbeSession(ctx, f.sys, "e.1", t0.Add(time.Minute), 0)
	if err != nil || !ok || seq != 1 {
		t.Fatalf("claim: seq %d ok %v err %v", seq, ok, err)
	}
	at := t0.Add(10 * time.Second)
	applied, err := f.s.Persist(ctx, sessionItem(f, "e.1", f.sys+":se.1.1", at))
	if err != nil || !applied {
		t.Fatalf("session write: applied %v err %v", applied, err)
	}
	var stateSeq, considered int
	var lastRun string
	var lastAt time.Time
	var status string
	if err := f.pool.QueryRow(ctx, `SELECT s.seq, c.runs_considered, c.last_run_id, c.last_run_at, c.status::text
		FROM system_health_state s JOIN check_health_state c USING (system_id) WHERE s.system_id = $1`, f.sys).
		Scan(&stateSeq, &considered, &lastRun, &lastAt, &status); err != nil {
		t.Fatal(err)
	}
	if stateSeq != 1 || considered != 7 || lastRun != f.sys+":se.1.1" || !lastAt.Equal(at) || status != "healthy" {
		t.Errorf("after the session's write: seq %d, runs considered %d, last run %s at %v, status %s", stateSeq, considered, lastRun, lastAt, status)
	}
	if n := count(t, f.pool, "health_events WHERE idempotency_key = $1", f.sys+":se.1.1:"+health.HookCheckCompleted); n != 1 {
		t.Errorf("%d hooks keyed by the run id", n)
	}
	if n := count(t, f.pool, "health_check_aggregates WHERE run_count = 1"); n != 1 {
		t.Errorf("%d hourly buckets with the run", n)
	}
	// The same write again (a retried call) changes nothing.
	if applied, err := f.s.Persist(ctx, sessionItem(f, "e.1", f.sys+":se.1.1", at)); err != nil || applied {
		t.Errorf("repeated session write: applied %v err %v", applied, err)
	}

	// Another session claims: the first is fenced.
	if _, ok, err := f.s.ClaimProbeSession(ctx, f.sys, "e.2", t0.Add(time.Minute), 0); err != nil || !ok {
		t.Fatalf("second claim: ok %v err %v", ok, err)
	}
	if _, err := f.s.Persist(ctx, sessionItem(f, "e.1", f.sys+":se.1.2", at.Add(time.Second))); !errors.Is(err, ErrSessionFenced) {
		t.Errorf("write of a replaced session: %v, want ErrSessionFenced", err)
	}
	// The entity revokes: the second is fenced too, and nothing of either fenced write is stored.
	if revoked, err := f.s.RevokeProbeSession(ctx, f.sys, ""); err != nil || !revoked {
		t.Fatalf("revoke: %v %v", revoked, err)
	}
	if _, err := f.s.Persist(ctx, sessionItem(f, "e.2", f.sys+":se.2.1", at.Add(2*time.Second))); !errors.Is(err, ErrSessionFenced) {
		t.Errorf("write of a revoked session: %v, want ErrSessionFenced", err)
	}
	if n := count(t, f.pool, "health_check_runs"); n != 1 {
		t.Errorf("%d runs stored, want only the first session's one", n)
	}
	if cur, err := f.s.ProbeSessionOf(ctx, f.sys); err != nil || cur != "" {
		t.Errorf("session after revoke: %q %v", cur, err)
	}
	// A session's write never carries a view or transition.
	bad := sessionItem(f, "e.3", f.sys+":se.3.1", at)
	bad.View = health.BaselineView(1)
	if _, err := f.s.Persist(ctx, bad); !errors.Is(err, ErrValidation) {
		t.Errorf("session write with a view: %v, want a validation error", err)
	}
}

// Sessions whose owner's backend is gone are reported once; a live owner's are not.
func TestTakeOrphanedProbeSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	other := mustSystem(t, f.s, "sys-2")
	for _, sys := range []string{f.sys, other.ID} {
		if _, err := f.s.Persist(ctx, PersistInput{SystemID: sys, Seq: 1, At: t0, View: health.BaselineView(1)}); err != nil {
			t.Fatal(err)
		}
	}
	// A connection that will die, and one that stays.
	dying, err := pgx.Connect(ctx, f.pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	live, err := f.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Release()
	if _, _, err := f.s.ClaimProbeSession(ctx, f.sys, "a.1", t0, dying.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.ClaimProbeSession(ctx, other.ID, "b.1", t0, live.Conn().PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.TakeOrphanedProbeSessions(ctx, 10, true); err != nil || len(got) != 0 {
		t.Fatalf("orphans while both owners live: %v %v", got, err)
	}
	if err := dying.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var got []OrphanedSession
	deadline := time.Now().Add(10 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		// The backend of a closed connection exits asynchronously.
		if got, err = f.s.TakeOrphanedProbeSessions(ctx, 10, true); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || got[0].SystemID != f.sys || got[0].Session != "a.1" {
		t.Fatalf("orphans after the owner died: %+v", got)
	}
	if again, err := f.s.TakeOrphanedProbeSessions(ctx, 10, true); err != nil || len(again) != 0 {
		t.Errorf("an orphan reported twice: %+v %v", again, err)
	}
}

// Sessions handed over at a graceful stop are not reported lost while their grace runs, nor
// when the caller does not ask for handed-over sessions; once both allow it, each is reported
// once. A session claimed after one is never reported in its place, and hand-overs leave other
// sessions alone.
func TestHandedOverProbeSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	other := mustSystem(t, f.s, "sys-2")
	third := mustSystem(t, f.s, "sys-3")
	for _, sys := range []string{f.sys, other.ID, third.ID} {
		if _, err := f.s.Persist(ctx, PersistInput{SystemID: sys, Seq: 1, At: t0, View: health.BaselineView(1)}); err != nil {
			t.Fatal(err)
		}
	}
	live, err := f.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Release()
	pid := live.Conn().PgConn().PID()
	for _, c := range []struct{ sys, session string }{{f.sys, "a.1"}, {other.ID, "b.1"}, {third.ID, "c.1"}} {
		if _, _, err := f.s.ClaimProbeSession(ctx, c.sys, c.session, t0, pid); err != nil {
			t.Fatal(err)
		}
	}
	take := func(handedOver bool) []OrphanedSession {
		t.Helper()
		got, err := f.s.TakeOrphanedProbeSessions(ctx, 10, handedOver)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if n, err := f.s.HandOverProbeSessions(ctx, []string{"a.1", "b.1", "a.0"}, pid, time.Hour); err != nil || n != 2 {
		t.Fatalf("hand over a.1, b.1 and a session that is no system's: %d %v, want 2", n, err)
	}
	// A session another owner claimed since (an attempt resumed on another worker) stays its.
	if n, err := f.s.HandOverProbeSessions(ctx, []string{"c.1"}, pid+1, time.Hour); err != nil || n != 0 {
		t.Fatalf("hand over c.1 as another owner: %d %v, want 0", n, err)
	}
	if got := take(true); len(got) != 0 {
		t.Fatalf("reported within their grace: %+v", got)
	}
	// The grace is over; b.1's entity took the cadence back with a new session meanwhile.
	if _, err := f.s.HandOverProbeSessions(ctx, []string{"a.1", "b.1"}, pid, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.ClaimProbeSession(ctx, other.ID, "b.2", t0, pid); err != nil {
		t.Fatal(err)
	}
	if got := take(false); len(got) != 0 {
		t.Fatalf("handed-over sessions reported when not asked for: %+v", got)
	}
	got := take(true)
	if len(got) != 1 || got[0].SystemID != f.sys || got[0].Session != "a.1" {
		t.Fatalf("handed-over sessions after their grace: %+v, want a.1 only", got)
	}
	if again := take(true); len(again) != 0 {
		t.Errorf("a handed-over session reported twice: %+v", again)
	}
	var owner *int32
	if err := f.pool.QueryRow(ctx, `SELECT probe_session_owner FROM system_health_state WHERE system_id = $1`, third.ID).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner == nil || *owner != int32(pid) {
		t.Errorf("c.1, never handed over, is owned by %v, want %d", owner, pid)
	}
}

// A suspended session's state is stored only while it is the system's session and is taken once
// by its resumed attempt, which claims the session again (new owner and expiry) — or, when the
// entity revoked the session meanwhile, only reports it. Claiming a new session drops what an
// older one left.
func TestSuspendAndResumeProbeSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	if _, err := f.s.Persist(ctx, PersistInput{SystemID: f.sys, Seq: 1, At: t0, View: health.BaselineView(1)}); err != nil {
		t.Fatal(err)
	}
	row := func() (session *string, owner *int32, expires *time.Time, resume []byte) {
		t.Helper()
		if err := f.pool.QueryRow(ctx, `SELECT probe_session, probe_session_owner, probe_session_expires_at, probe_session_resume
			FROM system_health_state WHERE system_id = $1`, f.sys).Scan(&session, &owner, &expires, &resume); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, _, err := f.s.ClaimProbeSession(ctx, f.sys, "e.1", t0, 7); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.s.SuspendProbeSession(ctx, f.sys, "e.0", []byte(`{"runs":1}`)); err != nil || ok {
		t.Fatalf("suspend a session that is not the system's: %v %v, want nothing stored", ok, err)
	}
	if r, err := f.s.ResumeProbeSession(ctx, f.sys, "e.1", t0, 8); err != nil || r.State != nil || r.Current {
		t.Fatalf("resume with nothing suspended: %+v %v, want nothing", r, err)
	}
	if ok, err := f.s.SuspendProbeSession(ctx, f.sys, "e.1", []byte(`{"runs": 3, "stored": ["a"]}`)); err != nil || !ok {
		t.Fatalf("suspend e.1: %v %v", ok, err)
	}
	// Another session's attempt finds nothing and changes nothing.
	if r, err := f.s.ResumeProbeSession(ctx, f.sys, "e.2", t0, 8); err != nil || r.State != nil {
		t.Fatalf("resume e.2 while e.1 is suspended: %+v %v", r, err)
	}
	later := t0.Add(time.Hour)
	r, err := f.s.ResumeProbeSession(ctx, f.sys, "e.1", later, 9)
	if err != nil || !r.Current || r.Seq != 1 || string(r.State) != `{"runs": 3, "stored": ["a"]}` {
		t.Fatalf("resume e.1: %+v (%s) %v, want current, seq 1, the suspended state", r, r.State, err)
	}
	if session, owner, expires, resume := row(); *session != "e.1" || owner == nil || *owner != 9 || !expires.Equal(later) || resume != nil {
		t.Errorf("after the resume: session %v owner %v expires %v resume %s; want e.1, 9, %v, none", *session, owner, expires, resume, later)
	}
	if r, err := f.s.ResumeProbeSession(ctx, f.sys, "e.1", later, 10); err != nil || r.State != nil {
		t.Errorf("a second resume found %+v %v, want nothing", r, err)
	}
	// Suspended, then revoked by the entity: the resumed attempt gets its state, not the session.
	if ok, err := f.s.SuspendProbeSession(ctx, f.sys, "e.1", []byte(`{"runs": 4}`)); err != nil || !ok {
		t.Fatalf("suspend e.1 again: %v %v", ok, err)
	}
	if _, err := f.s.RevokeProbeSession(ctx, f.sys, "e.1"); err != nil {
		t.Fatal(err)
	}
	r, err = f.s.ResumeProbeSession(ctx, f.sys, "e.1", later.Add(time.Hour), 11)
	if err != nil || r.Current || string(r.State) != `{"runs": 4}` {
		t.Fatalf("resume a revoked session: %+v (%s) %v, want its state, not current", r, r.State, err)
	}
	if session, owner, _, _ := row(); session != nil || owner != nil {
		t.Errorf("resuming a revoked session claimed it: session %v owner %v", session, owner)
	}
	// Suspended, then the entity started a new session: the old state is dropped.
	if _, _, err := f.s.ClaimProbeSession(ctx, f.sys, "e.3", t0, 7); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.s.SuspendProbeSession(ctx, f.sys, "e.3", []byte(`{"runs": 5}`)); err != nil || !ok {
		t.Fatalf("suspend e.3: %v %v", ok, err)
	}
	if _, _, err := f.s.ClaimProbeSession(ctx, f.sys, "e.4", t0, 7); err != nil {
		t.Fatal(err)
	}
	if r, err := f.s.ResumeProbeSession(ctx, f.sys, "e.3", later, 12); err != nil || r.State != nil {
		t.Errorf("resume e.3 after e.4 was claimed: %+v %v, want nothing", r, err)
	}
}

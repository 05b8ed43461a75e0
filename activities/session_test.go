package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// A probe session stores its quiet batches — through a GroupCommitter or alone with Persist —
// and reports them as stored; once the entity revokes it, its next batch is refused and handed
// back as pending, never stored.
func TestProbeSessionStoresQuietBatches(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(target.Close)
	cases := []struct {
		name         string
		group        bool
		revokeAfter  int // revoke the session once this many batches were stored (0: never)
		stored       int
		pending      int
		reason       string
		groupWrites  int64
		storedInBase int // runs in the database
	}{
		{name: "group commit", group: true, stored: 3, reason: workflows.SessionEndMaxRuns, groupWrites: 3, storedInBase: 3},
		{name: "alone", group: false, stored: 3, reason: workflows.SessionEndMaxRuns, storedInBase: 3},
		{name: "group commit, revoked", group: true, revokeAfter: 1, stored: 1, pending: 1, reason: workflows.SessionEndFenced, groupWrites: 2, storedInBase: 1},
		{name: "alone, revoked", group: false, revokeAfter: 1, stored: 1, pending: 1, reason: workflows.SessionEndFenced, storedInBase: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool, st, cfg, collectors := newSessionSystem(t, target.URL, 1)

			ent := &Entity{Store: st}
			s := &Sessions{Prober: &Prober{Checks: checks.NewRegistry()}, Entity: ent}
			if tc.group {
				s.Commits = st.NewGroupCommitter(store.GroupCommitOptions{})
			}
			s.owner.Store(1) // as if listening: the session claims at once
			batches := 0
			ent.Hooks.Persisted = func(workflows.PersistRequest, bool, time.Time) {
				if batches++; batches == tc.revokeAfter {
					if _, err := st.RevokeProbeSession(ctx, "s1", ""); err != nil {
						t.Error(err)
					}
				}
			}
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestActivityEnvironment()
			env.RegisterActivity(s.ProbeSession)
			req := workflows.ProbeSessionRequest{SystemID: "s1", SystemName: "s1", Session: "e.1", MaxRuns: 3, MaxDuration: time.Minute,
				Checks: []workflows.SessionCheck{{Assignment: workflows.Assignment{ConfigurationID: cfg.ID, Name: "api", StrategyID: "http",
					Config: json.RawMessage(`{"timeout":2000}`), Collectors: collectors, IntervalSeconds: 1},
					Status: health.Healthy, NextDue: time.Now()}}}
			v, err := env.ExecuteActivity(s.ProbeSession, req)
			if err != nil {
				t.Fatal(err)
			}
			var res workflows.ProbeSessionResult
			if err := v.Get(&res); err != nil {
				t.Fatal(err)
			}
			if len(res.Stored) != tc.stored || len(res.Pending) != tc.pending || res.Reason != tc.reason {
				t.Errorf("stored %d, pending %d, reason %q; want %d, %d, %q", len(res.Stored), len(res.Pending), res.Reason, tc.stored, tc.pending, tc.reason)
			}
			var runs, hooks int
			if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM health_check_runs), (SELECT count(*) FROM health_events WHERE type = $1)`,
				health.HookCheckCompleted).Scan(&runs, &hooks); err != nil {
				t.Fatal(err)
			}
			if runs != tc.storedInBase || hooks != tc.storedInBase {
				t.Errorf("%d runs and %d hooks stored, want %d each", runs, hooks, tc.storedInBase)
			}
			for _, r := range res.Stored {
				if _, err := st.GetRun(ctx, r.ID); err != nil {
					t.Errorf("reported stored run %s: %v", r.ID, err)
				}
			}
			for _, r := range res.Pending {
				if _, err := st.GetRun(ctx, r.ID); err == nil {
					t.Errorf("pending run %s is stored", r.ID)
				}
			}
			if s.Commits != nil {
				if got := s.Commits.Stats().Writes; got != tc.groupWrites {
					t.Errorf("%d writes through the group committer, want %d", got, tc.groupWrites)
				}
			}
		})
	}
}

// A session goes on probing while its write is being stored: the batch probed meanwhile is
// stored in the next write once the first succeeded. When the first write fails, both batches
// are handed back, in probe order, and nothing more is written; a run that may change a status
// waits for the write before it and ends the session.
func TestProbeSessionProbesWhileStoring(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		firstFails  bool
		secondFails bool // the second check's target answers 500: an urgent run
		stored      []string
		pending     []string
		writes      [][]string // the runs of each write sent
		reason      string
	}{
		{name: "both quiet", stored: []string{"a", "b"}, writes: [][]string{{"a"}, {"b"}}, reason: workflows.SessionEndMaxRuns},
		{name: "first write fails", firstFails: true, pending: []string{"a", "b"}, writes: [][]string{{"a"}}, reason: workflows.SessionEndStoreError},
		{name: "second run urgent", secondFails: true, stored: []string{"a"}, pending: []string{"b"}, writes: [][]string{{"a"}}, reason: workflows.SessionEndUrgent},
		{name: "first write fails, second run urgent", firstFails: true, secondFails: true, pending: []string{"a", "b"}, writes: [][]string{{"a"}}, reason: workflows.SessionEndStoreError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The first write is held until the second check was probed.
			probedB := make(chan struct{})
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/b" {
					defer close(probedB)
					if tc.secondFails {
						w.WriteHeader(http.StatusInternalServerError)
						return
					}
				}
				w.WriteHeader(http.StatusOK)
			}))
			t.Cleanup(target.Close)
			pool := testutil.NewPool(t)
			st := store.New(pool)
			ctx := context.Background()
			if _, err := st.CreateSystem(ctx, store.SystemInput{ID: "s1", Name: "s1"}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Persist(ctx, store.PersistInput{SystemID: "s1", Seq: 1, At: time.Now(), View: health.BaselineView(2)}); err != nil {
				t.Fatal(err)
			}
			check := func(id, path string, due time.Time) workflows.SessionCheck {
				collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{"url": target.URL + path}}})
				return workflows.SessionCheck{Assignment: workflows.Assignment{ConfigurationID: id, Name: path, StrategyID: "http",
					Config: json.RawMessage(`{"timeout":2000}`), Collectors: collectors, IntervalSeconds: 600}, Status: health.Healthy, NextDue: due}
			}
			const cfgA, cfgB = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
			names := map[string]string{cfgA: "a", cfgB: "b"}
			// b falls due well after the session started (and after a was probed and sent).
			now := time.Now()
			var writes [][]string
			s := &Sessions{Prober: &Prober{Checks: checks.NewRegistry()}, Entity: &Entity{Store: st}}
			s.owner.Store(1)
			s.persistWrite = func(ctx context.Context, in store.PersistInput, _ time.Time) (bool, error) {
				var w []string
				for _, r := range in.Runs {
					w = append(w, names[r.ConfigurationID])
				}
				writes = append(writes, w)
				if len(writes) == 1 {
					<-probedB
					if tc.firstFails {
						return false, errors.New("database away")
					}
				}
				return true, nil
			}
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestActivityEnvironment()
			env.RegisterActivity(s.ProbeSession)
			v, err := env.ExecuteActivity(s.ProbeSession, workflows.ProbeSessionRequest{SystemID: "s1", SystemName: "s1", Session: "e.1",
				MaxRuns: 2, MaxDuration: time.Minute, Checks: []workflows.SessionCheck{check(cfgA, "/a", now), check(cfgB, "/b", now.Add(500*time.Millisecond))}})
			if err != nil {
				t.Fatal(err)
			}
			var res workflows.ProbeSessionResult
			if err := v.Get(&res); err != nil {
				t.Fatal(err)
			}
			var stored, pending []string
			for _, r := range res.Stored {
				stored = append(stored, names[r.ConfigurationID])
			}
			for _, r := range res.Pending {
				pending = append(pending, names[r.ConfigurationID])
			}
			if !slices.Equal(stored, tc.stored) || !slices.Equal(pending, tc.pending) || res.Reason != tc.reason {
				t.Errorf("stored %v, pending %v, reason %q; want %v, %v, %q", stored, pending, res.Reason, tc.stored, tc.pending, tc.reason)
			}
			if fmt.Sprint(writes) != fmt.Sprint(tc.writes) {
				t.Errorf("writes %v, want %v", writes, tc.writes)
			}
		})
	}
}

// The sessions that end because their worker stops are handed over by HandOver (the worker
// calls it once their ends were reported); a session ended otherwise keeps its owner, so a
// crash after it is still noticed by Watch.
func TestProbeSessionHandOverWhenItsWorkerStops(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(target.Close)
	cases := []struct {
		name      string
		stop      bool
		reason    string
		wantOwner int32
	}{
		{name: "worker stops", stop: true, reason: workflows.SessionEndStopping, wantOwner: 0},
		{name: "max runs", reason: workflows.SessionEndMaxRuns, wantOwner: 4242},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool, st, cfg, collectors := newSessionSystem(t, target.URL, 600)
			ent := &Entity{Store: st}
			s := &Sessions{Prober: &Prober{Checks: checks.NewRegistry()}, Entity: ent}
			s.owner.Store(4242)
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestActivityEnvironment()
			stopping := make(chan struct{})
			env.SetWorkerStopChannel(stopping)
			ent.Hooks.Persisted = func(workflows.PersistRequest, bool, time.Time) {
				if tc.stop {
					close(stopping) // once: the next run is due in 10 minutes
				}
			}
			env.RegisterActivity(s.ProbeSession)
			maxRuns := 1
			if tc.stop {
				maxRuns = 100
			}
			v, err := env.ExecuteActivity(s.ProbeSession, workflows.ProbeSessionRequest{SystemID: "s1", SystemName: "s1", Session: "e.1",
				MaxRuns: maxRuns, MaxDuration: time.Hour, Checks: []workflows.SessionCheck{{Assignment: workflows.Assignment{
					ConfigurationID: cfg.ID, Name: "api", StrategyID: "http",
					Config: json.RawMessage(`{"timeout":2000}`), Collectors: collectors, IntervalSeconds: 600},
					Status: health.Healthy, NextDue: time.Now()}}})
			if err != nil {
				t.Fatal(err)
			}
			var res workflows.ProbeSessionResult
			if err := v.Get(&res); err != nil {
				t.Fatal(err)
			}
			if res.Reason != tc.reason || len(res.Stored) != 1 {
				t.Fatalf("reason %q, %d stored; want %q, 1", res.Reason, len(res.Stored), tc.reason)
			}
			s.HandOver(ctx)
			var owner *int32
			var session *string
			if err := pool.QueryRow(ctx, `SELECT probe_session, probe_session_owner FROM system_health_state WHERE system_id = 's1'`).Scan(&session, &owner); err != nil {
				t.Fatal(err)
			}
			if session == nil || *session != "e.1" || owner == nil || *owner != tc.wantOwner {
				t.Errorf("session %v owned by %v, want e.1 owned by %d", session, owner, tc.wantOwner)
			}
		})
	}
}

// newSessionSystem creates system s1 with one enabled HTTP check of url probed every interval
// seconds, and its state row (healthy), in a database of its own.
func newSessionSystem(t *testing.T, url string, intervalSeconds int) (*pgxpool.Pool, *store.Store, store.Configuration, json.RawMessage) {
	t.Helper()
	ctx := context.Background()
	pool := testutil.NewPool(t)
	st := store.New(pool)
	if _, err := st.CreateSystem(ctx, store.SystemInput{ID: "s1", Name: "s1"}); err != nil {
		t.Fatal(err)
	}
	collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{"url": url}}})
	cfg, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: "api", StrategyID: "http", Config: []byte(`{"timeout":2000}`),
		Collectors: collectors, IntervalSeconds: intervalSeconds})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: "s1", ConfigurationID: cfg.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Persist(ctx, store.PersistInput{SystemID: "s1", Seq: 1, At: time.Now(), View: health.BaselineView(1),
		Checks: []store.CheckState{{ConfigurationID: cfg.ID, Status: health.Healthy}}}); err != nil {
		t.Fatal(err)
	}
	return pool, st, cfg, collectors
}

// A resumable session that its worker's stop ends stores its quiet runs, then what it has done,
// and fails with a retryable, benign ProbeSessionSuspended error; the retry (attempt 2, on
// another worker) goes on from it — the next run ids, the windows, the runs stored so far —
// and reports them all at its end. A retry with nothing to resume from, and a session revoked
// while suspended, are told apart; a session that is not resumable ends and reports as before.
func TestProbeSessionSuspendsAndResumes(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(target.Close)
	ctx := context.Background()
	pool, st, cfg, collectors := newSessionSystem(t, target.URL, 1)
	request := func(maxRuns int) workflows.ProbeSessionRequest {
		return workflows.ProbeSessionRequest{SystemID: "s1", SystemName: "s1", Session: "e.1", MaxRuns: maxRuns, MaxDuration: time.Hour,
			Resumable: true, Checks: []workflows.SessionCheck{{Assignment: workflows.Assignment{
				ConfigurationID: cfg.ID, Name: "api", StrategyID: "http",
				Config: json.RawMessage(`{"timeout":2000}`), Collectors: collectors, IntervalSeconds: 1},
				Status: health.Healthy, NextDue: time.Now()}}}
	}
	// run executes one attempt of the session on a worker of its own (owner pid), stopping it
	// after stopAfter stored writes (0: never).
	run := func(owner uint32, attempt int32, req workflows.ProbeSessionRequest, stopAfter int) (*Sessions, workflows.ProbeSessionResult, error) {
		t.Helper()
		ent := &Entity{Store: st}
		s := &Sessions{Prober: &Prober{Checks: checks.NewRegistry()}, Entity: ent}
		s.owner.Store(owner)
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		stopping := make(chan struct{})
		env.SetWorkerStopChannel(stopping)
		writes := 0
		ent.Hooks.Persisted = func(workflows.PersistRequest, bool, time.Time) {
			if writes++; writes == stopAfter {
				close(stopping)
			}
		}
		env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.ProbeSessionRequest) (workflows.ProbeSessionResult, error) {
			return sessionOutcome(s.probeSession(ctx, req, attempt))
		}, activity.RegisterOptions{Name: "attempt"})
		var res workflows.ProbeSessionResult
		v, err := env.ExecuteActivity("attempt", req)
		if err == nil {
			err = v.Get(&res)
		}
		return s, res, err
	}
	row := func() (owner *int32, resume []byte) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT probe_session_owner, probe_session_resume FROM system_health_state WHERE system_id = 's1'`).
			Scan(&owner, &resume); err != nil {
			t.Fatal(err)
		}
		return owner, resume
	}
	ids := func(rs []workflows.SessionRun) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.ID
		}
		return out
	}

	// Attempt 1 stores one run, then its worker stops.
	first, _, err := run(4242, 1, request(100), 1)
	var suspended *temporal.ApplicationError
	if !errors.As(err, &suspended) || suspended.Type() != ProbeSessionSuspended || suspended.NonRetryable() ||
		suspended.Category() != temporal.ApplicationErrorCategoryBenign {
		t.Fatalf("attempt 1 at its worker's stop: %v, want a retryable, benign %s error", err, ProbeSessionSuspended)
	}
	if _, resume := row(); !strings.Contains(string(resume), `"session": "e.1"`) || !strings.Contains(string(resume), `"runs": 1`) {
		t.Fatalf("what attempt 1 left to resume: %s", resume)
	}
	if n := first.HandOver(ctx); n != 1 {
		t.Errorf("handed over %d sessions, want 1", n)
	}
	// Attempt 2 on another worker: two more runs (MaxRuns 3 counts the first one).
	before := hits.Load()
	_, res, err := run(4343, 2, request(3), 0)
	if err != nil {
		t.Fatalf("attempt 2: %v", err)
	}
	want := []string{"s1:se.1.1", "s1:se.1.2", "s1:se.1.3"}
	if got := ids(res.Stored); res.Reason != workflows.SessionEndMaxRuns || !slices.Equal(got, want) {
		t.Errorf("attempt 2 reported %v (%s), want %v (max-runs)", got, res.Reason, want)
	}
	if got := hits.Load() - before; got != 2 {
		t.Errorf("attempt 2 probed %d times, want 2", got)
	}
	rows, err := pool.Query(ctx, `SELECT id FROM health_check_runs WHERE system_id = 's1' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	if stored, err := pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || !slices.Equal(stored, want) {
		t.Errorf("stored runs %v (%v), want %v, each once", stored, err, want)
	}
	if owner, resume := row(); owner == nil || *owner != 4343 || resume != nil {
		t.Errorf("after attempt 2: owner %v, resume %s; want 4343 and nothing left", owner, resume)
	}
	// A retry with nothing to resume from fails (not retryable: the entity reloads).
	var failed *temporal.ApplicationError
	if _, _, err := run(4444, 3, request(3), 0); !errors.As(err, &failed) || !failed.NonRetryable() {
		t.Errorf("an attempt with nothing to resume from: %v, want a failure that is not retried", err)
	}

	// Suspended again, then revoked while no worker runs it: its retry only reports.
	if _, _, err := st.ClaimProbeSession(ctx, "s1", "e.1", time.Now().Add(time.Minute), 4242); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SuspendProbeSession(ctx, "s1", "e.1", []byte(`{"runs":5,"stored":[{"id":"s1:se.1.5"}],"checks":[]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RevokeProbeSession(ctx, "s1", "e.1"); err != nil {
		t.Fatal(err)
	}
	before = hits.Load()
	_, res, err = run(4545, 2, request(100), 0)
	if err != nil || res.Reason != workflows.SessionEndFenced || !slices.Equal(ids(res.Stored), []string{"s1:se.1.5"}) || hits.Load() != before {
		t.Errorf("a revoked session's retry: %+v %v, %d probes; want fenced, reporting s1:se.1.5, no probe", res, err, hits.Load()-before)
	}

	// Suspended long ago with 2 s of its time left: the resumed attempt still probes for 2 s
	// (its deadline moves on by the time it was suspended) instead of ending at once.
	if _, _, err := st.ClaimProbeSession(ctx, "s1", "e.1", time.Now().Add(time.Minute), 4242); err != nil {
		t.Fatal(err)
	}
	long := fmt.Sprintf(`{"runs":7,"deadline":%q,"suspendedAt":%q,"checks":[{"configurationId":%q,"recent":["healthy"],"nextDue":%q}]}`,
		time.Now().Add(-time.Hour).Format(time.RFC3339Nano), time.Now().Add(-time.Hour-2*time.Second).Format(time.RFC3339Nano),
		cfg.ID, time.Now().Add(-time.Hour).Format(time.RFC3339Nano))
	if _, err := st.SuspendProbeSession(ctx, "s1", "e.1", []byte(long)); err != nil {
		t.Fatal(err)
	}
	before = hits.Load()
	_, res, err = run(4646, 2, request(100), 0)
	if err != nil || res.Reason != workflows.SessionEndMaxDuration || len(res.Stored) < 1 || res.Stored[0].ID != "s1:se.1.8" || hits.Load() == before {
		t.Errorf("a session resumed an hour after its deadline: %+v %v, %d probes; want runs from s1:se.1.8 on, then max-duration", res, err, hits.Load()-before)
	}

	// Not resumable (an entity before changeSessionResume): it ends and reports at the stop.
	if _, _, err := st.ClaimProbeSession(ctx, "s1", "e.2", time.Now().Add(time.Minute), 4242); err != nil {
		t.Fatal(err)
	}
	old := request(100)
	old.Resumable, old.Session = false, "e.2"
	_, res, err = run(4242, 1, old, 1)
	if err != nil || res.Reason != workflows.SessionEndStopping || len(res.Stored) != 1 {
		t.Errorf("a session that is not resumable at its worker's stop: %+v %v, want it to end and report 1 run", res, err)
	}
	if _, resume := row(); resume != nil {
		t.Errorf("a session that is not resumable left %s", resume)
	}
}

// A resumed session probes as long as it had left when it was suspended, within its attempt's
// own deadline.
func TestResumedDeadline(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		deadline      time.Time
		suspendedAt   time.Time
		attemptEndsAt time.Time
		want          time.Time
	}{
		{"suspended 10 s with a minute left", now.Add(50 * time.Second), now.Add(-10 * time.Second), time.Time{}, now.Add(time.Minute)},
		{"suspended an hour after its deadline passed", now.Add(-time.Hour), now.Add(-time.Hour - 2*time.Second), time.Time{}, now.Add(2 * time.Second)},
		{"no suspension time (older state)", now.Add(time.Minute), time.Time{}, time.Time{}, now.Add(time.Minute)},
		{"capped by the attempt's deadline", now.Add(50 * time.Second), now.Add(-10 * time.Second), now.Add(time.Minute), now.Add(time.Minute - 2*time.Second - sessionExpirySlack)},
		{"the attempt's deadline leaves room", now.Add(50 * time.Second), now.Add(-10 * time.Second), now.Add(time.Hour), now.Add(time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := resumedDeadline(sessionResume{Deadline: tc.deadline, SuspendedAt: tc.suspendedAt}, now, tc.attemptEndsAt, 2*time.Second)
			if !got.Equal(tc.want) {
				t.Errorf("deadline %v, want %v", got, tc.want)
			}
		})
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/health"
)

// groupFixture is several systems, each with its own assigned checks, a stored baseline (seq 1)
// and a claimed probe session "<system>.1".
type groupFixture struct {
	s       *Store
	pool    *pgxpool.Pool
	systems []string
	cfgs    map[string][]string // by system
}

func newGroupFixture(t *testing.T, systems, checks int, opts ...Option) groupFixture {
	t.Helper()
	s, pool := newStore(t, opts...)
	ctx := ctxT(t)
	f := groupFixture{s: s, pool: pool, cfgs: map[string][]string{}}
	for i := range systems {
		sys := fmt.Sprintf("sys-%c", 'a'+i)
		mustSystem(t, s, sys)
		var states []CheckState
		for j := range checks {
			c := mustConfig(t, s, fmt.Sprintf("%s-check-%d", sys, j))
			mustAssign(t, s, sys, c.ID)
			f.cfgs[sys] = append(f.cfgs[sys], c.ID)
			states = append(states, CheckState{ConfigurationID: c.ID, Status: health.Healthy})
		}
		if _, err := s.Persist(ctx, PersistInput{SystemID: sys, Seq: 1, At: t0, View: health.BaselineView(checks), Checks: states}); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.ClaimProbeSession(ctx, sys, sys+".1", t0.Add(time.Hour), 0); err != nil || !ok {
			t.Fatalf("claim %s: %v %v", sys, ok, err)
		}
		f.systems = append(f.systems, sys)
	}
	return f
}

// quietRun is a session's run k of check cfg at `at`, with a result document that carries a
// collector result.
func quietRun(sys, cfg string, k int, st health.Status, latency int, at time.Time) RunRecord {
	return RunRecord{ID: fmt.Sprintf("%s:s%s.1.%d", sys, sys, k), ConfigurationID: cfg, Status: st, LatencyMs: intp(latency),
		Result:    fmt.Appendf(nil, `{"status":%q,"latencyMs":%d,"metadata":{"collectors":{"inst-1":{"_collectorId":"healthcheck-http.request","ok":true}}}}`, st, latency),
		Timestamp: at}
}

// sessionWriteOf is the session write of runs (the checks' states and the runs' hooks, as
// activities.Sessions builds them).
func sessionWriteOf(sys string, at time.Time, runs ...RunRecord) PersistInput {
	in := PersistInput{SystemID: sys, Seq: 1, At: at, Session: &SessionFence{ID: sys + ".1", ExpiresAt: at.Add(time.Minute)}, Runs: runs}
	seen := map[string]bool{}
	for _, r := range runs {
		if !seen[r.ConfigurationID] {
			seen[r.ConfigurationID] = true
			in.Checks = append(in.Checks, CheckState{ConfigurationID: r.ConfigurationID, Status: health.Healthy, RunsConsidered: 2})
		}
		in.Events = append(in.Events, EventRecord{Type: health.HookCheckCompleted, Discriminator: r.ConfigurationID,
			Payload: map[string]any{"systemId": sys, "status": string(r.Status), "bytes": "a\x00b"}, Key: r.ID + ":" + health.HookCheckCompleted})
	}
	return in
}

// dumpSessionRows is everything a session write stores, as text, with the configuration ids
// replaced by their system and position (two fixtures have different ids), sorted.
func dumpSessionRows(t *testing.T, f groupFixture) string {
	t.Helper()
	ctx := ctxT(t)
	names := strings.NewReplacer(func() []string {
		var r []string
		for sys, cfgs := range f.cfgs {
			for j, c := range cfgs {
				r = append(r, c, fmt.Sprintf("<%s check %d>", sys, j))
			}
		}
		return r
	}()...)
	var out []string
	for _, q := range []string{
		`SELECT id, configuration_id::text, system_id, status::text, coalesce(latency_ms::text, '-'), coalesce(result::text, '-'),
			coalesce(source_id, '-'), coalesce(source_label, '-'), "timestamp"::text FROM health_check_runs ORDER BY id`,
		`SELECT configuration_id::text, system_id, bucket_start::text, bucket_size::text, run_count, healthy_count, degraded_count,
			unhealthy_count, coalesce(latency_sum_ms::text, '-'), coalesce(avg_latency_ms::text, '-'), coalesce(min_latency_ms::text, '-'),
			coalesce(max_latency_ms::text, '-'), coalesce(p95_latency_ms::text, '-'), coalesce(aggregated_result::text, '-'),
			coalesce(tdigest_state::text, '-'), coalesce(source_id, '-'), coalesce(source_label, '-')
			FROM health_check_aggregates ORDER BY system_id, configuration_id, bucket_start, source_id`,
		`SELECT system_id, configuration_id::text, coalesce(status::text, '-'), runs_considered, consecutive_successes,
			consecutive_failures, coalesce(last_run_id, '-'), coalesce(last_run_at::text, '-'), coalesce(last_run_status::text, '-'),
			coalesce(last_latency_ms::text, '-'), seq, updated_at::text FROM check_health_state ORDER BY system_id, configuration_id`,
		`SELECT system_id, seq, type, payload::text, idempotency_key, created_at::text FROM health_events
			WHERE type <> 'healthcheck.assignment.changed' ORDER BY idempotency_key`,
		`SELECT system_id, seq, coalesce(probe_session, '-'), coalesce(probe_session_expires_at::text, '-') FROM system_health_state ORDER BY system_id`,
	} {
		rows, err := f.pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = fmt.Sprint(v)
			}
			lines = append(lines, names.Replace(strings.Join(parts, " | ")))
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		sort.Strings(lines)
		out = append(out, lines...)
	}
	return strings.Join(out, "\n")
}

// A group commit stores exactly what Persist stores, write by write: runs, buckets (counts,
// latencies, t-digest, collector aggregates), check states, hooks — also for writes with runs
// stored before (only the new ones count) and writes stored before as a whole (not applied).
func TestGroupCommitStoresWhatPersistStores(t *testing.T) {
	t.Parallel()
	merge := func(collectorID string, existing, result map[string]any, _ health.RunSample) (map[string]any, bool) {
		if collectorID != "healthcheck-http.request" {
			return nil, false
		}
		// A stored aggregate reads back with float64 numbers; this merge keeps an int, so a fold
		// from anything but what a read gives counts differently.
		n := 0
		switch c := existing["count"].(type) {
		case float64:
			n = int(c)
		case int:
			n = c + 1000
		}
		return map[string]any{"count": n + 1}, true
	}
	base := t0.Add(10 * time.Minute)
	// Each step is one session write per system (the steps run one after another).
	type step func(f groupFixture, sys string) PersistInput
	cases := []struct {
		name  string
		steps []step
		// applied is each step's expected outcome.
		applied []bool
	}{
		{
			name: "one run",
			steps: []step{func(f groupFixture, sys string) PersistInput {
				return sessionWriteOf(sys, base, quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 12, base))
			}},
			applied: []bool{true},
		},
		{
			name: "runs of two checks across an hour boundary, out of order",
			steps: []step{func(f groupFixture, sys string) PersistInput {
				h := health.HourStart(base).Add(time.Hour)
				return sessionWriteOf(sys, h.Add(time.Second),
					quietRun(sys, f.cfgs[sys][1], 3, health.Healthy, 40, h.Add(-time.Second)),
					quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 12, h.Add(-2*time.Second)),
					quietRun(sys, f.cfgs[sys][0], 2, health.Degraded, 30, h.Add(time.Millisecond)),
					quietRun(sys, f.cfgs[sys][1], 4, health.Healthy, 7, h.Add(2*time.Millisecond)))
			}},
			applied: []bool{true},
		},
		{
			name: "second write folds into the first one's buckets",
			steps: []step{
				func(f groupFixture, sys string) PersistInput {
					return sessionWriteOf(sys, base, quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 12, base))
				},
				func(f groupFixture, sys string) PersistInput {
					return sessionWriteOf(sys, base.Add(10*time.Second),
						quietRun(sys, f.cfgs[sys][0], 2, health.Healthy, 50, base.Add(10*time.Second)),
						quietRun(sys, f.cfgs[sys][1], 3, health.Healthy, 5, base.Add(10*time.Second)))
				},
			},
			applied: []bool{true, true},
		},
		{
			name: "a write repeated is not applied",
			steps: []step{
				func(f groupFixture, sys string) PersistInput {
					return sessionWriteOf(sys, base, quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 12, base))
				},
				func(f groupFixture, sys string) PersistInput {
					return sessionWriteOf(sys, base, quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 12, base))
				},
			},
			applied: []bool{true, false},
		},
		{
			name: "only the new runs of a partly stored write count",
			steps: []step{
				func(f groupFixture, sys string) PersistInput {
					return sessionWriteOf(sys, base, quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 12, base))
				},
				func(f groupFixture, sys string) PersistInput {
					return sessionWriteOf(sys, base.Add(20*time.Second),
						quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 12, base),
						quietRun(sys, f.cfgs[sys][1], 2, health.Healthy, 9, base.Add(20*time.Second)))
				},
			},
			applied: []bool{true, true},
		},
		{
			name: "a bucket written by the entity between two session writes",
			steps: []step{
				func(f groupFixture, sys string) PersistInput {
					return sessionWriteOf(sys, base, quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 12, base))
				},
				func(f groupFixture, sys string) PersistInput {
					// Not a session's write: the entity's own (it stores a run-now in the same bucket).
					r := quietRun(sys, f.cfgs[sys][0], 0, health.Unhealthy, 90, base.Add(time.Second))
					r.ID = RunNowRunID(sys, "now-1")
					return PersistInput{SystemID: sys, Seq: 2, At: base.Add(time.Second), Runs: []RunRecord{r}, View: health.BaselineView(2),
						Checks: []CheckState{{ConfigurationID: f.cfgs[sys][0], Status: health.Healthy, RunsConsidered: 3}}}
				},
				func(f groupFixture, sys string) PersistInput {
					return sessionWriteOf(sys, base.Add(10*time.Second), quietRun(sys, f.cfgs[sys][0], 2, health.Healthy, 30, base.Add(10*time.Second)))
				},
				func(f groupFixture, sys string) PersistInput {
					return sessionWriteOf(sys, base.Add(20*time.Second), quietRun(sys, f.cfgs[sys][0], 3, health.Healthy, 20, base.Add(20*time.Second)))
				},
			},
			applied: []bool{true, true, true, true},
		},
		{
			name: "an older run does not replace the check's last run",
			steps: []step{
				func(f groupFixture, sys string) PersistInput {
					return sessionWriteOf(sys, base, quietRun(sys, f.cfgs[sys][0], 2, health.Healthy, 12, base))
				},
				func(f groupFixture, sys string) PersistInput {
					return sessionWriteOf(sys, base, quietRun(sys, f.cfgs[sys][0], 1, health.Degraded, 70, base.Add(-time.Minute)))
				},
			},
			applied: []bool{true, true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			alone := newGroupFixture(t, 2, 2, WithCollectorMerger(merge))
			grouped := newGroupFixture(t, 2, 2, WithCollectorMerger(merge))
			// One committer for every step: its later commits fold into the buckets it cached.
			gc := grouped.s.NewGroupCommitter(GroupCommitOptions{Linger: time.Hour})
			sessionSteps := 0
			for i, st := range tc.steps {
				for _, sys := range alone.systems {
					applied, err := alone.s.Persist(ctx, st(alone, sys))
					if err != nil || applied != tc.applied[i] {
						t.Fatalf("step %d, %s, alone: applied %v err %v, want applied %v", i, sys, applied, err, tc.applied[i])
					}
				}
				if st(grouped, grouped.systems[0]).Session == nil {
					for _, sys := range grouped.systems {
						if applied, err := grouped.s.Persist(ctx, st(grouped, sys)); err != nil || applied != tc.applied[i] {
							t.Fatalf("step %d, %s, entity write: applied %v err %v", i, sys, applied, err)
						}
					}
					continue
				}
				sessionSteps++
				// Both systems' writes go in one commit (it starts once both wait).
				gc.mu.Lock()
				gc.opts.MaxRuns = 2 * len(st(grouped, grouped.systems[0]).Runs)
				gc.mu.Unlock()
				var wg sync.WaitGroup
				for _, sys := range grouped.systems {
					wg.Go(func() {
						applied, err := gc.Persist(ctx, st(grouped, sys))
						if err != nil || applied != tc.applied[i] {
							t.Errorf("step %d, %s, grouped: applied %v err %v, want applied %v", i, sys, applied, err, tc.applied[i])
						}
					})
				}
				wg.Wait()
			}
			if got, want := gc.Stats(), (GroupCommitStats{Commits: int64(sessionSteps), Writes: int64(2 * sessionSteps)}); got != want {
				t.Errorf("stats %+v, want %+v", got, want)
			}
			got, want := dumpSessionRows(t, grouped), dumpSessionRows(t, alone)
			if got != want {
				g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
				for i := range max(len(g), len(w)) {
					var gl, wl string
					if i < len(g) {
						gl = g[i]
					}
					if i < len(w) {
						wl = w[i]
					}
					if gl != wl {
						t.Errorf("row %d: group commit stored\n\t%s\nPersist stored\n\t%s", i, gl, wl)
					}
				}
			}
			if !strings.Contains(want, "healthcheck.check.completed") || !strings.Contains(want, `"count"`) {
				t.Errorf("the writes stored no hook or no collector aggregate:\n%s", want)
			}
		})
	}
}

// One commit of three systems' writes, one of whose sessions was replaced: only its write is
// refused (ErrSessionFenced) and stores nothing; the other two are stored.
func TestGroupCommitFencesEachSystem(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	f := newGroupFixture(t, 3, 1)
	fenced := f.systems[1]
	if _, ok, err := f.s.ClaimProbeSession(ctx, fenced, fenced+".2", t0.Add(time.Hour), 0); err != nil || !ok {
		t.Fatalf("second claim: %v %v", ok, err)
	}
	gc := f.s.NewGroupCommitter(GroupCommitOptions{Linger: time.Hour, MaxRuns: 3})
	at := t0.Add(time.Minute)
	errs := make([]error, len(f.systems))
	applied := make([]bool, len(f.systems))
	var wg sync.WaitGroup
	for i, sys := range f.systems {
		wg.Go(func() {
			applied[i], errs[i] = gc.Persist(ctx, sessionWriteOf(sys, at, quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 12, at)))
		})
	}
	wg.Wait()
	if st := gc.Stats(); st.Commits != 1 || st.Writes != 3 {
		t.Fatalf("stats %+v, want the three writes in one commit", st)
	}
	for i, sys := range f.systems {
		if sys == fenced {
			if !errors.Is(errs[i], ErrSessionFenced) || applied[i] {
				t.Errorf("%s (fenced): applied %v err %v, want ErrSessionFenced", sys, applied[i], errs[i])
			}
			continue
		}
		if errs[i] != nil || !applied[i] {
			t.Errorf("%s: applied %v err %v, want applied", sys, applied[i], errs[i])
		}
	}
	for _, sys := range f.systems {
		want := 1
		if sys == fenced {
			want = 0
		}
		for what, n := range map[string]int{
			"runs":        count(t, f.pool, "health_check_runs WHERE system_id = $1", sys),
			"buckets":     count(t, f.pool, "health_check_aggregates WHERE system_id = $1 AND run_count = 1", sys),
			"hooks":       count(t, f.pool, "health_events WHERE system_id = $1 AND type = $2", sys, health.HookCheckCompleted),
			"last runs":   count(t, f.pool, "check_health_state WHERE system_id = $1 AND last_run_id IS NOT NULL", sys),
			"fence moved": count(t, f.pool, "system_health_state WHERE system_id = $1 AND probe_session_expires_at = $2", sys, at.Add(time.Minute)),
		} {
			if n != want {
				t.Errorf("%s: %d %s, want %d", sys, n, what, want)
			}
		}
	}
}

// Two writes of one system never share a commit; both are stored, folded one after the other.
func TestGroupCommitOneWritePerSystemAndCommit(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	f := newGroupFixture(t, 1, 1)
	sys, cfg := f.systems[0], f.cfgs[f.systems[0]][0]
	gc := f.s.NewGroupCommitter(GroupCommitOptions{Linger: time.Millisecond, MaxRuns: 2})
	at := t0.Add(time.Minute)
	var wg sync.WaitGroup
	for k := 1; k <= 2; k++ {
		wg.Go(func() {
			if applied, err := gc.Persist(ctx, sessionWriteOf(sys, at, quietRun(sys, cfg, k, health.Healthy, 10*k, at.Add(time.Duration(k)*time.Second)))); err != nil || !applied {
				t.Errorf("write %d: applied %v err %v", k, applied, err)
			}
		})
	}
	wg.Wait()
	if st := gc.Stats(); st.Commits != 2 || st.Writes != 2 {
		t.Errorf("stats %+v, want one commit per write", st)
	}
	var runCount, sum int
	if err := f.pool.QueryRow(ctx, `SELECT run_count, latency_sum_ms FROM health_check_aggregates WHERE system_id = $1`, sys).Scan(&runCount, &sum); err != nil {
		t.Fatal(err)
	}
	if runCount != 2 || sum != 30 {
		t.Errorf("bucket: %d runs, latency sum %d; want 2 and 30", runCount, sum)
	}
}

// A write PostgreSQL refuses fails alone, as Persist fails it, and stores nothing — whether
// the refusal comes with the runs (the first round trip) or with the hooks (the last one, after
// the other writes' runs, buckets and check states were written in the same transaction); the
// other writes of its group are stored.
func TestGroupCommitRefusedWriteFailsAlone(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		bad  func(f groupFixture, sys string, at time.Time) PersistInput
	}{
		{"a run of a configuration that does not exist", func(f groupFixture, sys string, at time.Time) PersistInput {
			return sessionWriteOf(sys, at, quietRun(sys, "00000000-0000-4000-8000-00000000dead", 1, health.Healthy, 12, at))
		}},
		{"a hook type PostgreSQL refuses", func(f groupFixture, sys string, at time.Time) PersistInput {
			in := sessionWriteOf(sys, at, quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 12, at))
			in.Events[0].Type = strings.Repeat("x", 201)
			return in
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			f := newGroupFixture(t, 3, 1)
			bad := f.systems[2]
			gc := f.s.NewGroupCommitter(GroupCommitOptions{Linger: time.Hour, MaxRuns: 3})
			at := t0.Add(time.Minute)
			errs := make([]error, len(f.systems))
			var wg sync.WaitGroup
			for i, sys := range f.systems {
				in := sessionWriteOf(sys, at, quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 12, at))
				if sys == bad {
					in = tc.bad(f, sys, at)
				}
				wg.Go(func() { _, errs[i] = gc.Persist(ctx, in) })
			}
			wg.Wait()
			if st := gc.Stats(); st.Commits != 1 || st.Writes != 3 {
				t.Fatalf("stats %+v, want the three writes in one commit", st)
			}
			_, alone := f.s.Persist(ctx, tc.bad(f, bad, at))
			for i, sys := range f.systems {
				switch {
				case sys == bad && (errs[i] == nil || alone == nil || errs[i].Error() != alone.Error()):
					t.Errorf("%s: err %v, want Persist's error %v", sys, errs[i], alone)
				case sys != bad && errs[i] != nil:
					t.Errorf("%s: %v", sys, errs[i])
				}
				want := 1
				if sys == bad {
					want = 0
				}
				if n := count(t, f.pool, "health_check_runs WHERE system_id = $1", sys); n != want {
					t.Errorf("%s: %d runs stored, want %d", sys, n, want)
				}
				if n := count(t, f.pool, "health_check_aggregates WHERE system_id = $1", sys); n != want {
					t.Errorf("%s: %d buckets stored, want %d", sys, n, want)
				}
			}
		})
	}
}

// With its buckets cached, a commit takes three round trips and reads no bucket: BEGIN with the
// fences and runs; the folds, check states and hooks; COMMIT.
func TestGroupCommitFoldsIntoCachedBuckets(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s, pool, tr := newTracedStore(t)
	f := groupFixture{s: s, pool: pool, cfgs: map[string][]string{}}
	sys := "sys-a"
	mustSystem(t, s, sys)
	c := mustConfig(t, s, "check")
	mustAssign(t, s, sys, c.ID)
	if _, err := s.Persist(ctx, PersistInput{SystemID: sys, Seq: 1, At: t0, View: health.BaselineView(1)}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ClaimProbeSession(ctx, sys, sys+".1", t0.Add(time.Hour), 0); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	f.cfgs[sys] = []string{c.ID}
	gc := s.NewGroupCommitter(GroupCommitOptions{Linger: time.Millisecond})
	for k := 1; k <= 3; k++ {
		at := t0.Add(time.Duration(k) * time.Second)
		tr.reset()
		if applied, err := gc.Persist(ctx, sessionWriteOf(sys, at, quietRun(sys, c.ID, k, health.Healthy, 10*k, at))); err != nil || !applied {
			t.Fatalf("write %d: applied %v err %v", k, applied, err)
		}
		stmts := tr.statements()
		locks := 0
		for _, q := range stmts {
			if q == groupLockBucketsSQL {
				locks++
			}
		}
		// The first write reads its (new) bucket; the others fold into the cached one: BEGIN,
		// its plan setting, fences, runs (one batch); folds, check states, hooks (another); COMMIT.
		wantLocks := 0
		if k == 1 {
			wantLocks = 1
		}
		if locks != wantLocks || tr.batches != 2 || len(stmts) != 8+wantLocks || stmts[len(stmts)-1] != "COMMIT" {
			t.Errorf("write %d: %d bucket reads, %d batches, %d statements, want %d reads, 2 batches, %d statements ending with COMMIT",
				k, locks, tr.batches, len(stmts), wantLocks, 8+wantLocks)
		}
	}
	var runCount, sum int
	if err := pool.QueryRow(ctx, `SELECT run_count, latency_sum_ms FROM health_check_aggregates`).Scan(&runCount, &sum); err != nil {
		t.Fatal(err)
	}
	if runCount != 3 || sum != 60 {
		t.Errorf("bucket: %d runs, latency sum %d; want 3 and 60", runCount, sum)
	}
}

// A write whose caller needs the answer now (PersistBy a past time), or a Flush, starts the
// commit at once, with the writes that wait for their (long) linger.
func TestGroupCommitStartsAtOnceWhenAsked(t *testing.T) {
	t.Parallel()
	for _, flush := range []bool{false, true} {
		t.Run(fmt.Sprintf("flush=%v", flush), func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			f := newGroupFixture(t, 2, 1)
			a, b := f.systems[0], f.systems[1]
			gc := f.s.NewGroupCommitter(GroupCommitOptions{Linger: time.Hour})
			at := t0.Add(time.Minute)
			var wg sync.WaitGroup
			wg.Go(func() {
				if applied, err := gc.Persist(ctx, sessionWriteOf(a, at, quietRun(a, f.cfgs[a][0], 1, health.Healthy, 12, at))); err != nil || !applied {
					t.Errorf("%s: applied %v err %v", a, applied, err)
				}
			})
			// Once a's write waits, b's is answered now.
			for queued := 0; queued == 0; runtime.Gosched() {
				if ctx.Err() != nil {
					t.Fatal("the first write was never queued")
				}
				gc.mu.Lock()
				queued = len(gc.queue)
				gc.mu.Unlock()
			}
			bWrite := sessionWriteOf(b, at, quietRun(b, f.cfgs[b][0], 1, health.Healthy, 12, at))
			if flush {
				wg.Go(func() {
					if applied, err := gc.Persist(ctx, bWrite); err != nil || !applied {
						t.Errorf("%s: applied %v err %v", b, applied, err)
					}
				})
				for queued := 1; queued < 2; runtime.Gosched() {
					if ctx.Err() != nil {
						t.Fatal("the second write was never queued")
					}
					gc.mu.Lock()
					queued = len(gc.queue)
					gc.mu.Unlock()
				}
				gc.Flush()
			} else if applied, err := gc.PersistBy(ctx, bWrite, time.Now()); err != nil || !applied {
				t.Errorf("%s: applied %v err %v", b, applied, err)
			}
			wg.Wait()
			if st := gc.Stats(); st.Commits != 1 || st.Writes != 2 {
				t.Errorf("stats %+v, want both writes in one commit", st)
			}
		})
	}
}

// The committer only takes probe sessions' writes and validates them as Persist does.
func TestGroupCommitRejectsInvalidWrites(t *testing.T) {
	t.Parallel()
	f := newGroupFixture(t, 1, 1)
	sys := f.systems[0]
	gc := f.s.NewGroupCommitter(GroupCommitOptions{})
	noSession := sessionWriteOf(sys, t0, quietRun(sys, f.cfgs[sys][0], 1, health.Healthy, 1, t0))
	noSession.Session = nil
	badStatus := sessionWriteOf(sys, t0, quietRun(sys, f.cfgs[sys][0], 1, "fine", 1, t0))
	for name, in := range map[string]PersistInput{"without session": noSession, "invalid status": badStatus} {
		if _, err := gc.Persist(context.Background(), in); !errors.Is(err, ErrValidation) {
			t.Errorf("%s: %v, want a validation error", name, err)
		}
	}
	if st := gc.Stats(); st.Commits != 0 {
		t.Errorf("stats %+v, want no commit", st)
	}
}

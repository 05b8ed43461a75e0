package store

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// degradedItem is the item of a first failing evaluation that degrades the system: one run,
// the check's state, the new view, the transition and the trigger events.
func degradedItem(f fixture, seq int64, at time.Time) PersistInput {
	prev := health.BaselineView(1)
	next := &health.View{Status: health.Degraded, HealthyChecks: 0, TotalChecks: 1}
	in := PersistInput{
		SystemID: f.sys, Seq: seq, At: at,
		Runs:       []RunRecord{run(f.sys, f.cfg, seq, health.Unhealthy, intp(120), at)},
		Checks:     []CheckState{{ConfigurationID: f.cfg, Status: health.Degraded, RunsConsidered: 1, ConsecutiveFailures: 1}},
		View:       next,
		Transition: &TransitionRecord{ConfigurationID: f.cfg, From: statusp(health.Healthy), To: health.Degraded},
	}
	for _, ev := range health.DeriveEvents(prev, next, f.sys, at) {
		in.Events = append(in.Events, EventRecord{Type: ev.Type, Payload: ev.Payload})
	}
	in.Events = append(in.Events, EventRecord{Type: health.HookCheckCompleted, Discriminator: f.cfg, Payload: map[string]any{"status": "unhealthy"}})
	return in
}

type persistCounts struct{ runs, runCount, transitions, events, stateSeq int }

func countsOf(t *testing.T, f fixture) persistCounts {
	t.Helper()
	var c persistCounts
	c.runs = count(t, f.pool, "health_check_runs")
	if err := f.pool.QueryRow(ctxT(t), `SELECT coalesce(sum(run_count), 0) FROM health_check_aggregates`).Scan(&c.runCount); err != nil {
		t.Fatal(err)
	}
	c.transitions = count(t, f.pool, "health_check_state_transitions")
	// The fixture's assignment wrote a healthcheck.assignment.changed hook; count Persist's events.
	c.events = count(t, f.pool, "health_events WHERE type <> $1", health.HookAssignmentChanged)
	if err := f.pool.QueryRow(ctxT(t), `SELECT coalesce(max(seq), 0) FROM system_health_state`).Scan(&c.stateSeq); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPersistIdempotent: the same item persisted twice → one run, the aggregate counted once, one
// transition, one set of events; the second call reports not applied (acceptance 2).
func TestPersistIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	in := degradedItem(f, 1, t0)
	want := persistCounts{runs: 1, runCount: 1, transitions: 1, events: 3, stateSeq: 1}
	for i, wantApplied := range []bool{true, false} {
		applied, err := f.s.Persist(ctxT(t), in)
		if err != nil {
			t.Fatalf("persist #%d: %v", i+1, err)
		}
		if applied != wantApplied {
			t.Fatalf("persist #%d applied = %v, want %v", i+1, applied, wantApplied)
		}
		if got := countsOf(t, f); got != want {
			t.Fatalf("after persist #%d: %+v, want %+v", i+1, got, want)
		}
	}
	keys := map[string]bool{}
	rows, err := f.pool.Query(ctxT(t), `SELECT idempotency_key FROM health_events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		_ = rows.Scan(&k)
		keys[k] = true
	}
	for _, k := range []string{"sys-1:1:healthcheck.system_degraded", "sys-1:1:healthcheck.system_health_changed",
		"sys-1:1:healthcheck.check.completed:" + f.cfg} {
		if !keys[k] {
			t.Errorf("event key %q missing (have %v)", k, keys)
		}
	}
}

// TestPersistConcurrentSameInput: the same item from several goroutines at once → exactly one
// applies; one run, aggregate counted once, one transition, one set of events (acceptance 2).
func TestPersistConcurrentSameInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	in := degradedItem(f, 1, t0)
	const n = 8
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make(chan error, n)
	applied := make(chan bool, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := f.s.Persist(ctxT(t), in)
			results <- err
			applied <- ok
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	close(applied)
	for err := range results {
		if err != nil {
			t.Fatal(err)
		}
	}
	nApplied := 0
	for ok := range applied {
		if ok {
			nApplied++
		}
	}
	if nApplied != 1 {
		t.Fatalf("%d of %d concurrent persists applied, want 1", nApplied, n)
	}
	if got, want := countsOf(t, f), (persistCounts{runs: 1, runCount: 1, transitions: 1, events: 3, stateSeq: 1}); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
}

// TestPersistSeqFencing: persisting seq 5 after seq 6 leaves system_health_state at seq 6 (and
// its view), while the seq-5 run itself is still recorded (acceptance 3).
func TestPersistSeqFencing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	six := PersistInput{SystemID: f.sys, Seq: 6, At: t0,
		Runs:   []RunRecord{run(f.sys, f.cfg, 6, health.Unhealthy, intp(10), t0)},
		Checks: []CheckState{{ConfigurationID: f.cfg, Status: health.Unhealthy, RunsConsidered: 6, ConsecutiveFailures: 6}},
		View:   &health.View{Status: health.Unhealthy, HealthyChecks: 0, TotalChecks: 1}}
	five := PersistInput{SystemID: f.sys, Seq: 5, At: t0.Add(-time.Minute),
		Runs:   []RunRecord{run(f.sys, f.cfg, 5, health.Healthy, intp(10), t0.Add(-time.Minute))},
		Checks: []CheckState{{ConfigurationID: f.cfg, Status: health.Healthy, RunsConsidered: 5, ConsecutiveSuccesses: 1}},
		View:   health.BaselineView(1)}
	for _, in := range []PersistInput{six, five} {
		if _, err := f.s.Persist(ctxT(t), in); err != nil {
			t.Fatal(err)
		}
	}
	v, err := f.s.GetView(ctxT(t), f.sys)
	if err != nil {
		t.Fatal(err)
	}
	if v.Seq != 6 || v.Status != health.Unhealthy {
		t.Fatalf("view after seq 5 following 6: seq %d status %s, want seq 6 unhealthy", v.Seq, v.Status)
	}
	checks, err := f.s.CheckStates(ctxT(t), []string{f.sys})
	if err != nil {
		t.Fatal(err)
	}
	if c := checks[f.sys][0]; c.Status != health.Unhealthy || c.ConsecutiveFailures != 6 {
		t.Fatalf("check state overwritten by the older seq: %+v", c)
	}
	if n := count(t, f.pool, "health_check_runs"); n != 2 {
		t.Fatalf("%d runs, want 2 (the late run is still a fact)", n)
	}
	st, err := f.s.Load(ctxT(t), f.sys)
	if err != nil {
		t.Fatal(err)
	}
	if st.Seq != 6 {
		t.Fatalf("Load seq %d, want 6", st.Seq)
	}
}

// TestPersistWithoutRunsIsGatedBySeq: a configuration-change item (no runs) applies once; a
// replay and an older seq do not.
func TestPersistWithoutRunsIsGatedBySeq(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.s.Persist(ctxT(t), degradedItem(f, 1, t0)); err != nil {
		t.Fatal(err)
	}
	healthy := health.BaselineView(1)
	item := PersistInput{SystemID: f.sys, Seq: 2, At: t0.Add(time.Minute), View: healthy,
		Checks:     []CheckState{{ConfigurationID: f.cfg, Status: health.Healthy}},
		Transition: &TransitionRecord{From: statusp(health.Degraded), To: health.Healthy},
		Events:     []EventRecord{{Type: health.EventSystemHealthy, Payload: map[string]any{"systemId": f.sys}}}}
	for i, want := range []bool{true, false} {
		applied, err := f.s.Persist(ctxT(t), item)
		if err != nil {
			t.Fatal(err)
		}
		if applied != want {
			t.Fatalf("config-change persist #%d applied %v, want %v", i+1, applied, want)
		}
	}
	old := item
	old.Seq = 1
	if applied, err := f.s.Persist(ctxT(t), old); err != nil || applied {
		t.Fatalf("older seq without runs applied=%v err=%v, want false", applied, err)
	}
	if got, want := countsOf(t, f), (persistCounts{runs: 1, runCount: 1, transitions: 2, events: 4, stateSeq: 2}); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	tr, err := f.s.ListTransitions(ctxT(t), TransitionFilter{SystemID: f.sys})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 2 || tr[0].ConfigurationID != nil || tr[0].ToStatus != health.Healthy || tr[1].ConfigurationID == nil {
		t.Fatalf("transitions %+v: want newest healthy without configuration, then the run-driven one", tr)
	}
	v, err := f.s.GetView(ctxT(t), f.sys)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != health.Healthy || !v.InStatusSince.Equal(t0.Add(time.Minute)) {
		t.Fatalf("view %+v: want healthy since %s", v, t0.Add(time.Minute))
	}
}

// TestPersistConcurrentFoldsIntoNewBucket: many distinct runs folded into the same (new) hourly
// bucket concurrently lose no update: run_count and latency sum count every run.
func TestPersistConcurrentFoldsIntoNewBucket(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(seq int64) {
			defer wg.Done()
			<-start
			at := t0.Add(time.Duration(seq) * time.Second)
			_, err := f.s.Persist(ctxT(t), PersistInput{SystemID: f.sys, Seq: seq, At: at,
				Runs: []RunRecord{run(f.sys, f.cfg, seq, health.Healthy, intp(int(seq)*10), at)}, View: health.BaselineView(1)})
			errs <- err
		}(int64(i))
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var rows, runCount, sum, minL, maxL int
	if err := f.pool.QueryRow(ctxT(t), `SELECT count(*), sum(run_count), sum(latency_sum_ms), min(min_latency_ms), max(max_latency_ms)
		FROM health_check_aggregates`).Scan(&rows, &runCount, &sum, &minL, &maxL); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || runCount != n || sum != 10*n*(n+1)/2 || minL != 10 || maxL != 10*n {
		t.Fatalf("bucket rows=%d run_count=%d sum=%d min=%d max=%d; want 1, %d, %d, 10, %d", rows, runCount, sum, minL, maxL, n, 10*n*(n+1)/2, 10*n)
	}
	v, err := f.s.GetView(ctxT(t), f.sys)
	if err != nil {
		t.Fatal(err)
	}
	if v.Seq != n {
		t.Fatalf("view seq %d, want the highest %d", v.Seq, n)
	}
}

// TestPersistCheckStateAndBatch: a batch of runs of two checks updates both check states (last
// run = newest), folds each run into its own bucket (per hour and source) and records the newest
// run first in Load.
func TestPersistCheckStateAndBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c2 := mustConfig(t, f.s, "check-2")
	mustAssign(t, f.s, f.sys, c2.ID)
	r1 := run(f.sys, f.cfg, 1, health.Healthy, intp(5), t0.Add(-2*time.Hour))
	r2 := RunRecord{ID: ExternalRunID(f.sys, "abc"), ConfigurationID: f.cfg, Status: health.Unhealthy, LatencyMs: nil,
		Timestamp: t0, SourceID: strp("eu"), SourceLabel: strp("EU")}
	r3 := RunRecord{ID: RunNowRunID(f.sys, "upd-1"), ConfigurationID: c2.ID, Status: health.Degraded, LatencyMs: intp(7), Timestamp: t0}
	applied, err := f.s.Persist(ctxT(t), PersistInput{SystemID: f.sys, Seq: 1, At: t0, Runs: []RunRecord{r2, r1, r3},
		Checks: []CheckState{{ConfigurationID: f.cfg, Status: health.Healthy, RunsConsidered: 2, ConsecutiveFailures: 1}},
		View:   &health.View{Status: health.Healthy, HealthyChecks: 2, TotalChecks: 2}})
	if err != nil || !applied {
		t.Fatalf("applied=%v err=%v", applied, err)
	}
	if n := count(t, f.pool, "health_check_aggregates"); n != 3 {
		t.Fatalf("%d buckets, want 3 (two hours of check 1, one of them from source eu; one of check 2)", n)
	}
	var src, label *string
	var unhealthy int
	if err := f.pool.QueryRow(ctxT(t), `SELECT source_id, source_label, unhealthy_count FROM health_check_aggregates
		WHERE configuration_id = $1 AND bucket_start = $2`, f.cfg, t0).Scan(&src, &label, &unhealthy); err != nil {
		t.Fatal(err)
	}
	if !ptrEq(src, strp("eu")) || !ptrEq(label, strp("EU")) || unhealthy != 1 {
		t.Fatalf("source bucket: source %s label %s unhealthy %d", fmtPtr(src), fmtPtr(label), unhealthy)
	}
	states, err := f.s.CheckStates(ctxT(t), []string{f.sys})
	if err != nil {
		t.Fatal(err)
	}
	byCfg := map[string]CheckRow{}
	for _, c := range states[f.sys] {
		byCfg[c.ConfigurationID] = c
	}
	c1 := byCfg[f.cfg]
	if !c1.Evaluated || c1.Status != health.Healthy || c1.RunsConsidered != 2 || !ptrEq(c1.LastRunID, strp(r2.ID)) ||
		c1.LastRunAt == nil || !c1.LastRunAt.Equal(t0) || c1.LastLatencyMs != nil || !ptrEq(c1.LastRunStatus, statusp(health.Unhealthy)) {
		t.Fatalf("check 1 state %+v", c1)
	}
	c2s := byCfg[c2.ID]
	if c2s.Evaluated || c2s.Status != health.Healthy || !ptrEq(c2s.LastRunID, strp(r3.ID)) {
		t.Fatalf("check 2 state %+v: want run recorded, not evaluated (status defaults to healthy)", c2s)
	}
	st, err := f.s.Load(ctxT(t), f.sys)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Checks) != 2 || len(st.Checks[0].RecentStatuses) != 2 || st.Checks[0].RecentStatuses[0] != health.Unhealthy {
		t.Fatalf("load: %+v", st.Checks)
	}
}

// TestClearView: clearing the view (tombstone) removes it from reads but keeps the seq, fenced
// like any write.
func TestClearView(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.s.Persist(ctxT(t), degradedItem(f, 3, t0)); err != nil {
		t.Fatal(err)
	}
	if applied, err := f.s.ClearView(ctxT(t), f.sys, 2, t0); err != nil || applied {
		t.Fatalf("stale clear applied=%v err=%v", applied, err)
	}
	if applied, err := f.s.ClearView(ctxT(t), f.sys, 4, t0); err != nil || !applied {
		t.Fatalf("clear applied=%v err=%v", applied, err)
	}
	if _, err := f.s.GetView(ctxT(t), f.sys); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetView after clear: %v, want not found", err)
	}
	views, err := f.s.GetViews(ctxT(t), []string{f.sys})
	if err != nil || len(views) != 0 {
		t.Fatalf("GetViews after clear: %v %v", views, err)
	}
	st, err := f.s.Load(ctxT(t), f.sys)
	if err != nil {
		t.Fatal(err)
	}
	if st.View != nil || st.Seq != 4 {
		t.Fatalf("Load after clear: view %+v seq %d, want nil and 4", st.View, st.Seq)
	}
	// A later view starts a new "in status since".
	if _, err := f.s.Persist(ctxT(t), PersistInput{SystemID: f.sys, Seq: 5, At: t0.Add(time.Hour), View: health.BaselineView(1)}); err != nil {
		t.Fatal(err)
	}
	v, err := f.s.GetView(ctxT(t), f.sys)
	if err != nil || !v.InStatusSince.Equal(t0.Add(time.Hour)) {
		t.Fatalf("view after re-create %+v %v", v, err)
	}
}

// TestPersistSkipsVanishedAssignmentAndConfiguration: a run of a check disassociated meanwhile is
// still recorded without a check state; a transition driven by a deleted configuration is
// recorded without one.
func TestPersistSkipsVanishedAssignmentAndConfiguration(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.s.Disassociate(ctxT(t), f.sys, f.cfg); err != nil {
		t.Fatal(err)
	}
	in := degradedItem(f, 1, t0)
	if applied, err := f.s.Persist(ctxT(t), in); err != nil || !applied {
		t.Fatalf("applied=%v err=%v", applied, err)
	}
	if n := count(t, f.pool, "check_health_state"); n != 0 {
		t.Fatalf("%d check states for a disassociated check", n)
	}
	other := mustConfig(t, f.s, "gone")
	if _, err := f.s.DeleteConfiguration(ctxT(t), other.ID); err != nil {
		t.Fatal(err)
	}
	item := PersistInput{SystemID: f.sys, Seq: 2, At: t0, View: health.BaselineView(1),
		Transition: &TransitionRecord{ConfigurationID: other.ID, From: statusp(health.Degraded), To: health.Healthy}}
	if applied, err := f.s.Persist(ctxT(t), item); err != nil || !applied {
		t.Fatalf("applied=%v err=%v", applied, err)
	}
	if n := count(t, f.pool, "health_check_state_transitions WHERE configuration_id IS NULL AND to_status = 'healthy'"); n != 1 {
		t.Fatalf("%d transitions without configuration, want 1", n)
	}
}

// TestPersistCollectorAggregates: with a collector merger, collector results of the run result
// are folded into the bucket's aggregatedResult.
func TestPersistCollectorAggregates(t *testing.T) {
	t.Parallel()
	merge := func(collectorID string, existing, result map[string]any, _ health.RunSample) (map[string]any, bool) {
		if collectorID != "healthcheck-http.request" {
			return nil, false
		}
		ok, _ := result["ok"].(bool)
		inc := 0
		if ok {
			inc = 1
		}
		return health.MergeCounter(existing, inc), true
	}
	f := newFixture(t, WithCollectorMerger(merge))
	result := []byte(`{"status":"healthy","metadata":{"collectors":{"inst-1":{"_collectorId":"healthcheck-http.request","ok":true}}}}`)
	for seq := int64(1); seq <= 3; seq++ {
		r := run(f.sys, f.cfg, seq, health.Healthy, intp(10), t0.Add(time.Duration(seq)*time.Minute))
		r.Result = result
		if _, err := f.s.Persist(ctxT(t), PersistInput{SystemID: f.sys, Seq: seq, At: r.Timestamp, Runs: []RunRecord{r}, View: health.BaselineView(1)}); err != nil {
			t.Fatal(err)
		}
	}
	var count float64
	var cid string
	if err := f.pool.QueryRow(ctxT(t), `SELECT (aggregated_result->'collectors'->'inst-1'->>'count')::float8,
		aggregated_result->'collectors'->'inst-1'->>'_collectorId' FROM health_check_aggregates`).Scan(&count, &cid); err != nil {
		t.Fatal(err)
	}
	if count != 3 || cid != "healthcheck-http.request" {
		t.Fatalf("collector aggregate count %v id %q, want 3 and the collector id", count, cid)
	}
	run, err := f.s.GetRun(ctxT(t), ProbeRunID(f.sys, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Result) == 0 || run.Timestamp.Location() != time.UTC {
		t.Fatalf("stored run %+v", run)
	}
}

// TestBucketInsertOrLockRace runs Persist's bucket statements (insert-or-lock, fold with
// health.FoldRun, write back) from many transactions at once against a bucket that does not
// exist yet, without any other lock around them: no update is lost.
func TestBucketInsertOrLockRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 24
	hour := health.HourStart(t0)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(latency int) {
			defer wg.Done()
			<-start
			ctx := ctxT(t)
			tx, err := f.pool.Begin(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer tx.Rollback(ctx)
			id, b, err := scanBucket(tx.QueryRow(ctx, lockBucketSQL, f.cfg, f.sys, hour, "hourly", nil, nil))
			if err != nil {
				errs <- err
				return
			}
			b = health.FoldRun(b, health.RunSample{Status: health.Healthy, LatencyMs: &latency}, nil)
			batch := &pgx.Batch{}
			if err := queueBucketUpdate(batch, id, b, nil); err != nil {
				errs <- err
				return
			}
			if err := tx.SendBatch(ctx, batch).Close(); err != nil {
				errs <- err
				return
			}
			errs <- tx.Commit(ctx)
		}(i)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var rows, runs, sum, maxL int
	var digest []float64
	if err := f.pool.QueryRow(ctxT(t), `SELECT count(*) OVER (), run_count, latency_sum_ms, max_latency_ms, tdigest_state
		FROM health_check_aggregates`).Scan(&rows, &runs, &sum, &maxL, &digest); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || runs != n || sum != n*(n+1)/2 || maxL != n || len(digest) != 2*n {
		t.Fatalf("rows %d run_count %d sum %d max %d digest %d values; want 1, %d, %d, %d, %d", rows, runs, sum, maxL, len(digest), n, n*(n+1)/2, n, 2*n)
	}
}

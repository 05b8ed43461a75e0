package activities

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/testsuite"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

var lifecycleNow = time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)

// lifecycleFixture: system s1 with check A (default retention) and B (raw 3, hourly 10, daily
// 100 days), and check C that was assigned to s1 and no longer is. Each check has one run per day
// for 40 days, one hourly bucket per day at 06:00 for 40 days and one daily bucket per 10 days
// over 400 days; s1 has a transition per day for 20 days.
type lifecycleFixture struct {
	pool    *pgxpool.Pool
	st      *store.Store
	a, b, c string
}

func newLifecycleFixture(t *testing.T) lifecycleFixture {
	t.Helper()
	ctx := context.Background()
	pool := testutil.NewPool(t)
	st := store.New(pool)
	if _, err := st.CreateSystem(ctx, store.SystemInput{ID: "s1", Name: "s1"}); err != nil {
		t.Fatal(err)
	}
	f := lifecycleFixture{pool: pool, st: st}
	for _, p := range []*string{&f.a, &f.b, &f.c} {
		c, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: "c", StrategyID: "http", Config: []byte(`{}`), IntervalSeconds: 60})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: "s1", ConfigurationID: c.ID}); err != nil {
			t.Fatal(err)
		}
		*p = c.ID
	}
	raw, hourly, daily := 3, 10, 100
	if _, err := st.SetRetentionConfig(ctx, "s1", f.b, &store.RetentionConfigInput{RawRetentionDays: &raw, HourlyRetentionDays: &hourly, DailyRetentionDays: &daily}); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for _, cfg := range []string{f.a, f.b, f.c} {
		exec(`INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, "timestamp")
			SELECT 's1:' || $1 || ':' || d, $1::uuid, 's1', 'healthy', 10, $2::timestamptz - d * interval '1 day' - interval '1 minute'
			FROM generate_series(0, 39) d`, cfg, lifecycleNow)
		exec(`INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size, run_count, healthy_count, latency_sum_ms, min_latency_ms, max_latency_ms, p95_latency_ms)
			SELECT $1::uuid, 's1', date_trunc('day', $2::timestamptz - d * interval '1 day', 'UTC') + interval '6 hours', 'hourly', 2, 2, 20, 10, 10, 10
			FROM generate_series(0, 39) d`, cfg, lifecycleNow)
		exec(`INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size, run_count, healthy_count)
			SELECT $1::uuid, 's1', date_trunc('day', $2::timestamptz - d * interval '10 days', 'UTC'), 'daily', 48, 48
			FROM generate_series(5, 40) d`, cfg, lifecycleNow)
	}
	exec(`INSERT INTO health_check_state_transitions (system_id, to_status, transitioned_at)
		SELECT 's1', 'degraded', $1::timestamptz - d * interval '1 day' FROM generate_series(1, 20) d`, lifecycleNow)
	if err := st.Disassociate(ctx, "s1", f.c); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f lifecycleFixture) count(t *testing.T, from string, args ...any) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+from, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func runStepActivity(t *testing.T, env *testsuite.TestActivityEnvironment, fn any, cur workflows.JobCursor) workflows.JobStepResult {
	t.Helper()
	env.RegisterActivity(fn)
	v, err := env.ExecuteActivity(fn, cur)
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.JobStepResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// The retention job in steps of at most 7 rows: each step starts where the previous one ended,
// the job ends with exactly the rows its retention keeps, and the steps' reports add up to what
// was deleted and rolled up.
func TestRetentionStepsFinishWithExactlyTheRetainedRows(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	l := &Lifecycle{Store: f.st, BatchSize: 7, Now: func() time.Time { return lifecycleNow }}
	var s testsuite.WorkflowTestSuite
	var cur workflows.JobCursor
	var total workflows.JobReport
	steps := 0
	for ; steps < 1000; steps++ {
		env := s.NewTestActivityEnvironment()
		res := runStepActivity(t, env, l.RetentionStep, cur)
		if rows := res.Report.Rows(); rows > 2*7 {
			t.Fatalf("step %d handled %d rows, want about one batch (7)", steps, rows)
		}
		total = total.Add(res.Report)
		cur = res.Cursor
		if res.Done {
			break
		}
	}
	if steps < 10 {
		t.Fatalf("the job took %d steps, want many with a batch size of 7", steps)
	}
	if !cur.Now.Equal(lifecycleNow) || cur.Phase != workflows.JobPhaseDone {
		t.Fatalf("final cursor %+v", cur)
	}
	// Raw runs: A keeps 7 days (days 0–6), B 3 days (0–2), C (unassigned) the default 7 days.
	for cfg, want := range map[string]int{f.a: 7, f.b: 3, f.c: 7} {
		if n := f.count(t, `health_check_runs WHERE configuration_id = $1`, cfg); n != want {
			t.Errorf("%d runs of %s left, want %d", n, cfg, want)
		}
	}
	// Hourly: buckets of the days before now − hourly retention (floored to midnight) rolled up.
	for cfg, days := range map[string]int{f.a: 30, f.b: 10, f.c: 30} {
		cutoff := health.RollupCutoff(lifecycleNow, days)
		if n := f.count(t, `health_check_aggregates WHERE configuration_id = $1 AND bucket_size = 'hourly' AND bucket_start < $2`, cfg, cutoff); n != 0 {
			t.Errorf("%s: %d hourly buckets before %v left", cfg, n, cutoff)
		}
		if n := f.count(t, `health_check_aggregates WHERE configuration_id = $1 AND bucket_size = 'hourly'`, cfg); n != days+1 {
			t.Errorf("%s: %d hourly buckets left, want %d", cfg, n, days+1)
		}
	}
	// Daily: older than the daily retention deleted; rolled-up days written.
	for cfg, days := range map[string]int{f.a: 365, f.b: 100, f.c: 365} {
		if n := f.count(t, `health_check_aggregates WHERE configuration_id = $1 AND bucket_size = 'daily' AND bucket_start < $2`, cfg, lifecycleNow.AddDate(0, 0, -days)); n != 0 {
			t.Errorf("%s: %d daily buckets older than %d days left", cfg, n, days)
		}
	}
	// Transitions: s1's largest raw retention is 7 days (A); older ones pruned.
	if n := f.count(t, `health_check_state_transitions`); n != 7 {
		t.Errorf("%d transitions left, want 7", n)
	}
	want := workflows.JobReport{Systems: 1, Assignments: 2, UnassignedChecks: 1, TransitionsDeleted: 13,
		RunsDeleted: 33 + 37, UnassignedRunsDeleted: 33, HourlyRolledUp: 9 + 29 + 9, DailyWritten: 9 + 29 + 9,
		DailyDeleted:      (41 - 37) + (41 - 10) + (41 - 37),
		PartitionsCreated: 8} // the day of lifecycleNow and the 7 after it (the runs sit in the default partition)
	if total != want {
		t.Errorf("summed report %+v, want %+v", total, want)
	}
}

// A step retried after a crash resumes from its last heartbeat, not from its input: the earlier
// phases are not redone and the crashed attempt's counts are kept.
func TestStepResumesFromHeartbeat(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	l := &Lifecycle{Store: f.st, BatchSize: 1000, Now: func() time.Time { return lifecycleNow }}
	first, second := f.a, f.b
	if second < first {
		first, second = second, first
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.SetHeartbeatDetails(jobProgress{
		Cursor: workflows.JobCursor{Now: lifecycleNow, Phase: workflows.JobPhaseAssignments, SystemID: "s1", ConfigurationID: second, Stage: workflows.JobStageDaily},
		Report: workflows.JobReport{RunsDeleted: 5},
	})
	res := runStepActivity(t, env, l.RetentionStep, workflows.JobCursor{})
	if !res.Done {
		t.Fatalf("step not done: %+v", res)
	}
	if n := f.count(t, `health_check_state_transitions`); n != 20 {
		t.Errorf("transitions pruned (%d left): the step redid an earlier phase", n)
	}
	if n := f.count(t, `health_check_runs WHERE configuration_id = $1`, first); n != 40 {
		t.Errorf("the first assignment's runs were deleted (%d left): the step redid a finished target", n)
	}
	if n := f.count(t, `health_check_runs WHERE configuration_id = $1`, f.c); n != 7 {
		t.Errorf("the unassigned check has %d runs left, want 7 (the later phase ran)", n)
	}
	if res.Report.RunsDeleted != 5 || res.Report.UnassignedRunsDeleted != 33 {
		t.Errorf("report %+v: want the crashed attempt's 5 runs carried and 33 unassigned runs", res.Report)
	}
}

// The rollup job rolls only hourly buckets (per the hourly retention) and deletes nothing else.
func TestRollupStepRollsUpOnly(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	l := &Lifecycle{Store: f.st, BatchSize: 10_000, Now: func() time.Time { return lifecycleNow }}
	var s testsuite.WorkflowTestSuite
	res := runStepActivity(t, s.NewTestActivityEnvironment(), l.RollupStep, workflows.JobCursor{})
	if !res.Done {
		t.Fatalf("not done in one step: %+v", res)
	}
	want := workflows.JobReport{Assignments: 2, UnassignedChecks: 1, HourlyRolledUp: 9 + 29 + 9, DailyWritten: 9 + 29 + 9, PartitionsCreated: 8}
	if res.Report != want {
		t.Fatalf("report %+v, want %+v", res.Report, want)
	}
	if n := f.count(t, `health_check_runs`); n != 120 {
		t.Errorf("%d runs, want all 120", n)
	}
	if n := f.count(t, `health_check_state_transitions`); n != 20 {
		t.Errorf("%d transitions, want all 20", n)
	}
}

// The prune job deletes delivered events and finished deliveries older than PruneAfter, keeps
// undelivered events and pending deliveries.
func TestPruneStep(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	ctx := context.Background()
	old, recent := lifecycleNow.Add(-8*24*time.Hour), lifecycleNow.Add(-6*24*time.Hour)
	if _, err := f.pool.Exec(ctx, `DELETE FROM health_events`); err != nil {
		t.Fatal(err)
	}
	var ch string
	if err := f.pool.QueryRow(ctx, `INSERT INTO notification_channels (name, type) VALUES ('c', 'webhook') RETURNING id::text`).Scan(&ch); err != nil {
		t.Fatal(err)
	}
	for i, at := range []time.Time{old, recent} {
		for j, delivered := range []bool{true, false} {
			var d *time.Time
			if delivered {
				d = &at
			}
			for k := range 5 {
				if _, err := f.pool.Exec(ctx, `INSERT INTO health_events (system_id, seq, type, idempotency_key, created_at, delivered_at) VALUES ('s1', 1, 't', $1, $2, $3)`,
					fmt.Sprintf("k%d%d%d", i, j, k), at, d); err != nil {
					t.Fatal(err)
				}
			}
		}
		for j, status := range []string{"sent", "failed", "pending"} {
			var sent *time.Time
			if status == "sent" {
				sent = &at
			}
			if _, err := f.pool.Exec(ctx, `INSERT INTO notification_deliveries (id, channel_id, system_id, event, status, created_at, sent_at) VALUES ($1, $2, 's1', 'escalation', $3, $4, $5)`,
				fmt.Sprintf("d%d%d", i, j), ch, status, at, sent); err != nil {
				t.Fatal(err)
			}
		}
	}
	l := &Lifecycle{Store: f.st, BatchSize: 2, Now: func() time.Time { return lifecycleNow }}
	var s testsuite.WorkflowTestSuite
	var cur workflows.JobCursor
	var total workflows.JobReport
	for range 100 {
		res := runStepActivity(t, s.NewTestActivityEnvironment(), l.PruneStep, cur)
		total, cur = total.Add(res.Report), res.Cursor
		if res.Done {
			break
		}
	}
	if cur.Phase != workflows.JobPhaseDone || total != (workflows.JobReport{EventsDeleted: 5, DeliveriesDeleted: 2}) {
		t.Fatalf("cursor %+v, report %+v; want done with 5 events and 2 deliveries", cur, total)
	}
	if n := f.count(t, `health_events WHERE delivered_at IS NULL`); n != 10 {
		t.Errorf("%d undelivered events left, want 10", n)
	}
	if n := f.count(t, `notification_deliveries`); n != 4 {
		t.Errorf("%d deliveries left, want the old pending and the 3 recent", n)
	}
}

// JobSummary writes one INFO line with the job, its duration and the non-zero counts.
func TestJobSummaryLogsOneInfoLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := &Lifecycle{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	err := l.JobSummary(context.Background(), workflows.JobResult{Job: workflows.PruneJobWorkflow, Steps: 3, Runs: 1, DurationMs: 1500,
		Report: workflows.JobReport{EventsDeleted: 12}})
	if err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(buf.String())
	if strings.Count(out, "\n") != 0 || !strings.Contains(out, "level=INFO") || !strings.Contains(out, "job=PruneJob") ||
		!strings.Contains(out, "duration=1.5s") || !strings.Contains(out, "eventsDeleted=12") || strings.Contains(out, "runsDeleted") {
		t.Fatalf("summary line %q", out)
	}
}

// With the runs in day partitions, the retention job drops the days past the longest raw
// retention (A: 7 days) as whole tables and deletes only B's shorter retention and C's rows by
// batch: the runs left are exactly the same as with row deletes alone.
func TestRetentionDropsDayPartitions(t *testing.T) {
	f := newLifecycleFixture(t)
	ctx := context.Background()
	if _, err := f.st.EnsureRunPartitions(ctx, lifecycleNow.AddDate(0, 0, -41), lifecycleNow); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t, `health_check_runs_default`); n != 0 {
		t.Fatalf("%d runs left in the default partition", n)
	}
	l := &Lifecycle{Store: f.st, BatchSize: 7, Now: func() time.Time { return lifecycleNow }}
	var s testsuite.WorkflowTestSuite
	var total workflows.JobReport
	for cur := (workflows.JobCursor{}); cur.Phase != workflows.JobPhaseDone; {
		res := runStepActivity(t, s.NewTestActivityEnvironment(), l.RetentionStep, cur)
		cur, total = res.Cursor, total.Add(res.Report)
	}
	// Days −41 … −9 end before now − 7 d (the cutoff is mid-day −7, so day −8 ends after it).
	if total.PartitionsDropped < 32 {
		t.Fatalf("dropped %d day partitions, want the ≥ 32 days past 7 days", total.PartitionsDropped)
	}
	days, err := f.st.RunPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if oldest := days[0]; oldest.Before(lifecycleNow.AddDate(0, 0, -8).Truncate(24 * time.Hour)) {
		t.Fatalf("a day partition older than the retention survived: %v", oldest)
	}
	// A keeps its 7 days (runs at −1 min … −6 d −1 min), B its 3, C (unassigned, default) 7.
	for cfg, want := range map[string]int{f.a: 7, f.b: 3, f.c: 7} {
		if n := f.count(t, `health_check_runs WHERE configuration_id = $1`, cfg); n != want {
			t.Errorf("check %s: %d runs left, want %d", cfg, n, want)
		}
	}
}

// runJobSteps runs a job's step activity from the zero cursor until it is done and returns the
// summed report.
func runJobSteps(t *testing.T, fn any) workflows.JobReport {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	var total workflows.JobReport
	cur := workflows.JobCursor{}
	for range 1000 {
		res := runStepActivity(t, s.NewTestActivityEnvironment(), fn, cur)
		total, cur = total.Add(res.Report), res.Cursor
		if res.Done {
			return total
		}
	}
	t.Fatal("the job did not finish in 1,000 steps")
	return total
}

// A Day of 24 hours is the default: the retention job leaves the same rows and reports the same
// counts as with Day unset.
func TestRetentionDayOf24HoursIsTheDefault(t *testing.T) {
	t.Parallel()
	type outcome struct {
		report workflows.JobReport
		rows   string
	}
	run := func(day time.Duration) outcome {
		f := newLifecycleFixture(t)
		if _, err := f.st.EnsureRunPartitions(context.Background(), lifecycleNow.AddDate(0, 0, -41), lifecycleNow); err != nil {
			t.Fatal(err)
		}
		l := &Lifecycle{Store: f.st, BatchSize: 7, Day: day, Now: func() time.Time { return lifecycleNow }}
		rep := runJobSteps(t, l.RetentionStep)
		rows := ""
		for _, q := range []string{`health_check_runs`, `health_check_aggregates WHERE bucket_size = 'hourly'`,
			`health_check_aggregates WHERE bucket_size = 'daily'`, `health_check_state_transitions`} {
			rows += fmt.Sprintf("%s: %d\n", q, f.count(t, q))
		}
		days, err := f.st.RunPartitions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return outcome{rep, rows + fmt.Sprintf("partitions: %v\n", days)}
	}
	def, day := run(0), run(24*time.Hour)
	if def != day {
		t.Fatalf("Day 24h: %+v\n%s\nwant what Day 0 does: %+v\n%s", day.report, day.rows, def.report, def.rows)
	}
	if def.report.PartitionsDropped == 0 || def.report.RunsDeleted == 0 {
		t.Fatalf("the fixture exercised nothing: %+v", def.report)
	}
}

// With a compressed Day (one minute), every retention age counts in minutes: raw runs older than
// 7 (A) or 3 (B, unassigned C: default 7) minutes are deleted by batches, the day partition of
// yesterday (wholly before the cutoff) is dropped and today's kept, hourly buckets whose whole
// hour lies before now − 30 (A) or 10 (B) minutes are rolled into the daily bucket of their real
// UTC day, daily buckets of UTC days wholly before now − 365 (A) or 100 (B) minutes are deleted,
// transitions older than 7 minutes are pruned. PruneAfter is not scaled.
func TestRetentionWithCompressedDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 5, 30, 12, 20, 0, 0, time.UTC)
	pool := testutil.NewPool(t)
	st := store.New(pool)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	count := func(from string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+from, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := st.CreateSystem(ctx, store.SystemInput{ID: "s1", Name: "s1"}); err != nil {
		t.Fatal(err)
	}
	var a, b, c string
	for _, p := range []*string{&a, &b, &c} {
		cfg, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: "c", StrategyID: "http", Config: []byte(`{}`), IntervalSeconds: 60})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: "s1", ConfigurationID: cfg.ID}); err != nil {
			t.Fatal(err)
		}
		*p = cfg.ID
	}
	raw, hourly, daily := 3, 10, 100
	if _, err := st.SetRetentionConfig(ctx, "s1", b, &store.RetentionConfigInput{RawRetentionDays: &raw, HourlyRetentionDays: &hourly, DailyRetentionDays: &daily}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureRunPartitions(ctx, now.AddDate(0, 0, -1), now); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []string{a, b, c} {
		// A run every minute, 30 s off the minute, over the last 20 minutes, and one 13 hours ago
		// (yesterday).
		exec(`INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, "timestamp")
			SELECT 's1:' || $1 || ':' || k, $1::uuid, 's1', 'healthy', 10, $2::timestamptz - k * interval '1 minute' - interval '30 seconds'
			FROM generate_series(0, 19) k`, cfg, now)
		exec(`INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, "timestamp")
			VALUES ('s1:' || $1 || ':old', $1::uuid, 's1', 'healthy', 10, $2::timestamptz - interval '13 hours')`, cfg, now)
		// Hourly buckets at 22:00 and 23:00 yesterday and 08:00 … 12:00 today.
		exec(`INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size, run_count, healthy_count, latency_sum_ms, min_latency_ms, max_latency_ms, p95_latency_ms)
			SELECT $1::uuid, 's1', h, 'hourly', 2, 2, 20, 10, 10, 10
			FROM unnest(ARRAY['2026-05-29T22:00:00Z', '2026-05-29T23:00:00Z', '2026-05-30T08:00:00Z', '2026-05-30T09:00:00Z',
				'2026-05-30T10:00:00Z', '2026-05-30T11:00:00Z', '2026-05-30T12:00:00Z']::timestamptz[]) h`, cfg)
		// A daily bucket ten days ago.
		exec(`INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size, run_count, healthy_count)
			VALUES ($1::uuid, 's1', '2026-05-20T00:00:00Z', 'daily', 48, 48)`, cfg)
	}
	exec(`INSERT INTO health_check_state_transitions (system_id, to_status, transitioned_at)
		SELECT 's1', 'degraded', $1::timestamptz - k * interval '1 minute' - interval '30 seconds' FROM generate_series(0, 19) k`, now)
	if err := st.Disassociate(ctx, "s1", c); err != nil {
		t.Fatal(err)
	}

	l := &Lifecycle{Store: st, BatchSize: 5, Day: time.Minute, Now: func() time.Time { return now }}
	rep := runJobSteps(t, l.RetentionStep)
	if rep.PartitionsDropped != 1 {
		t.Errorf("%d day partitions dropped, want yesterday's (its whole day lies before now − 7 min)", rep.PartitionsDropped)
	}
	if days, err := st.RunPartitions(ctx); err != nil || len(days) == 0 || !days[0].Equal(health.DayStart(now)) {
		t.Errorf("day partitions %v (%v), want today's and the days ahead", days, err)
	}
	for cfg, want := range map[string]int{a: 7, b: 3, c: 7} {
		if n := count(`health_check_runs WHERE configuration_id = $1`, cfg); n != want {
			t.Errorf("%d runs of %s left, want %d", n, cfg, want)
		}
	}
	// Hourly: A and C (30 min) keep 11:00 and 12:00 (11:00 ends after 11:50), B (10 min) only
	// 12:00; the rest went into the daily bucket of its real UTC day.
	for cfg, want := range map[string]int{a: 2, b: 1, c: 2} {
		if n := count(`health_check_aggregates WHERE configuration_id = $1 AND bucket_size = 'hourly'`, cfg); n != want {
			t.Errorf("%d hourly buckets of %s left, want %d", n, cfg, want)
		}
	}
	// Daily: only today's (May 29 and May 20 lie wholly before now − 365 and now − 100 minutes),
	// holding the rolled-up hours of today.
	for cfg, runs := range map[string]int{a: 6, b: 8, c: 6} {
		var day time.Time
		var n int
		if err := pool.QueryRow(ctx, `SELECT bucket_start, run_count FROM health_check_aggregates WHERE configuration_id = $1 AND bucket_size = 'daily'`, cfg).
			Scan(&day, &n); err != nil {
			t.Fatalf("daily bucket of %s: %v", cfg, err)
		}
		if !day.Equal(health.DayStart(now)) || n != runs {
			t.Errorf("daily bucket of %s: %v with %d runs, want today with %d", cfg, day, n, runs)
		}
	}
	if n := count(`health_check_state_transitions`); n != 7 {
		t.Errorf("%d transitions left, want the 7 of the last 7 minutes", n)
	}
	want := workflows.JobReport{Systems: 1, Assignments: 2, UnassignedChecks: 1, TransitionsDeleted: 13,
		RunsDeleted: 13 + 17, UnassignedRunsDeleted: 13, HourlyRolledUp: 5 + 6 + 5, DailyWritten: 2 + 2 + 2, DailyDeleted: 2 + 2 + 2,
		PartitionsCreated: 7, PartitionsDropped: 1}
	if rep != want {
		t.Errorf("report %+v, want %+v", rep, want)
	}

	// PruneAfter is a duration, not scaled by Day: delivered events 10 minutes old stay with the
	// default (7 days) and go with PruneAfter 5 minutes.
	exec(`DELETE FROM health_events`)
	exec(`INSERT INTO health_events (system_id, seq, type, idempotency_key, created_at, delivered_at)
		SELECT 's1', k, 't', 'k' || k, $1::timestamptz - interval '10 minutes', $1::timestamptz FROM generate_series(1, 3) k`, now)
	if rep := runJobSteps(t, l.PruneStep); rep.EventsDeleted != 0 {
		t.Errorf("the default PruneAfter with 1-minute days deleted %d events, want none", rep.EventsDeleted)
	}
	l.PruneAfter = 5 * time.Minute
	if rep := runJobSteps(t, l.PruneStep); rep.EventsDeleted != 3 {
		t.Errorf("PruneAfter 5 min deleted %d events, want 3", rep.EventsDeleted)
	}
}

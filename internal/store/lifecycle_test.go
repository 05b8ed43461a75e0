package store

import (
	"fmt"
	"math"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/health"
)

func TestLifecycleBatchesRejectBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	calls := map[string]func() error{
		"runs limit 0": func() error { _, err := f.s.DeleteRunsBatch(ctx, f.sys, f.cfg, t0, 0); return err },
		"runs bad cfg": func() error { _, err := f.s.DeleteRunsBatch(ctx, f.sys, "x", t0, 1); return err },
		"unassigned limit 0": func() error {
			_, err := f.s.DeleteUnassignedRunsBatch(ctx, f.sys, f.cfg, t0, 0)
			return err
		},
		"rollup limit 0": func() error { _, err := f.s.RollupHourlyToDailyBatch(ctx, f.sys, f.cfg, t0, 0); return err },
		"daily limit 0":  func() error { _, err := f.s.DeleteDailyBatch(ctx, f.sys, f.cfg, t0, 0); return err },
		"transitions":    func() error { _, err := f.s.PruneTransitionsBatch(ctx, f.sys, t0, -1); return err },
		"events":         func() error { _, err := f.s.DeleteDeliveredEventsBatch(ctx, t0, 0); return err },
		"deliveries":     func() error { _, err := f.s.DeleteFinishedDeliveriesBatch(ctx, t0, 0); return err },
	}
	for name, call := range calls {
		field := "limit"
		if name == "runs bad cfg" {
			field = "configurationId"
		}
		if err := call(); !isValidation(err, field) {
			t.Errorf("%s: %v, want a validation error", name, err)
		}
	}
}

func TestRetentionConfigCutoffs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 30, 12, 30, 0, 0, time.UTC)
	c := RetentionConfig{RawRetentionDays: 3, HourlyRetentionDays: 10, DailyRetentionDays: 100}.Cutoffs(now)
	if want := now.AddDate(0, 0, -3); !c.Raw.Equal(want) {
		t.Errorf("raw cutoff %v, want %v", c.Raw, want)
	}
	if want := time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC); !c.Rollup.Equal(want) {
		t.Errorf("rollup cutoff %v, want %v (UTC midnight)", c.Rollup, want)
	}
	if want := now.AddDate(0, 0, -100); !c.Daily.Equal(want) {
		t.Errorf("daily cutoff %v, want %v", c.Daily, want)
	}
}

// CutoffsWithDay with a day of 24 hours (or 0) is exactly Cutoffs, at any time of any day
// (month ends, a leap day, midnight); with a compressed day the ages are N×day and the tiers'
// cutoffs are floored to the hour (rollup) and to UTC midnight (daily).
func TestRetentionConfigCutoffsWithDay(t *testing.T) {
	t.Parallel()
	configs := []RetentionConfig{DefaultRetentionConfig(), {RawRetentionDays: 3, HourlyRetentionDays: 10, DailyRetentionDays: 100},
		{RawRetentionDays: 1, HourlyRetentionDays: 2, DailyRetentionDays: 3}}
	nows := []time.Time{t0, time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 23, 59, 59, 999, time.UTC),
		time.Date(2026, 3, 29, 1, 30, 0, 0, time.FixedZone("CEST", 2*3600))}
	for _, c := range configs {
		for _, now := range nows {
			want := c.Cutoffs(now)
			for _, day := range []time.Duration{0, RetentionDay} {
				if got := c.CutoffsWithDay(now, day); got != want {
					t.Errorf("%+v at %v with day %v: %+v, want Cutoffs %+v", c, now, day, got, want)
				}
			}
			if got, want := RetentionDaysBefore(now, c.RawRetentionDays, RetentionDay), now.UTC().AddDate(0, 0, -c.RawRetentionDays); got != want {
				t.Errorf("RetentionDaysBefore(%v, %d, 24h) = %v, want %v", now, c.RawRetentionDays, got, want)
			}
		}
	}
	now := time.Date(2026, 5, 30, 12, 20, 30, 0, time.UTC)
	got := DefaultRetentionConfig().CutoffsWithDay(now, time.Minute)
	want := RetentionCutoffs{
		Raw:    time.Date(2026, 5, 30, 12, 13, 30, 0, time.UTC), // 7 "days" = 7 minutes
		Rollup: time.Date(2026, 5, 30, 11, 0, 0, 0, time.UTC),   // 11:50:30 floored to the hour
		Daily:  time.Date(2026, 5, 30, 0, 0, 0, 0, time.UTC),    // 06:15:30 floored to UTC midnight
	}
	if got != want {
		t.Errorf("default config with 1-minute days at %v: %+v, want %+v", now, got, want)
	}
	got = RetentionConfig{RawRetentionDays: 2, HourlyRetentionDays: 5, DailyRetentionDays: 10}.CutoffsWithDay(now, 6*time.Hour)
	want = RetentionCutoffs{
		Raw:    time.Date(2026, 5, 30, 0, 20, 30, 0, time.UTC),
		Rollup: time.Date(2026, 5, 29, 6, 0, 0, 0, time.UTC), // 30 h before, floored to the hour
		Daily:  time.Date(2026, 5, 28, 0, 0, 0, 0, time.UTC), // 60 h before, floored to UTC midnight
	}
	if got != want {
		t.Errorf("6-hour days: %+v, want %+v", got, want)
	}
}

// With compressed time (CutoffsWithDay) a UTC day is rolled up in pieces, the hours before an
// hour-floored cutoff first and the rest later: its daily row then has exactly the counts, latency
// sum and min/max of one whole rollup, as average sum / runs in integer division (the reference's
// ON CONFLICT rule, health.UpsertDaily; one whole rollup rounds) and as p95 the largest p95 of the
// pieces.
func TestRollupOfADayInPiecesAddsUp(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	whole, pieces, late := newFixture(t), newFixture(t), newFixture(t)
	for _, f := range []fixture{whole, pieces, late} {
		seedHours(t, f, day)
	}
	next := day.AddDate(0, 0, 1)
	if _, err := whole.s.RollupHourlyToDaily(ctxT(t), whole.sys, whole.cfg, next); err != nil {
		t.Fatal(err)
	}
	mid := day.Add(10 * time.Hour) // hours 00, 03, 06, 09 first
	p95s := func(f fixture) map[string]int {
		t.Helper()
		rows, err := f.pool.Query(ctxT(t), `SELECT coalesce(source_id, '-'), p95_latency_ms FROM health_check_aggregates WHERE bucket_size = 'daily'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var src string
			var p int
			if err := rows.Scan(&src, &p); err != nil {
				t.Fatal(err)
			}
			out[src] = p
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	var first map[string]int
	for i, cutoff := range []time.Time{mid, next} {
		r, err := pieces.s.RollupHourlyToDailyBatch(ctxT(t), pieces.sys, pieces.cfg, cutoff, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if r.HourlyRows != 8 || r.More {
			t.Fatalf("piece %d rolled %+v, want 8 hourly rows (4 hours × 2 sources)", i, r)
		}
		if i == 0 {
			first = p95s(pieces)
		}
	}
	// The second piece alone.
	mustExec(t, late.pool, `DELETE FROM health_check_aggregates WHERE bucket_start < $1`, mid)
	if _, err := late.s.RollupHourlyToDaily(ctxT(t), late.sys, late.cfg, next); err != nil {
		t.Fatal(err)
	}
	second := p95s(late)
	strip := func(rows string) string { return regexp.MustCompile(` (avg|p95)=\S+`).ReplaceAllString(rows, "") }
	if w, p := dailyRows(t, whole.pool), dailyRows(t, pieces.pool); strip(w) != strip(p) || w == "" {
		t.Fatalf("daily rows rolled up in two pieces differ from one whole rollup (avg and p95 aside):\nwhole:\n%spieces:\n%s", w, p)
	}
	if n := count(t, pieces.pool, `health_check_aggregates WHERE bucket_size = 'daily' AND avg_latency_ms IS DISTINCT FROM latency_sum_ms / run_count`); n != 0 {
		t.Errorf("%d daily rows whose avg is not sum / runs in integer division", n)
	}
	got := p95s(pieces)
	if len(got) != 2 {
		t.Fatalf("daily rows %v, want one per source", got)
	}
	for src, p := range got {
		if want := max(first[src], second[src]); p != want {
			t.Errorf("source %s: p95 %d, want the larger of the pieces' p95s %d and %d", src, p, first[src], second[src])
		}
	}
}

func insertRunAt(t *testing.T, pool *pgxpool.Pool, sys, cfg string, seq int64, at time.Time) {
	t.Helper()
	mustExec(t, pool, `INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, "timestamp") VALUES ($1, $2, $3, 'healthy', 10, $4)`,
		ProbeRunID(sys, seq), cfg, sys, at)
}

// Raw runs go in batches of at most limit rows, the oldest first, only those of the assignment
// and older than the cutoff.
func TestDeleteRunsBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := mustConfig(t, f.s, "other")
	mustAssign(t, f.s, f.sys, other.ID)
	cutoff := t0.AddDate(0, 0, -7)
	for i := range 25 {
		insertRunAt(t, f.pool, f.sys, f.cfg, int64(i+1), cutoff.Add(-time.Duration(i+1)*time.Hour))
	}
	for i := range 5 {
		insertRunAt(t, f.pool, f.sys, f.cfg, int64(100+i), cutoff.Add(time.Duration(i)*time.Hour)) // at or after the cutoff: kept
	}
	for i := range 3 {
		insertRunAt(t, f.pool, f.sys, other.ID, int64(200+i), cutoff.Add(-24*time.Hour))
	}
	var got []int64
	for {
		n, err := f.s.DeleteRunsBatch(ctxT(t), f.sys, f.cfg, cutoff, 10)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n < 10 {
			break
		}
		// The oldest go first: after the first batch the 10 oldest are gone.
		if len(got) == 1 {
			if c := count(t, f.pool, `health_check_runs WHERE configuration_id = $1 AND "timestamp" < $2`, f.cfg, cutoff.Add(-15*time.Hour)); c != 0 {
				t.Fatalf("first batch left %d of the 10 oldest runs", c)
			}
		}
	}
	if fmt.Sprint(got) != "[10 10 5]" {
		t.Fatalf("batches deleted %v, want [10 10 5]", got)
	}
	if c := count(t, f.pool, `health_check_runs WHERE configuration_id = $1`, f.cfg); c != 5 {
		t.Fatalf("%d runs left, want the 5 not older than the cutoff", c)
	}
	if c := count(t, f.pool, `health_check_runs WHERE configuration_id = $1`, other.ID); c != 3 {
		t.Fatalf("another assignment lost runs: %d left of 3", c)
	}
}

// A check disassociated from its system still has runs and aggregates: UnassignedTargets
// finds it (with the default retention), DeleteUnassignedRunsBatch deletes its old runs, and
// does nothing once the check is assigned again.
func TestUnassignedTargetsAndRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gone := mustConfig(t, f.s, "gone")
	mustAssign(t, f.s, f.sys, gone.ID)
	mustSystem(t, f.s, "sys-2")
	aggOnly := mustConfig(t, f.s, "aggregates only")
	mustAssign(t, f.s, "sys-2", aggOnly.ID)
	cutoff := t0.AddDate(0, 0, -7)
	for i := range 12 {
		insertRunAt(t, f.pool, f.sys, gone.ID, int64(i+1), cutoff.Add(-time.Duration(i+1)*time.Hour))
	}
	insertRunAt(t, f.pool, f.sys, gone.ID, 50, cutoff.Add(time.Hour))
	insertRunAt(t, f.pool, f.sys, f.cfg, 60, cutoff.Add(-time.Hour)) // assigned: not a target
	insertBucket(t, f.pool, "sys-2", aggOnly.ID, "hourly", health.HourStart(cutoff), health.Bucket{RunCount: 1, HealthyCount: 1})
	if err := f.s.Disassociate(ctxT(t), f.sys, gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Disassociate(ctxT(t), "sys-2", aggOnly.ID); err != nil {
		t.Fatal(err)
	}
	targets, err := f.s.UnassignedTargets(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []RetentionTarget{
		{SystemID: f.sys, ConfigurationID: gone.ID, Config: DefaultRetentionConfig()},
		{SystemID: "sys-2", ConfigurationID: aggOnly.ID, Config: DefaultRetentionConfig()},
	}
	if fmt.Sprint(targets) != fmt.Sprint(want) {
		t.Fatalf("unassigned targets %v, want %v", targets, want)
	}
	n, err := f.s.DeleteUnassignedRunsBatch(ctxT(t), f.sys, gone.ID, cutoff, 5)
	if err != nil || n != 5 {
		t.Fatalf("first batch: %d %v, want 5", n, err)
	}
	// Assigned again: the remaining runs are the assignment's again and stay.
	mustAssign(t, f.s, f.sys, gone.ID)
	if n, err := f.s.DeleteUnassignedRunsBatch(ctxT(t), f.sys, gone.ID, cutoff, 5); err != nil || n != 0 {
		t.Fatalf("after re-assigning: deleted %d %v, want 0", n, err)
	}
	if err := f.s.Disassociate(ctxT(t), f.sys, gone.ID); err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for {
		n, err := f.s.DeleteUnassignedRunsBatch(ctxT(t), f.sys, gone.ID, cutoff, 5)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if n < 5 {
			break
		}
	}
	if total != 7 {
		t.Fatalf("deleted %d more, want 7", total)
	}
	if c := count(t, f.pool, `health_check_runs WHERE configuration_id = $1`, gone.ID); c != 1 {
		t.Fatalf("%d runs of the unassigned check left, want the recent one", c)
	}
	if c := count(t, f.pool, `health_check_runs WHERE configuration_id = $1`, f.cfg); c != 1 {
		t.Fatal("an assigned check's run was deleted")
	}
}

// seedHours writes hourly buckets of three days (two sources on the first) whose digests are
// real (health.FoldRun over known latencies) into the fixture's assignment.
func seedHours(t *testing.T, f fixture, day time.Time) {
	t.Helper()
	for d := range 3 {
		for h := 0; h < 24; h += 3 {
			for _, src := range []*string{nil, strp("eu")} {
				if src != nil && d > 0 {
					continue
				}
				var b health.Bucket
				for i := range 7 {
					l := 10 + (d*31+h*7+i*13)%190
					st := health.Healthy
					if i == 3 {
						st = health.Unhealthy
					}
					b = health.FoldRun(b, health.RunSample{Status: st, LatencyMs: &l}, nil)
				}
				start := day.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour)
				mustExec(t, f.pool, `INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size,
						run_count, healthy_count, degraded_count, unhealthy_count, latency_sum_ms, avg_latency_ms, min_latency_ms,
						max_latency_ms, p95_latency_ms, tdigest_state, source_id)
					VALUES ($1, $2, $3, 'hourly', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
					f.cfg, f.sys, start, b.RunCount, b.HealthyCount, b.DegradedCount, b.UnhealthyCount, b.LatencySumMs,
					b.AvgLatencyMs, b.MinLatencyMs, b.MaxLatencyMs, b.P95LatencyMs, b.TDigest, src)
			}
		}
	}
}

func dailyRows(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	rows, err := pool.Query(ctxT(t), `SELECT bucket_start, coalesce(source_id, '-'), run_count, healthy_count, unhealthy_count,
			latency_sum_ms, avg_latency_ms, min_latency_ms, max_latency_ms, p95_latency_ms
		FROM health_check_aggregates WHERE bucket_size = 'daily' ORDER BY bucket_start, source_id NULLS FIRST`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := ""
	for rows.Next() {
		var start time.Time
		var src string
		var runs, healthy, unhealthy int
		var sum, avg, minL, maxL, p95 *int
		if err := rows.Scan(&start, &src, &runs, &healthy, &unhealthy, &sum, &avg, &minL, &maxL, &p95); err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("%s %s runs=%d h=%d u=%d sum=%s avg=%s min=%s max=%s p95=%s\n", start.Format(time.DateOnly), src, runs, healthy, unhealthy,
			fmtPtr(sum), fmtPtr(avg), fmtPtr(minL), fmtPtr(maxL), fmtPtr(p95))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Rolling up in bounded batches (whole days only) gives exactly the daily rows of one whole
// rollup; the hourly rows before the cutoff are gone and the later ones stay.
func TestRollupHourlyToDailyBatchEqualsWholeRollup(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cutoff := day.AddDate(0, 0, 2) // the first two days
	whole, batched := newFixture(t), newFixture(t)
	seedHours(t, whole, day)
	seedHours(t, batched, day)
	res, err := whole.s.RollupHourlyToDaily(ctxT(t), whole.sys, whole.cfg, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if res.HourlyRows != 24 || res.DailyRows != 3 {
		t.Fatalf("whole rollup %+v, want 24 hourly rows (16 + 8) into 3 daily rows", res)
	}
	// Day 1 has 16 hourly rows (two sources), day 2 has 8: with a limit of 10 the first batch is
	// day 1 alone (more than the limit, never split), then day 2 (8 ≤ 10), then nothing.
	const limit = 10
	var hourly int
	var batches []int
	for {
		r, err := batched.s.RollupHourlyToDailyBatch(ctxT(t), batched.sys, batched.cfg, cutoff, limit)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, r.HourlyRows)
		hourly += r.HourlyRows
		if !r.More {
			break
		}
	}
	if hourly != 24 || fmt.Sprint(batches) != "[16 8]" {
		t.Fatalf("batches rolled %v hourly rows, want [16 8]", batches)
	}
	w, b := dailyRows(t, whole.pool), dailyRows(t, batched.pool)
	if w != b || w == "" {
		t.Fatalf("batched daily rows differ from the whole rollup:\nwhole:\n%sbatched:\n%s", w, b)
	}
	for _, f := range []fixture{whole, batched} {
		if n := count(t, f.pool, `health_check_aggregates WHERE bucket_size = 'hourly' AND bucket_start < $1`, cutoff); n != 0 {
			t.Fatalf("%d hourly rows before the cutoff left", n)
		}
		if n := count(t, f.pool, `health_check_aggregates WHERE bucket_size = 'hourly'`); n != 8 {
			t.Fatalf("%d hourly rows left, want the third day's 8", n)
		}
	}
}

// Daily buckets older than the cutoff go in batches; newer ones stay.
func TestDeleteDailyBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cutoff := health.DayStart(t0.AddDate(0, 0, -365))
	for i := range 12 {
		insertBucket(t, f.pool, f.sys, f.cfg, "daily", cutoff.AddDate(0, 0, i-9), health.Bucket{RunCount: 1, HealthyCount: 1})
	}
	var got []int64
	for {
		n, err := f.s.DeleteDailyBatch(ctxT(t), f.sys, f.cfg, cutoff, 4)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n < 4 {
			break
		}
	}
	if fmt.Sprint(got) != "[4 4 1]" {
		t.Fatalf("batches %v, want [4 4 1]", got)
	}
	if n := count(t, f.pool, `health_check_aggregates WHERE bucket_start >= $1`, cutoff); n != 3 {
		t.Fatalf("%d daily rows at or after the cutoff, want 3", n)
	}
}

// Transitions older than the cutoff go in batches, but the system's newest row stays even when it
// is older than the cutoff; another system's rows are untouched.
func TestPruneTransitionsBatchKeepsNewest(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	mustSystem(t, s, "a")
	mustSystem(t, s, "b")
	cutoff := t0.AddDate(0, 0, -7)
	for i := range 9 {
		insertTransition(t, pool, "", "a", nil, nil, health.Degraded, cutoff.Add(-time.Duration(i+1)*time.Hour))
	}
	insertTransition(t, pool, "", "b", nil, nil, health.Degraded, cutoff.Add(-48*time.Hour))
	insertTransition(t, pool, "", "b", nil, nil, health.Healthy, cutoff.Add(-24*time.Hour))
	var total int64
	for {
		n, err := s.PruneTransitionsBatch(ctxT(t), "a", cutoff, 3)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if n < 3 {
			break
		}
	}
	if total != 8 {
		t.Fatalf("pruned %d, want 8 (all but the newest)", total)
	}
	if n := count(t, pool, `health_check_state_transitions WHERE system_id = 'a' AND transitioned_at = $1`, cutoff.Add(-time.Hour)); n != 1 {
		t.Fatal("the newest transition of the system was pruned")
	}
	if n := count(t, pool, `health_check_state_transitions WHERE system_id = 'b'`); n != 2 {
		t.Fatalf("system b has %d transitions, want its 2", n)
	}
}

// Only delivered events older than the cutoff go; undelivered ones stay however old.
func TestDeleteDeliveredEventsBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cutoff := t0.AddDate(0, 0, -7)
	seq := 0
	add := func(n int, created time.Time, delivered bool) {
		for range n {
			seq++
			var at *time.Time
			if delivered {
				at = &created
			}
			mustExec(t, f.pool, `INSERT INTO health_events (system_id, seq, type, idempotency_key, created_at, delivered_at) VALUES ($1, $2, 'healthcheck.check.completed', $3, $4, $5)`,
				f.sys, seq, fmt.Sprintf("%s:%d:x", f.sys, seq), created, at)
		}
	}
	add(7, cutoff.AddDate(0, 0, -300), true)
	add(4, cutoff.AddDate(0, 0, -300), false)
	add(3, cutoff.Add(time.Hour), true)
	add(2, cutoff.Add(time.Hour), false)
	var got []int64
	for {
		n, err := f.s.DeleteDeliveredEventsBatch(ctxT(t), cutoff, 3)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n < 3 {
			break
		}
	}
	if fmt.Sprint(got) != "[3 3 1]" {
		t.Fatalf("batches %v, want [3 3 1]", got)
	}
	if n := count(t, f.pool, `health_events WHERE delivered_at IS NULL AND type = 'healthcheck.check.completed'`); n != 6 {
		t.Fatalf("%d undelivered events left, want all 6", n)
	}
	if n := count(t, f.pool, `health_events WHERE delivered_at IS NOT NULL`); n != 3 {
		t.Fatalf("%d delivered events left, want the 3 recent ones", n)
	}
}

// Sent and failed deliveries older than the cutoff go; pending ones stay.
func TestDeleteFinishedDeliveriesBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var ch string
	if err := f.pool.QueryRow(ctxT(t), `INSERT INTO notification_channels (name, type) VALUES ('c', 'webhook') RETURNING id::text`).Scan(&ch); err != nil {
		t.Fatal(err)
	}
	cutoff := t0.AddDate(0, 0, -7)
	i := 0
	add := func(status string, created time.Time) {
		i++
		var sent *time.Time
		if status == "sent" {
			sent = &created
		}
		mustExec(t, f.pool, `INSERT INTO notification_deliveries (id, channel_id, system_id, event, status, created_at, sent_at) VALUES ($1, $2, $3, 'escalation', $4, $5, $6)`,
			fmt.Sprintf("d%d:%s", i, ch), ch, f.sys, status, created, sent)
	}
	for range 3 {
		add("sent", cutoff.AddDate(0, 0, -30))
		add("failed", cutoff.AddDate(0, 0, -30))
		add("pending", cutoff.AddDate(0, 0, -30))
		add("sent", cutoff.Add(time.Hour))
	}
	var total int64
	for {
		n, err := f.s.DeleteFinishedDeliveriesBatch(ctxT(t), cutoff, 4)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if n < 4 {
			break
		}
	}
	if total != 6 {
		t.Fatalf("deleted %d, want the 6 old sent and failed", total)
	}
	if n := count(t, f.pool, `notification_deliveries WHERE status = 'pending'`); n != 3 {
		t.Fatalf("%d pending deliveries left, want 3", n)
	}
	if n := count(t, f.pool, `notification_deliveries WHERE created_at >= $1`, cutoff); n != 3 {
		t.Fatalf("%d recent deliveries left, want 3", n)
	}
}

// A day whose hours carry t-digests gets the p95 of their merged digests (latencies 1–80 ms: about
// 77, where the largest hourly p95 is 79); when one hour with latencies has no digest (a row
// written without one) the day keeps the reference's upper bound, the largest hourly p95.
func TestRollupP95FromMergedDigests(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	fold := func(from, to int) health.Bucket {
		var b health.Bucket
		for l := from; l <= to; l++ {
			l := l
			b = health.FoldRun(b, health.RunSample{Status: health.Healthy, LatencyMs: &l}, nil)
		}
		return b
	}
	insert := func(f fixture, start time.Time, b health.Bucket) {
		t.Helper()
		mustExec(t, f.pool, `INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size,
				run_count, healthy_count, latency_sum_ms, avg_latency_ms, min_latency_ms, max_latency_ms, p95_latency_ms, tdigest_state)
			VALUES ($1, $2, $3, 'hourly', $4, $5, $6, $7, $8, $9, $10, $11)`,
			f.cfg, f.sys, start, b.RunCount, b.HealthyCount, b.LatencySumMs, b.AvgLatencyMs, b.MinLatencyMs, b.MaxLatencyMs, b.P95LatencyMs, b.TDigest)
	}
	a, b := fold(1, 60), fold(61, 80)
	merged := health.TDigestFromState(a.TDigest)
	merged.Merge(health.TDigestFromState(b.TDigest))
	want := int(math.Floor(merged.Quantile(0.95) + 0.5))
	if want == *b.P95LatencyMs || want < 75 || want > 78 {
		t.Fatalf("test data: merged p95 %d, hourly p95s %d and %d", want, *a.P95LatencyMs, *b.P95LatencyMs)
	}
	p95 := func(f fixture) int {
		t.Helper()
		var p int
		if err := f.pool.QueryRow(ctxT(t), `SELECT p95_latency_ms FROM health_check_aggregates WHERE bucket_size = 'daily'`).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}

	f := newFixture(t)
	insert(f, day.Add(time.Hour), a)
	insert(f, day.Add(2*time.Hour), b)
	insert(f, day.Add(3*time.Hour), health.Bucket{RunCount: 2, HealthyCount: 2}) // no latencies
	if _, err := f.s.RollupHourlyToDailyBatch(ctxT(t), f.sys, f.cfg, day.AddDate(0, 0, 1), 100); err != nil {
		t.Fatal(err)
	}
	if got := p95(f); got != want {
		t.Errorf("daily p95 %d, want %d from the merged digests", got, want)
	}
	if n := count(t, f.pool, `health_check_aggregates WHERE bucket_size = 'daily' AND tdigest_state IS NULL AND run_count = 82`); n != 1 {
		t.Error("the daily row is not the 82 runs' roll-up without a digest")
	}

	g := newFixture(t)
	insert(g, day.Add(time.Hour), a)
	b.TDigest = nil
	insert(g, day.Add(2*time.Hour), b)
	if _, err := g.s.RollupHourlyToDaily(ctxT(t), g.sys, g.cfg, day.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if got := p95(g); got != *b.P95LatencyMs {
		t.Errorf("daily p95 %d with an hour without digest, want the largest hourly p95 %d", got, *b.P95LatencyMs)
	}
}

// Autovacuum reads the server's setting (this machine's CI server has it off, others on).
func TestAutovacuumIsTheServersSetting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var show string
	if err := f.pool.QueryRow(ctxT(t), `SHOW autovacuum`).Scan(&show); err != nil {
		t.Fatal(err)
	}
	on, err := f.s.Autovacuum(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if on != (show == "on") {
		t.Fatalf("Autovacuum() = %v, SHOW autovacuum = %q", on, show)
	}
}

package store

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/health"
)

// uptimeNow is the uptime fixture's "now": not on an hour, so that both partial hours count.
var uptimeNow = time.Date(2026, 5, 30, 12, 34, 56, 0, time.UTC)

// uptimeFixture seeds, with SQL only, a system "up-1" whose evaluated status has known downtime
// over the last nine days, two checks with runs every 10 and 30 minutes over the last eight days
// and a bit, their hourly aggregates computed from the runs (the days older than a week rolled up
// into daily rows, as the rollup job leaves them), and two maintenance windows. It returns the
// pool and the two check ids.
func uptimeFixture(t *testing.T) (*Store, *pgxpool.Pool, string, string) {
	t.Helper()
	s, pool := newStore(t)
	mustSystem(t, s, "up-1")
	mustSystem(t, s, "up-other")
	c1, c2 := mustConfig(t, s, "uptime check 1"), mustConfig(t, s, "uptime check 2")
	mustAssign(t, s, "up-1", c1.ID)
	mustAssign(t, s, "up-1", c2.ID)
	now := uptimeNow
	mustExec(t, pool, `UPDATE systems SET created_at = $1::timestamptz - interval '100 days'`, now)
	// Runs: check 1 every 10 minutes, one in 17 unhealthy and one in 13 degraded; check 2 every
	// 30 minutes, one in 5 unhealthy. The oldest run is 8 days 7 hours before now.
	mustExec(t, pool, `INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, "timestamp")
		SELECT 'up-1:c1-' || n, $2::uuid, 'up-1',
			(CASE WHEN n % 17 = 0 THEN 'unhealthy' WHEN n % 13 = 0 THEN 'degraded' ELSE 'healthy' END)::health_check_status,
			20 + n % 50, $1::timestamptz - interval '8 days 7 hours' + n * interval '10 minutes' + interval '7 seconds'
		FROM generate_series(0, (8 * 24 + 7) * 6 - 1) n`, now, c1.ID)
	mustExec(t, pool, `INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, "timestamp")
		SELECT 'up-1:c2-' || n, $2::uuid, 'up-1',
			(CASE WHEN n % 5 = 0 THEN 'unhealthy' ELSE 'healthy' END)::health_check_status,
			100, $1::timestamptz - interval '8 days 7 hours' + n * interval '30 minutes' + interval '11 seconds'
		FROM generate_series(0, (8 * 24 + 7) * 2 - 1) n`, now, c2.ID)
	// Another system's runs and transitions must not count.
	other := mustConfig(t, s, "other check")
	mustAssign(t, s, "up-other", other.ID)
	mustExec(t, pool, `INSERT INTO health_check_runs (id, configuration_id, system_id, status, "timestamp")
		SELECT 'up-other:' || n, $2::uuid, 'up-other', 'unhealthy', $1::timestamptz - n * interval '7 minutes' FROM generate_series(1, 500) n`, now, other.ID)
	insertTransition(t, pool, "", "up-other", nil, statusp(health.Healthy), health.Unhealthy, now.Add(-5*time.Hour))
	// Hourly aggregates from the runs, then the days before now − 7 days rolled up to daily rows.
	mustExec(t, pool, `INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size,
			run_count, healthy_count, degraded_count, unhealthy_count, latency_sum_ms)
		SELECT configuration_id, system_id, date_trunc('hour', "timestamp", 'UTC'), 'hourly', count(*),
			count(*) FILTER (WHERE status = 'healthy'), count(*) FILTER (WHERE status = 'degraded'),
			count(*) FILTER (WHERE status = 'unhealthy'), sum(latency_ms)
		FROM health_check_runs GROUP BY 1, 2, 3`)
	mustExec(t, pool, `INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size,
			run_count, healthy_count, degraded_count, unhealthy_count, latency_sum_ms)
		SELECT configuration_id, system_id, date_trunc('day', bucket_start, 'UTC'), 'daily', sum(run_count),
			sum(healthy_count), sum(degraded_count), sum(unhealthy_count), sum(latency_sum_ms)
		FROM health_check_aggregates WHERE bucket_size = 'hourly' AND bucket_start < date_trunc('day', $1::timestamptz - interval '7 days', 'UTC')
		GROUP BY 1, 2, 3`, now)
	mustExec(t, pool, `DELETE FROM health_check_aggregates WHERE bucket_size = 'hourly' AND bucket_start < date_trunc('day', $1::timestamptz - interval '7 days', 'UTC')`, now)
	// The evaluated status: degraded 8 d 3 h ago, unhealthy 6 d 5 h 20 m ago (partly in
	// maintenance), healthy 6 d 2 h ago, unhealthy 20 h 13 m ago, degraded 19 h 1 m ago, healthy 3 h
	// ago and degraded 10 minutes ago (in a maintenance window active now).
	for _, tr := range []struct {
		ago      time.Duration
		from, to health.Status
	}{
		{8*24*time.Hour + 3*time.Hour, health.Healthy, health.Degraded},
		{6*24*time.Hour + 5*time.Hour + 20*time.Minute, health.Degraded, health.Unhealthy},
		{6*24*time.Hour + 2*time.Hour, health.Unhealthy, health.Healthy},
		{20*time.Hour + 13*time.Minute, health.Healthy, health.Unhealthy},
		{19*time.Hour + time.Minute, health.Unhealthy, health.Degraded},
		{3 * time.Hour, health.Degraded, health.Healthy},
		{10 * time.Minute, health.Healthy, health.Degraded},
	} {
		insertTransition(t, pool, "", "up-1", &c1.ID, statusp(tr.from), tr.to, now.Add(-tr.ago))
	}
	mustExec(t, pool, `INSERT INTO system_health_state (system_id, status, healthy_checks, total_checks, in_status_since, seq)
		VALUES ('up-1', 'degraded', 1, 2, $1::timestamptz - interval '10 minutes', 42)`, now)
	for _, m := range []struct{ start, end time.Duration }{
		{-(6*24*time.Hour + 4*time.Hour), -(6*24*time.Hour + time.Hour)},
		{-30 * time.Minute, time.Hour},
	} {
		if _, err := s.CreateMaintenance(ctxT(t), MaintenanceInput{Title: "m", SystemIDs: []string{"up-1"},
			StartsAt: now.Add(m.start), EndsAt: now.Add(m.end)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateMaintenance(ctxT(t), MaintenanceInput{Title: "other", SystemIDs: []string{"up-other"},
		StartsAt: now.Add(-48 * time.Hour), EndsAt: now}); err != nil {
		t.Fatal(err)
	}
	return s, pool, c1.ID, c2.ID
}

// uptimeBySQL computes the window's figures independently of health.ComputeUptime: status
// segments from the transitions with lead(), clipped to the window with range intersection,
// maintenance subtracted with multirange arithmetic (PostgreSQL 14+). The covered part starts at
// the oldest run (the fixture's raw tier holds the system's beginning).
type sqlUptime struct {
	covered, healthy, degraded, unhealthy, maint float64 // seconds
	successRate                                  float64
	runs                                         int64
}

const uptimeSegmentsSQL = `
	tr AS (
		SELECT transitioned_at AS at, to_status AS st FROM health_check_state_transitions WHERE system_id = $1
		UNION ALL
		SELECT '-infinity', coalesce((SELECT from_status FROM health_check_state_transitions WHERE system_id = $1
			ORDER BY transitioned_at LIMIT 1), 'healthy')),
	seg AS (SELECT st, tstzrange(at, lead(at, 1, 'infinity') OVER (ORDER BY at)) AS r FROM tr),
	m AS (SELECT coalesce(range_agg(tstzrange(starts_at, ends_at)), '{}'::tstzmultirange) AS mr
		FROM maintenance_windows WHERE system_ids @> ARRAY[$1]::text[])`

func secondsOf(mr string) string {
	return `(SELECT coalesce(sum(extract(epoch FROM upper(x) - lower(x))), 0) FROM unnest(` + mr + `) x)`
}

func uptimeBySQL(t *testing.T, pool *pgxpool.Pool, systemID, cfgID string, now time.Time, window time.Duration) sqlUptime {
	t.Helper()
	var u sqlUptime
	err := pool.QueryRow(context.Background(), `WITH
		w AS (SELECT tstzrange(greatest($2::timestamptz - $3::interval,
			(SELECT min("timestamp") FROM health_check_runs WHERE system_id = $1)), $2::timestamptz) AS r),`+uptimeSegmentsSQL+`,
		parts AS (SELECT seg.st, multirange(seg.r * w.r) - m.mr AS rest, multirange(seg.r * w.r) * m.mr AS inm FROM seg, w, m)
		SELECT (SELECT extract(epoch FROM upper(r) - lower(r)) FROM w),
			coalesce(sum(`+secondsOf("rest")+`) FILTER (WHERE st = 'healthy'), 0),
			coalesce(sum(`+secondsOf("rest")+`) FILTER (WHERE st = 'degraded'), 0),
			coalesce(sum(`+secondsOf("rest")+`) FILTER (WHERE st = 'unhealthy'), 0),
			coalesce(sum(`+secondsOf("inm")+`), 0)
		FROM parts`, systemID, now, window).Scan(&u.covered, &u.healthy, &u.degraded, &u.unhealthy, &u.maint)
	if err != nil {
		t.Fatalf("uptime by SQL: %v", err)
	}
	var healthy int64
	err = pool.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE status = 'healthy') FROM health_check_runs
		WHERE system_id = $1 AND ($4::uuid IS NULL OR configuration_id = $4::uuid) AND "timestamp" >= $2::timestamptz - $3::interval AND "timestamp" < $2`,
		systemID, now, window, nullIfEmpty(cfgID)).Scan(&u.runs, &healthy)
	if err != nil {
		t.Fatalf("success rate by SQL: %v", err)
	}
	if u.runs > 0 {
		u.successRate = float64(healthy) / float64(u.runs)
	}
	return u
}

// sqlDay is one UTC day computed by SQL.
type sqlDay struct {
	day       time.Time
	uptime    *float64
	worst     *string
	incidents int
}

func uptimeDaysBySQL(t *testing.T, pool *pgxpool.Pool, systemID string, now time.Time, days int) []sqlDay {
	t.Helper()
	rows, err := pool.Query(context.Background(), `WITH
		first AS (SELECT min("timestamp") AS at FROM health_check_runs WHERE system_id = $1),
		d0 AS (SELECT g AS day, greatest(g, (SELECT at FROM first)) AS lo, least(g + interval '1 day', $2::timestamptz) AS hi
			FROM generate_series(date_trunc('day', $2::timestamptz, 'UTC') - ($3 - 1) * interval '1 day',
				date_trunc('day', $2::timestamptz, 'UTC'), interval '1 day') g),
		d AS (SELECT day, CASE WHEN lo < hi THEN tstzrange(lo, hi) ELSE 'empty'::tstzrange END AS r FROM d0),`+uptimeSegmentsSQL+`,
		parts AS (SELECT d.day, seg.st, `+secondsOf("multirange(seg.r * d.r) - m.mr")+` AS rest, `+secondsOf("multirange(seg.r * d.r) * m.mr")+` AS inm
			FROM d, seg, m),
		agg AS (SELECT day, sum(rest) AS rest, coalesce(sum(rest) FILTER (WHERE st = 'healthy'), 0) AS up, sum(inm) AS inm,
				max(CASE st WHEN 'healthy' THEN 0 WHEN 'degraded' THEN 1 ELSE 2 END) FILTER (WHERE rest > 0) AS worst
			FROM parts GROUP BY day)
		SELECT d.day,
			CASE WHEN agg.rest + agg.inm > 0 THEN 100 * (agg.up + agg.inm) / (agg.rest + agg.inm) END,
			CASE agg.worst WHEN 0 THEN 'healthy' WHEN 1 THEN 'degraded' WHEN 2 THEN 'unhealthy' END,
			(SELECT count(*) FROM health_check_state_transitions tr WHERE tr.system_id = $1
				AND tr.transitioned_at <@ d.r AND tr.to_status <> 'healthy' AND (tr.from_status IS NULL OR tr.from_status = 'healthy'))
		FROM d JOIN agg USING (day) ORDER BY d.day`, systemID, now, days)
	if err != nil {
		t.Fatalf("days by SQL: %v", err)
	}
	defer rows.Close()
	var out []sqlDay
	for rows.Next() {
		var d sqlDay
		if err := rows.Scan(&d.day, &d.uptime, &d.worst, &d.incidents); err != nil {
			t.Fatal(err)
		}
		d.day = d.day.UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// closeTo: percentages agree to 0.01 % (issue 15, acceptance 2); fractions to 0.0001.
func closeTo(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// TestUptimeEqualsSQLComputation is issue 15's acceptance 2 at the store: for a fixture with known
// downtime, every window's uptime, degraded, unhealthy and maintenance percentages, the success
// rate, the run count and the per-day rows equal an independent SQL computation over the same
// runs and transitions, to 0.01 %.
func TestUptimeEqualsSQLComputation(t *testing.T) {
	t.Parallel()
	s, pool, c1, c2 := uptimeFixture(t)
	for _, w := range health.UptimeWindows() {
		for _, check := range []string{"", c1, c2} {
			got, err := s.Uptime(ctxT(t), UptimeQuery{SystemID: "up-1", ConfigurationID: check, Window: w, Now: uptimeNow})
			if err != nil {
				t.Fatal(err)
			}
			want := uptimeBySQL(t, pool, "up-1", check, uptimeNow, w.Duration())
			name := string(w) + " check=" + check
			pct := func(sec float64) float64 { return 100 * sec / want.covered }
			up, _ := got.UptimePercent()
			deg, _ := got.DegradedPercent()
			unh, _ := got.UnhealthyPercent()
			mnt, _ := got.MaintenancePercent()
			if !closeTo(got.Covered.Duration().Seconds(), want.covered, 0.001) {
				t.Errorf("%s: covered %v s, SQL %v s", name, got.Covered.Duration().Seconds(), want.covered)
			}
			for _, f := range []struct {
				what      string
				got, want float64
			}{
				{"uptime", up, pct(want.healthy + want.maint)},
				{"degraded", deg, pct(want.degraded)},
				{"unhealthy", unh, pct(want.unhealthy)},
				{"maintenance", mnt, pct(want.maint)},
			} {
				if !closeTo(f.got, f.want, 0.01) {
					t.Errorf("%s: %s %.4f %%, SQL %.4f %%", name, f.what, f.got, f.want)
				}
			}
			rate, ok := got.SuccessRate()
			if !ok || got.Runs != want.runs || !closeTo(rate, want.successRate, 0.0001) {
				t.Errorf("%s: success rate %.6f over %d runs, SQL %.6f over %d", name, rate, got.Runs, want.successRate, want.runs)
			}
			if w.Days() == 0 {
				if len(got.Days) != 0 {
					t.Errorf("%s: %d days, want none", name, len(got.Days))
				}
				continue
			}
			wantDays := uptimeDaysBySQL(t, pool, "up-1", uptimeNow, w.Days())
			if len(got.Days) != len(wantDays) {
				t.Fatalf("%s: %d days, SQL %d", name, len(got.Days), len(wantDays))
			}
			for i, wd := range wantDays {
				gd := got.Days[i]
				gup, hasUp := gd.UptimePercent()
				switch {
				case !gd.Day.Equal(wd.day):
					t.Errorf("%s day %d: %v, SQL %v", name, i, gd.Day, wd.day)
				case hasUp != (wd.uptime != nil) || (hasUp && !closeTo(gup, *wd.uptime, 0.01)):
					t.Errorf("%s %v: uptime %.4f (%v), SQL %v", name, gd.Day, gup, hasUp, fmtPtr(wd.uptime))
				case gd.Incidents != wd.incidents:
					t.Errorf("%s %v: %d incidents, SQL %d", name, gd.Day, gd.Incidents, wd.incidents)
				case wd.worst != nil && gd.Worst != *wd.worst:
					t.Errorf("%s %v: worst %q, SQL %q", name, gd.Day, gd.Worst, *wd.worst)
				case wd.worst == nil && hasUp && gd.Worst != health.DayWorstMaintenance:
					t.Errorf("%s %v: worst %q, SQL: all maintenance", name, gd.Day, gd.Worst)
				case wd.worst == nil && !hasUp && gd.Worst != "":
					t.Errorf("%s %v: worst %q, SQL: not covered", name, gd.Day, gd.Worst)
				}
			}
		}
	}
}

// TestUptimeKnownFigures pins the fixture's 24 h figures worked out by hand, so that the SQL
// computation above cannot drift with the code: healthy 3 h 47 min + 2 h 30 min, unhealthy
// 1 h 12 min, degraded 16 h 1 min, maintenance 30 min (the last 10 minutes degraded in it).
func TestUptimeKnownFigures(t *testing.T) {
	t.Parallel()
	s, _, _, _ := uptimeFixture(t)
	got, err := s.Uptime(ctxT(t), UptimeQuery{SystemID: "up-1", Window: health.UptimeWindow24h, Now: uptimeNow})
	if err != nil {
		t.Fatal(err)
	}
	min := func(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }
	b := got.UptimeBreakdown
	if b.Covered != 24*time.Hour || b.Healthy != min(227+150) || b.Unhealthy != min(72) || b.Degraded != min(961) || b.Maintenance != min(30) {
		t.Fatalf("breakdown %+v", b)
	}
	if up, _ := got.UptimePercent(); !closeTo(up, 100*407.0/1440, 1e-9) {
		t.Fatalf("uptime %.6f, want %.6f", up, 100*407.0/1440)
	}
	if !got.From.Equal(uptimeNow.Add(-24*time.Hour)) || !got.To.Equal(uptimeNow) {
		t.Fatalf("window %v … %v", got.From, got.To)
	}
	// The system began with its oldest run, 8 days 7 hours (and 7 seconds) ago.
	if want := uptimeNow.Add(-(8*24+7)*time.Hour + 7*time.Second); !got.ExistsFrom.Equal(want) {
		t.Fatalf("exists from %v, want %v", got.ExistsFrom, want)
	}
	// 90 days: the covered part starts at the oldest run.
	got, err = s.Uptime(ctxT(t), UptimeQuery{SystemID: "up-1", Window: health.UptimeWindow90d, Now: uptimeNow})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Covered.Start.Equal(got.ExistsFrom) || len(got.Days) != 90 || got.Days[80].Worst != "" || got.Days[89].Worst != "degraded" {
		t.Fatalf("90d: covered %v, %d days, day 80 %q, today %q", got.Covered, len(got.Days), got.Days[80].Worst, got.Days[89].Worst)
	}
}

// TestUptimeSuccessRateTiers: the success rate counts whole hourly buckets, whole daily buckets
// and the raw runs of the partial hours at both ends, each run once.
func TestUptimeSuccessRateTiers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	now := time.Date(2026, 5, 30, 12, 30, 0, 0, time.UTC)
	from := now.Add(-7 * 24 * time.Hour) // 2026-05-23T12:30
	hb := func(runs, healthy int) health.Bucket {
		return health.Bucket{RunCount: runs, HealthyCount: healthy, UnhealthyCount: runs - healthy}
	}
	rawRun := func(n int, at time.Time, st health.Status) {
		mustExec(t, f.pool, `INSERT INTO health_check_runs (id, configuration_id, system_id, status, "timestamp") VALUES ($1, $2, $3, $4::health_check_status, $5)`,
			fmt.Sprintf("%s:r%d", f.sys, n), f.cfg, f.sys, string(st), at)
	}
	// The window start's hour: its bucket is not counted, its raw runs after the start are.
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", from.Truncate(time.Hour), hb(1000, 0))
	rawRun(1, from.Add(-time.Minute), health.Unhealthy)  // before the window
	rawRun(2, from.Add(10*time.Minute), health.Healthy)  // counted
	rawRun(3, from.Add(20*time.Minute), health.Degraded) // counted
	// Whole hours inside: counted from their buckets (their raw runs are not read).
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", from.Truncate(time.Hour).Add(time.Hour), hb(6, 5))
	rawRun(4, from.Add(40*time.Minute), health.Unhealthy) // inside the bucket above: not read from raw
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", now.Truncate(time.Hour).Add(-time.Hour), hb(4, 4))
	// A whole rolled-up day inside the window.
	insertBucket(t, f.pool, f.sys, f.cfg, "daily", time.Date(2026, 5, 25, 0, 0, 0, 0, time.UTC), hb(100, 90))
	// The day the window starts in, rolled up: not counted (its hours after the start have no
	// hourly rows and the day's row starts before the window).
	insertBucket(t, f.pool, f.sys, f.cfg, "daily", time.Date(2026, 5, 23, 0, 0, 0, 0, time.UTC), hb(100, 0))
	// The current hour: its bucket is not read, its raw runs are.
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", now.Truncate(time.Hour), hb(500, 0))
	rawRun(5, now.Truncate(time.Hour).Add(time.Minute), health.Healthy)
	rawRun(6, now.Add(time.Minute), health.Unhealthy) // after now
	got, err := f.s.Uptime(ctxT(t), UptimeQuery{SystemID: f.sys, Window: health.UptimeWindow7d, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	// Raw 2 + 3 (1 healthy), hourly 6 + 4 (9), daily 100 (90), current hour raw 5 (1 healthy).
	if got.Runs != 2+6+4+100+1 || got.HealthyRuns != 1+9+90+1 {
		t.Fatalf("runs %d healthy %d, want %d %d", got.Runs, got.HealthyRuns, 2+6+4+100+1, 1+9+90+1)
	}
}

func TestUptimeErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		q     UptimeQuery
		field string
	}{
		{"unknown window", UptimeQuery{SystemID: f.sys, Window: "1y", Now: t0}, "window"},
		{"bad check id", UptimeQuery{SystemID: f.sys, Window: "7d", ConfigurationID: "nope", Now: t0}, "checkId"},
		{"no now", UptimeQuery{SystemID: f.sys, Window: "7d"}, "now"},
	} {
		if _, err := f.s.Uptime(ctxT(t), tc.q); !isValidation(err, tc.field) {
			t.Errorf("%s: %v, want a validation error on %s", tc.name, err, tc.field)
		}
	}
	if _, err := f.s.Uptime(ctxT(t), UptimeQuery{SystemID: "missing", Window: "7d", Now: t0}); !isNotFound(err, "System") {
		t.Fatalf("missing system: %v", err)
	}
	// A system without runs, transitions or state counts from its creation, healthy.
	mustSystem(t, f.s, "fresh")
	var created time.Time
	if err := f.pool.QueryRow(ctxT(t), `SELECT created_at FROM systems WHERE id = 'fresh'`).Scan(&created); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.Uptime(ctxT(t), UptimeQuery{SystemID: "fresh", Window: "24h", Now: created.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if up, ok := got.UptimePercent(); !ok || up != 100 || got.Covered.Duration() != time.Hour || got.Runs != 0 {
		t.Fatalf("fresh system: %+v", got)
	}
	if _, ok := got.SuccessRate(); ok {
		t.Fatal("a success rate without runs")
	}
}

func TestExistsFrom(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	raw := time.Date(2026, 3, 1, 10, 20, 30, 0, time.UTC)
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	for _, tc := range []struct {
		name               string
		firstRaw, agg, end *time.Time
		want               time.Time
	}{
		{"nothing: creation", nil, nil, nil, created},
		{"raw run", &raw, nil, nil, raw},
		{"raw run in its hourly bucket", &raw, at("2026-03-01T10:00:00Z"), at("2026-03-01T11:00:00Z"), raw},
		{"raw run in its rolled-up day", &raw, at("2026-03-01T00:00:00Z"), at("2026-03-02T00:00:00Z"), raw},
		{"aggregates older than the raw runs", &raw, at("2026-02-01T00:00:00Z"), at("2026-02-02T00:00:00Z"), *at("2026-02-01T00:00:00Z")},
		{"aggregates only", nil, at("2026-02-01T05:00:00Z"), at("2026-02-01T06:00:00Z"), *at("2026-02-01T05:00:00Z")},
	} {
		if got := existsFrom(created, tc.firstRaw, tc.agg, tc.end); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

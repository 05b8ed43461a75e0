package store

import (
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

type hourlyRow struct {
	runs, healthy, unhealthy int
	sum, avg, min, max, p95  *int
}

func readHourly(t *testing.T, f fixture, start time.Time) hourlyRow {
	t.Helper()
	var r hourlyRow
	if err := f.pool.QueryRow(ctxT(t), `SELECT run_count, healthy_count, unhealthy_count, latency_sum_ms, avg_latency_ms,
			min_latency_ms, max_latency_ms, p95_latency_ms
		FROM health_check_aggregates WHERE system_id = $1 AND configuration_id = $2 AND bucket_size = 'hourly' AND bucket_start = $3`,
		f.sys, f.cfg, start).Scan(&r.runs, &r.healthy, &r.unhealthy, &r.sum, &r.avg, &r.min, &r.max, &r.p95); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAggregationAG covers AG-1…AG-5 through real SQL.
func TestAggregationAG(t *testing.T) {
	t.Parallel()
	t.Run("AG-1..AG-3 hourly fold", testAggregationAG1to3)
	t.Run("AG-4 tiers", testAggregationAG4)
	t.Run("AG-5 daily rollup", testAggregationAG5)
}

// testAggregationAG1to3 folds runs into the hourly bucket through Persist (real SQL, the row
// lock and health.FoldRun): AG-1 three runs 100/200/300; AG-2 a catastrophic run without
// latency; AG-3 a healthy run of 400 → avg 1000/5 in integer division over all runs.
func testAggregationAG1to3(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hour := time.Date(2026, 5, 30, 10, 0, 0, 0, time.UTC)
	seq := int64(0)
	persist := func(st health.Status, latency *int, at time.Time) {
		t.Helper()
		seq++
		if _, err := f.s.Persist(ctxT(t), PersistInput{SystemID: f.sys, Seq: seq, At: at,
			Runs: []RunRecord{run(f.sys, f.cfg, seq, st, latency, at)}, View: health.BaselineView(1)}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		do   func()
		want hourlyRow
	}{
		{"AG-1 three healthy runs 100, 200, 300", func() {
			persist(health.Healthy, intp(100), hour.Add(1*time.Minute))
			persist(health.Healthy, intp(200), hour.Add(2*time.Minute))
			persist(health.Healthy, intp(300), hour.Add(59*time.Minute+59*time.Second))
		}, hourlyRow{runs: 3, healthy: 3, sum: intp(600), avg: intp(200), min: intp(100), max: intp(300)}},
		{"AG-2 catastrophic run without latency", func() {
			persist(health.Unhealthy, nil, hour.Add(30*time.Minute))
		}, hourlyRow{runs: 4, healthy: 3, unhealthy: 1, sum: intp(600), avg: intp(200), min: intp(100), max: intp(300)}},
		{"AG-3 healthy run 400", func() {
			persist(health.Healthy, intp(400), hour.Add(40*time.Minute))
		}, hourlyRow{runs: 5, healthy: 4, unhealthy: 1, sum: intp(1000), avg: intp(200), min: intp(100), max: intp(400)}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do()
			got := readHourly(t, f, hour)
			w := st.want
			if got.runs != w.runs || got.healthy != w.healthy || got.unhealthy != w.unhealthy || !ptrEq(got.sum, w.sum) ||
				!ptrEq(got.avg, w.avg) || !ptrEq(got.min, w.min) || !ptrEq(got.max, w.max) || got.p95 == nil {
				t.Fatalf("runs %d healthy %d unhealthy %d sum %s avg %s min %s max %s p95 %s; want %+v",
					got.runs, got.healthy, got.unhealthy, fmtPtr(got.sum), fmtPtr(got.avg), fmtPtr(got.min), fmtPtr(got.max), fmtPtr(got.p95), w)
			}
		})
	}
	if n := count(t, f.pool, "health_check_aggregates"); n != 1 {
		t.Fatalf("%d aggregate rows, want one hourly row", n)
	}
}

// testAggregationAG4 reads the aggregated history across tiers: raw runs covering 10:00–10:59
// win over the hourly bucket of 10:00, which is dropped; the hourly bucket of 09:00 (no raw
// data) and a daily bucket of the previous day (no finer data) are kept.
func testAggregationAG4(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	day := time.Date(2026, 5, 30, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 6; i++ {
		at := day.Add(10*time.Hour + time.Duration(i*10)*time.Minute)
		mustExec(t, f.pool, `INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, "timestamp")
			VALUES ($1, $2, $3, 'healthy', 100, $4)`, ProbeRunID(f.sys, int64(i+1)), f.cfg, f.sys, at)
	}
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", day.Add(9*time.Hour), health.Bucket{RunCount: 7, HealthyCount: 7, LatencySumMs: intp(700), P95LatencyMs: intp(100)})
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", day.Add(10*time.Hour), health.Bucket{RunCount: 1000, HealthyCount: 1000})
	insertBucket(t, f.pool, f.sys, f.cfg, "daily", day.AddDate(0, 0, -1), health.Bucket{RunCount: 50, HealthyCount: 40, UnhealthyCount: 10})

	h, err := f.s.AggregatedHistory(ctxT(t), HistoryQuery{SystemID: f.sys, ConfigurationID: f.cfg,
		Start: day.AddDate(0, 0, -1), End: day.Add(11 * time.Hour), TargetPoints: 35})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	var sawHourly9, sawDaily bool
	for _, b := range h.Buckets {
		total += b.RunCount
		if !b.BucketStart.After(day.Add(9*time.Hour)) && b.BucketEnd.After(day.Add(9*time.Hour)) && b.RunCount == 7 {
			sawHourly9 = true
		}
		if b.RunCount == 50 {
			sawDaily = true
		}
		if b.AggregatedResult != nil {
			t.Errorf("public history carries aggregatedResult")
		}
	}
	if total != 6+7+50 {
		t.Fatalf("history counts %d runs, want 63 (raw 6 + hourly 09:00 7 + daily 50; the 10:00 hourly bucket dropped)", total)
	}
	if !sawHourly9 || !sawDaily {
		t.Fatalf("buckets %+v: hourly 09:00 kept %v, daily kept %v", h.Buckets, sawHourly9, sawDaily)
	}
	if want := health.IntervalSeconds(health.BucketInterval(day.AddDate(0, 0, -1), day.Add(11*time.Hour), 35)); h.BucketIntervalSeconds != want {
		t.Fatalf("interval %d, want %d", h.BucketIntervalSeconds, want)
	}

	// Detailed variant and source filter.
	det, err := f.s.AggregatedHistory(ctxT(t), HistoryQuery{SystemID: f.sys, ConfigurationID: f.cfg, Start: day, End: day.Add(11 * time.Hour), Detailed: true, SourceFilter: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	if len(det.Buckets) != 0 {
		t.Fatalf("source eu has no data, got %d buckets", len(det.Buckets))
	}
	if _, err := f.s.AggregatedHistory(ctxT(t), HistoryQuery{SystemID: f.sys, ConfigurationID: f.cfg, Start: day, End: day.Add(time.Hour), TargetPoints: 5}); !isValidation(err, "targetPoints") {
		t.Fatalf("targetPoints 5: %v, want validation error", err)
	}
}

// testAggregationAG5 rolls two hourly buckets of one day into the daily bucket through real SQL:
// runs 10 + 30, sum 1000 + 6000, avg 175, p95 max(100, 200); the hourly rows are gone; a second
// rollup of later hourly rows adds to the daily row (UpsertDaily).
func testAggregationAG5(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	day := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", day.Add(3*time.Hour), health.Bucket{RunCount: 10, HealthyCount: 10, LatencySumMs: intp(1000), MinLatencyMs: intp(20), MaxLatencyMs: intp(150), P95LatencyMs: intp(100)})
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", day.Add(4*time.Hour), health.Bucket{RunCount: 30, HealthyCount: 29, UnhealthyCount: 1, LatencySumMs: intp(6000), MinLatencyMs: intp(30), MaxLatencyMs: intp(400), P95LatencyMs: intp(200)})
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", day.AddDate(0, 0, 1), health.Bucket{RunCount: 1, HealthyCount: 1}) // not before the cutoff

	res, err := f.s.RollupHourlyToDaily(ctxT(t), f.sys, f.cfg, day.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if res.HourlyRows != 2 || res.DailyRows != 1 {
		t.Fatalf("rollup %+v, want 2 hourly rows into 1 daily row", res)
	}
	var runs, healthy int
	var sum, avg, minL, maxL, p95 *int
	read := func() {
		t.Helper()
		if err := f.pool.QueryRow(ctxT(t), `SELECT run_count, healthy_count, latency_sum_ms, avg_latency_ms, min_latency_ms, max_latency_ms, p95_latency_ms
			FROM health_check_aggregates WHERE bucket_size = 'daily' AND bucket_start = $1`, day).Scan(&runs, &healthy, &sum, &avg, &minL, &maxL, &p95); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if runs != 40 || healthy != 39 || !ptrEq(sum, intp(7000)) || !ptrEq(avg, intp(175)) || !ptrEq(p95, intp(200)) || !ptrEq(minL, intp(20)) || !ptrEq(maxL, intp(400)) {
		t.Fatalf("AG-5 daily: runs %d healthy %d sum %s avg %s min %s max %s p95 %s", runs, healthy, fmtPtr(sum), fmtPtr(avg), fmtPtr(minL), fmtPtr(maxL), fmtPtr(p95))
	}
	if n := count(t, f.pool, "health_check_aggregates WHERE bucket_size = 'hourly'"); n != 1 {
		t.Fatalf("%d hourly rows left, want 1 (the one after the cutoff)", n)
	}
	// A late hourly row of the same day merges into the existing daily row.
	insertBucket(t, f.pool, f.sys, f.cfg, "hourly", day.Add(5*time.Hour), health.Bucket{RunCount: 10, HealthyCount: 10, LatencySumMs: intp(3000), P95LatencyMs: intp(500)})
	if _, err := f.s.RollupHourlyToDaily(ctxT(t), f.sys, f.cfg, day.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	read()
	if runs != 50 || !ptrEq(sum, intp(10000)) || !ptrEq(avg, intp(200)) || !ptrEq(p95, intp(500)) {
		t.Fatalf("after merge: runs %d sum %s avg %s p95 %s; want 50, 10000, 200, 500", runs, fmtPtr(sum), fmtPtr(avg), fmtPtr(p95))
	}
	if n := count(t, f.pool, "health_check_aggregates WHERE bucket_size = 'daily'"); n != 1 {
		t.Fatalf("%d daily rows, want 1", n)
	}
}

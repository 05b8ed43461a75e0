package store

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// benchItem is a typical processed probe result: one run, its check state, the view and the
// check.completed hook.
func benchItem(systemID, cfg string, seq int64, base time.Time) PersistInput {
	at := base.Add(time.Duration(seq) * time.Second)
	st := health.Healthy
	if seq%10 == 0 {
		st = health.Unhealthy
	}
	return PersistInput{SystemID: systemID, Seq: seq, At: at,
		Runs: []RunRecord{{ID: ProbeRunID(systemID, seq), ConfigurationID: cfg, Status: st, LatencyMs: intp(int(seq % 300)),
			Result: []byte(`{"status":"healthy","latencyMs":12,"message":"Completed in 12ms","metadata":{"connected":true}}`), Timestamp: at}},
		Checks: []CheckState{{ConfigurationID: cfg, Status: health.Healthy, RunsConsidered: 100, ConsecutiveSuccesses: 1}},
		View:   health.BaselineView(1),
		Events: []EventRecord{{Type: health.HookCheckCompleted, Discriminator: cfg, Payload: map[string]any{"systemId": systemID, "status": string(st)}}},
	}
}

// BenchmarkPersist measures Persist throughput (results/s): "serial" is one entity writing its
// items one after another; "parallel" is many entities (one system each) writing at once.
func BenchmarkPersist(b *testing.B) {
	s, _ := newStore(b)
	ctx := context.Background()
	cfg := mustConfig(b, s, "bench")
	const systems = 64
	for i := 0; i < systems; i++ {
		id := fmt.Sprintf("bench-%d", i)
		mustSystem(b, s, id)
		mustAssign(b, s, id, cfg.ID)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	// The sub-benchmarks run several times (growing b.N): seqs continue across runs so that every
	// item is new.
	var serialSeq int64
	var seqs [systems]atomic.Int64
	var next atomic.Int64
	b.Run("serial", func(b *testing.B) {
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			serialSeq++
			if ok, err := s.Persist(ctx, benchItem("bench-0", cfg.ID, serialSeq+1e9, base)); err != nil || !ok {
				b.Fatalf("persist: %v %v", ok, err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "results/s")
	})

	b.Run("parallel", func(b *testing.B) {
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			n := int(next.Add(1)-1) % systems
			sys := fmt.Sprintf("bench-%d", n)
			for pb.Next() {
				seq := seqs[n].Add(1) + 2e9
				if ok, err := s.Persist(ctx, benchItem(sys, cfg.ID, seq, base)); err != nil || !ok {
					b.Errorf("persist: %v %v", ok, err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "results/s")
	})
}

// BenchmarkHistoryRead measures history reads with 1M runs in the database (100 systems × 10
// checks × 1,000 runs one minute apart, plus their hourly buckets), seeded with generate_series.
func BenchmarkHistoryRead(b *testing.B) {
	s, pool := newStore(b)
	ctx := context.Background()
	end := time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)
	seedStart := time.Now()
	for _, q := range []string{
		`INSERT INTO systems (id, name) SELECT 'sys-' || s, 'System ' || s FROM generate_series(1, 100) s`,
		`INSERT INTO health_check_configurations (id, name, strategy_id, config, interval_seconds)
			SELECT ('00000000-0000-4000-8000-' || lpad(c::text, 12, '0'))::uuid, 'check ' || c, 'healthcheck-http.http', '{}', 60
			FROM generate_series(1, 10) c`,
		`INSERT INTO system_health_checks (system_id, configuration_id)
			SELECT 'sys-' || s, ('00000000-0000-4000-8000-' || lpad(c::text, 12, '0'))::uuid
			FROM generate_series(1, 100) s, generate_series(1, 10) c`,
		`INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, result, "timestamp")
			SELECT 'sys-' || s || ':' || ((c - 1) * 1000 + r), ('00000000-0000-4000-8000-' || lpad(c::text, 12, '0'))::uuid,
				'sys-' || s, (CASE WHEN r % 10 = 0 THEN 'unhealthy' ELSE 'healthy' END)::health_check_status, r % 500,
				'{"status":"healthy","message":"Completed in 12ms","metadata":{"connected":true}}',
				$1::timestamptz - r * interval '1 minute'
			FROM generate_series(1, 100) s, generate_series(1, 10) c, generate_series(1, 1000) r`,
		`INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size, run_count, healthy_count,
				unhealthy_count, latency_sum_ms, avg_latency_ms, min_latency_ms, max_latency_ms, p95_latency_ms)
			SELECT configuration_id, system_id, date_trunc('hour', "timestamp", 'UTC'), 'hourly', count(*),
				count(*) FILTER (WHERE status = 'healthy'), count(*) FILTER (WHERE status <> 'healthy'),
				sum(latency_ms), sum(latency_ms) / count(*), min(latency_ms), max(latency_ms),
				percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms)
			FROM health_check_runs GROUP BY 1, 2, 3`,
		`VACUUM ANALYZE`,
	} {
		var args []any
		if len(q) > 40 && q[:40] == `INSERT INTO health_check_runs (id, confi` {
			args = []any{end}
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
	if n := count(b, pool, "health_check_runs"); n != 1_000_000 {
		b.Fatalf("seeded %d runs", n)
	}
	b.Logf("seeded 1,000,000 runs in %s", time.Since(seedStart).Round(time.Second))
	cfg := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i%10+1) }
	sys := func(i int) string { return fmt.Sprintf("sys-%d", i%100+1) }

	reads := []struct {
		name string
		read func(i int) error
	}{
		{"page/check/limit10", func(i int) error {
			_, err := s.ListRuns(ctx, RunFilter{SystemID: sys(i), ConfigurationID: cfg(i), Limit: 10})
			return err
		}},
		{"page/check/limit100/offset500/detailed", func(i int) error {
			_, err := s.ListRuns(ctx, RunFilter{SystemID: sys(i), ConfigurationID: cfg(i), Limit: 100, Offset: 500, Detailed: true})
			return err
		}},
		{"page/system/limit50/unhealthy", func(i int) error {
			_, err := s.ListRuns(ctx, RunFilter{SystemID: sys(i), Statuses: []health.Status{health.Unhealthy}, Limit: 50})
			return err
		}},
		{"page/system/last6h/asc", func(i int) error {
			from := end.Add(-6 * time.Hour)
			_, err := s.ListRuns(ctx, RunFilter{SystemID: sys(i), StartDate: &from, EndDate: &end, SortOrder: SortAsc, Limit: 50})
			return err
		}},
		{"page/all/limit10", func(i int) error {
			_, err := s.ListRuns(ctx, RunFilter{Limit: 10})
			return err
		}},
		{"run-by-id", func(i int) error {
			_, err := s.GetRun(ctx, fmt.Sprintf("%s:%d", sys(i), i%10000+1))
			return err
		}},
		{"aggregated/24h/500points", func(i int) error {
			_, err := s.AggregatedHistory(ctx, HistoryQuery{SystemID: sys(i), ConfigurationID: cfg(i), Start: end.Add(-24 * time.Hour), End: end})
			return err
		}},
	}
	for _, r := range reads {
		b.Run(r.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := r.read(i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStorageFootprint measures what a run costs on disk (the README's storage model):
// CHECKFLOW_BENCH_FOOTPRINT_RUNS runs (default 20,000: 20 checks × 1,000 runs 10 s apart, one
// in ten failing) are written through Persist with an HTTP-like result and a check.completed
// hook, then every table's size (heap + indexes + TOAST) is divided by its rows.
//
// go test ./internal/store -run '^$' -bench StorageFootprint -benchtime 1x
func BenchmarkStorageFootprint(b *testing.B) {
	s, pool := newStore(b)
	ctx := context.Background()
	const checks = 20
	total := 20000
	if v, err := strconv.Atoi(os.Getenv("CHECKFLOW_BENCH_FOOTPRINT_RUNS")); err == nil && v > 0 {
		total = v
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var cfgs []string
	for i := range checks {
		id := fmt.Sprintf("fp-%02d", i)
		mustSystem(b, s, id)
		c := mustConfig(b, s, id)
		mustAssign(b, s, id, c.ID)
		cfgs = append(cfgs, c.ID)
	}
	b.ResetTimer()
	for i := range total {
		sys := fmt.Sprintf("fp-%02d", i%checks)
		seq := int64(i/checks + 1)
		in := benchItem(sys, cfgs[i%checks], seq, base)
		in.Runs[0].Timestamp = base.Add(time.Duration(seq) * 10 * time.Second)
		in.At = in.Runs[0].Timestamp
		if ok, err := s.Persist(ctx, in); err != nil || !ok {
			b.Fatalf("persist: %v %v", ok, err)
		}
	}
	b.StopTimer()
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	for _, tbl := range []string{"health_check_runs", "health_events", "health_check_aggregates", "check_health_state", "system_health_state"} {
		var rows, bytes int64
		var width float64
		if err := pool.QueryRow(ctx, `SELECT count(*), pg_total_relation_size('`+tbl+`'), coalesce(avg(pg_column_size(t.*)), 0) FROM `+tbl+` t`).Scan(&rows, &bytes, &width); err != nil {
			b.Fatal(err)
		}
		b.Logf("%-24s %8d rows %10d bytes on disk (%5.0f bytes/row with indexes, %4.0f bytes of data/row) %5.2f rows/run",
			tbl, rows, bytes, float64(bytes)/float64(max(rows, 1)), width, float64(rows)/float64(total))
	}
}

// BenchmarkRunRetention compares the two ways raw runs leave (issue 11, acceptance 6): dropping
// whole day partitions and deleting rows in batches of 10,000, each over 30 days of runs of
// which the 23 oldest go. CHECKFLOW_BENCH_RETENTION_ROWS_PER_DAY lists the day sizes to try
// (default "10000,40000": a scaled-down 1,000 checks @10 s, which is 8.64 M runs a day). Reports
// the job's duration, the table's size before and after, and the dead rows left behind.
//
// go test ./internal/store -run '^$' -bench RunRetention -benchtime 1x -timeout 30m
func BenchmarkRunRetention(b *testing.B) {
	sizes := []int{10000, 40000}
	if v := os.Getenv("CHECKFLOW_BENCH_RETENTION_ROWS_PER_DAY"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("CHECKFLOW_BENCH_RETENTION_ROWS_PER_DAY: %q", v)
			}
			sizes = append(sizes, n)
		}
	}
	for _, perDay := range sizes {
		for _, how := range []string{"drop-partitions", "delete-rows"} {
			b.Run(fmt.Sprintf("%s/%d-per-day", how, perDay), func(b *testing.B) {
				for range b.N {
					runRetentionScenario(b, how, perDay)
				}
			})
		}
	}
}

func runRetentionScenario(b *testing.B, how string, perDay int) {
	b.StopTimer()
	s, pool := newStore(b)
	ctx := context.Background()
	mustSystem(b, s, "ret")
	c := mustConfig(b, s, "ret")
	mustAssign(b, s, "ret", c.ID)
	today := utcDay(time.Now())
	from := today.AddDate(0, 0, -30)
	if _, err := s.EnsureRunPartitions(ctx, from, today); err != nil {
		b.Fatal(err)
	}
	// perDay runs a day, evenly spread, 30 days back.
	step := float64(86400) / float64(perDay)
	if _, err := pool.Exec(ctx, `INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, result, "timestamp")
		SELECT 'ret:' || g, $1::uuid, 'ret', 'healthy', 12, '{"status":"healthy","latencyMs":12,"message":"Completed in 12ms"}'::jsonb,
			$2::timestamptz + make_interval(secs => g * $3::float8)
		FROM generate_series(0, $4::bigint - 1) g`, c.ID, from, step, int64(perDay)*30); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE health_check_runs`); err != nil {
		b.Fatal(err)
	}
	size := func() (bytes, dead int64) {
		if err := pool.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0), coalesce(sum(st.n_dead_tup), 0)
			FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid
			WHERE i.inhparent = 'health_check_runs'::regclass`).Scan(&bytes, &dead); err != nil {
			b.Fatal(err)
		}
		return bytes, dead
	}
	before, _ := size()
	cutoff := today.AddDate(0, 0, -7)
	b.StartTimer()
	start := time.Now()
	var removed int64
	switch how {
	case "drop-partitions":
		days, err := s.DropRunPartitionsBefore(ctx, cutoff)
		if err != nil {
			b.Fatal(err)
		}
		removed = int64(len(days))
	default:
		for {
			// By key: a ctid is only unique within one partition.
			tag, err := pool.Exec(ctx, `DELETE FROM health_check_runs r USING (
				SELECT id, "timestamp" FROM health_check_runs WHERE "timestamp" < $1 LIMIT 10000) old
				WHERE r.id = old.id AND r."timestamp" = old."timestamp"`, cutoff)
			if err != nil {
				b.Fatal(err)
			}
			removed += tag.RowsAffected()
			if tag.RowsAffected() < 10000 {
				break
			}
		}
	}
	took := time.Since(start)
	b.StopTimer()
	if _, err := pool.Exec(ctx, `ANALYZE health_check_runs`); err != nil {
		b.Fatal(err)
	}
	after, dead := size()
	unit := "rows"
	if how == "drop-partitions" {
		unit = "day partitions"
	}
	b.ReportMetric(took.Seconds(), "job-s")
	b.Logf("%s, %d runs/day × 30 days: removed %d %s in %v; runs table %.1f MB → %.1f MB, %d dead rows left",
		how, perDay, removed, unit, took.Round(time.Millisecond), float64(before)/1e6, float64(after)/1e6, dead)
}

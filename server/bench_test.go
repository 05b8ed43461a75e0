package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// Benchmark sizes (issue 7, acceptance 6).
const (
	benchSystems       = 1000
	benchChecksPerSys  = 2
	benchRunsPerCheck  = 500 // 1000 × 2 × 500 = 1M runs
	benchCopyBatchRows = 50000
)

// seedBench builds 1,000 systems with two checks each, their entity-written state, and 1M runs.
func seedBench(b *testing.B) *env {
	b.Helper()
	start := time.Now()
	e := newEnv(b)
	ctx := context.Background()
	var checkIDs []string
	for i := 0; i < benchChecksPerSys; i++ {
		checkIDs = append(checkIDs, e.mustCheck(fmt.Sprintf("bench check %d", i)))
	}
	sysID := func(i int) string { return fmt.Sprintf("bench-%04d", i) }
	rows := make([][]any, 0, benchSystems)
	for i := 0; i < benchSystems; i++ {
		rows = append(rows, []any{sysID(i), "Bench " + sysID(i)})
	}
	if _, err := e.pool.CopyFrom(ctx, pgx.Identifier{"systems"}, []string{"id", "name"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	rows = rows[:0]
	for i := 0; i < benchSystems; i++ {
		for _, c := range checkIDs {
			rows = append(rows, []any{sysID(i), c})
		}
	}
	if _, err := e.pool.CopyFrom(ctx, pgx.Identifier{"system_health_checks"}, []string{"system_id", "configuration_id"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	// The state the entities would have written: every tenth system degraded.
	for i := 0; i < benchSystems; i++ {
		st := health.Healthy
		view := &health.View{Status: health.Healthy, HealthyChecks: 2, TotalChecks: 2}
		if i%10 == 0 {
			st = health.Degraded
			view = &health.View{Status: health.Degraded, HealthyChecks: 1, TotalChecks: 2}
		}
		in := store.PersistInput{SystemID: sysID(i), Seq: 1, At: t0, View: view,
			Checks: []store.CheckState{{ConfigurationID: checkIDs[0], Status: health.Healthy, RunsConsidered: 100}, {ConfigurationID: checkIDs[1], Status: st, RunsConsidered: 100}}}
		if _, err := e.store.Persist(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	// 1M runs, spread over the last week.
	result := []byte(`{"status":"healthy","latencyMs":42,"message":"Completed in 42ms","metadata":{"connected":true}}`)
	batch := make([][]any, 0, benchCopyBatchRows)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := e.pool.CopyFrom(ctx, pgx.Identifier{"health_check_runs"},
			[]string{"id", "configuration_id", "system_id", "status", "latency_ms", "result", "timestamp"}, pgx.CopyFromRows(batch)); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	seq := 0
	for i := 0; i < benchSystems; i++ {
		for _, c := range checkIDs {
			for r := 0; r < benchRunsPerCheck; r++ {
				seq++
				status := "healthy"
				if r%17 == 0 {
					status = "unhealthy"
				}
				batch = append(batch, []any{store.ProbeRunID(sysID(i), int64(seq)), c, sysID(i), status, 20 + r%50, result,
					t0.Add(-time.Duration(r) * 20 * time.Minute)})
				if len(batch) == benchCopyBatchRows {
					flush()
				}
			}
		}
	}
	flush()
	if _, err := e.pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	var n int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM health_check_runs").Scan(&n); err != nil || n != benchSystems*benchChecksPerSys*benchRunsPerCheck {
		b.Fatalf("seeded %d runs (%v)", n, err)
	}
	b.Logf("seeded %d systems and %d runs in %v", benchSystems, n, time.Since(start).Round(time.Second))
	return e
}

// measure runs req b.N times over HTTP and reports the latency percentiles.
func measure(b *testing.B, hc *http.Client, newReq func(i int) *http.Request) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := newReq(i)
		t := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		lat = append(lat, time.Since(t))
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkHealthReads (go test -run '^$' -bench HealthReads -benchtime 2000x ./server/):
// GET /systems/{id}/health and POST /health:bulk of all 1,000 systems, with 1M runs stored.
// Not run by default (benchmarks run only with -bench); seeding takes about a minute.
func BenchmarkHealthReads(b *testing.B) {
	e := seedBench(b)
	hs := e.serve()
	hc := hs.Client()
	ids := make([]string, benchSystems)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%04d", i)
	}
	b.Run("GET_health", func(b *testing.B) {
		measure(b, hc, func(i int) *http.Request {
			req, _ := http.NewRequest("GET", hs.URL+"/api/v1/systems/"+ids[i%benchSystems]+"/health", nil)
			return req
		})
	})
	b.Run("GET_health_with_token", func(b *testing.B) {
		measure(b, hc, func(i int) *http.Request {
			req, _ := http.NewRequest("GET", hs.URL+"/api/v1/systems/"+ids[i%benchSystems]+"/health", nil)
			req.Header.Set("Authorization", "Bearer "+e.tokens[tokStatus])
			return req
		})
	})
	body, _ := json.Marshal(map[string]any{"systemIds": ids})
	b.Run("POST_health_bulk_1000", func(b *testing.B) {
		measure(b, hc, func(int) *http.Request {
			req, _ := http.NewRequest("POST", hs.URL+"/api/v1/health:bulk", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			return req
		})
	})
}

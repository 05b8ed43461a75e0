package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// BenchmarkRecoveryAfterWorkerStop measures how long the entities of a worker stand still when
// the worker process dies (SIGKILL) or stops (SIGTERM) and a new one starts after an outage:
// the gap between consecutive runs of checks that run every second, p50 and max over all
// systems and stops, and the excess over the outage (gap − outage − 1 s interval). Run with:
//
//	go test ./tests -run '^$' -bench RecoveryAfterWorkerStop -benchtime 1x -timeout 30m
//
// CHECKFLOW_BENCH_STOPS sets the number of stops per scenario (default 5). Nothing about the
// timings is asserted; the benchmark fails only if runs stop for good or are stored twice.
func BenchmarkRecoveryAfterWorkerStop(b *testing.B) {
	stops := 5
	if n, err := strconv.Atoi(os.Getenv("CHECKFLOW_BENCH_STOPS")); err == nil && n > 0 {
		stops = n
	}
	for _, sc := range []struct {
		name   string
		signal os.Signal
		outage time.Duration
		// probeDelay makes the target answer slowly, so that the worker mostly dies while a
		// workflow task runs the probe's local activity (that task must time out first).
		probeDelay time.Duration
	}{
		{"sigkill_outage0s", syscall.SIGKILL, 0, 0},
		{"sigkill_outage1s", syscall.SIGKILL, time.Second, 0},
		{"sigkill_outage3s", syscall.SIGKILL, 3 * time.Second, 0},
		{"sigkill_outage1s_midprobe", syscall.SIGKILL, time.Second, 700 * time.Millisecond},
		{"sigterm_outage1s", syscall.SIGTERM, time.Second, 0},
	} {
		b.Run(sc.name, func(b *testing.B) {
			for range b.N {
				measureRecovery(b, sc.signal, sc.outage, sc.probeDelay, stops)
			}
		})
	}
}

const recoverySystems = 4

func measureRecovery(b *testing.B, sig os.Signal, outage, probeDelay time.Duration, stops int) {
	ctx := context.Background()
	dbURL := testutil.NewDatabase(b)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	queue := testutil.UniqueName(b)
	probes := queue + "-probes"
	entities := &entityclient.Client{Temporal: shared.temporal.Client, TaskQueue: queue, Options: workflows.EntityOptions{ProbeTaskQueue: probes}}
	target := newTargetFunc(b, func(w http.ResponseWriter, r *http.Request) {
		select { // a slow service, not a synchronization
		case <-time.After(probeDelay):
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	})

	var systems []string
	for i := range recoverySystems {
		id := fmt.Sprintf("recovery-%s-%d", queue[len(queue)-8:], i)
		if _, err := st.CreateSystem(ctx, store.SystemInput{ID: id, Name: id}); err != nil {
			b.Fatal(err)
		}
		cfg, _ := json.Marshal(map[string]any{"timeout": 2000})
		collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{"url": target.URL, "method": "GET", "timeout": 2000}}})
		c, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: id, StrategyID: "http", Config: cfg, Collectors: collectors, IntervalSeconds: 1})
		if err != nil {
			b.Fatal(err)
		}
		enabled := true
		if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: id, ConfigurationID: c.ID, Enabled: &enabled}); err != nil {
			b.Fatal(err)
		}
		systems = append(systems, id)
		b.Cleanup(func() {
			_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.SystemWorkflowID(id), "", "benchmark ended")
		})
	}
	runsAfter := func(system string, after time.Time) int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM health_check_runs WHERE system_id = $1 AND "timestamp" > $2`, system, after).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	// everyRan waits until every system has n runs after t.
	everyRan := func(what string, n int, after time.Time) {
		waitFor(b, 2*time.Minute, what, func() (bool, error) {
			for _, s := range systems {
				if runsAfter(s, after) < n {
					return false, nil
				}
			}
			return true, nil
		})
	}

	w := startWorkerProcess(b, dbURL, queue, probes)
	for _, s := range systems {
		if err := entities.ConfigChanged(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	everyRan("entities running", 3, time.Time{})

	var gaps, excess, restarts []time.Duration
	for i := range stops {
		// Let the entities settle into their cadence on the new worker (sticky, cached).
		everyRan("steady runs", 4, time.Now())
		stoppedAt := time.Now()
		if err := w.Process.Signal(sig); err != nil {
			b.Fatal(err)
		}
		_ = w.Wait()
		time.Sleep(outage) // the outage being measured, not a synchronization
		startAt := time.Now()
		w = startWorkerProcess(b, dbURL, queue, probes)
		readyAt := time.Now()
		everyRan("runs after the restart", 2, readyAt)
		restart, down := readyAt.Sub(startAt), readyAt.Sub(stoppedAt)
		for _, s := range systems {
			g := maxGap(b, pool, s, stoppedAt.Add(-3*time.Second))
			gaps = append(gaps, g)
			excess = append(excess, g-down-time.Second)
		}
		restarts = append(restarts, restart)
		b.Logf("stop %d (%v, outage %v): worker back after %v; gaps %v", i+1, sig, outage, down.Round(10*time.Millisecond), gaps[len(gaps)-recoverySystems:])
	}
	_ = w.Process.Signal(syscall.SIGTERM)
	_ = w.Wait()

	for _, s := range systems {
		var total, distinct int
		if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM health_check_runs WHERE system_id = $1`, s).Scan(&total, &distinct); err != nil {
			b.Fatal(err)
		}
		if total != distinct {
			b.Errorf("system %s: %d runs but %d distinct ids", s, total, distinct)
		}
	}
	b.ReportMetric(pct(gaps, 0.5).Seconds(), "gap-p50-s")
	b.ReportMetric(slices.Max(gaps).Seconds(), "gap-max-s")
	b.ReportMetric(pct(excess, 0.5).Seconds(), "excess-p50-s")
	b.ReportMetric(slices.Max(excess).Seconds(), "excess-max-s")
	b.ReportMetric(pct(restarts, 0.5).Seconds(), "restart-p50-s")
}

// maxGap is the longest time between consecutive runs of system since from.
func maxGap(tb testing.TB, pool *pgxpool.Pool, system string, from time.Time) time.Duration {
	tb.Helper()
	var secs float64
	err := pool.QueryRow(context.Background(), `
		SELECT coalesce(max(d), 0) FROM (
			SELECT extract(epoch FROM "timestamp" - lag("timestamp") OVER (ORDER BY "timestamp")) AS d
			FROM health_check_runs WHERE system_id = $1 AND "timestamp" >= $2) g`, system, from).Scan(&secs)
	if err != nil {
		tb.Fatal(err)
	}
	return time.Duration(secs * float64(time.Second))
}

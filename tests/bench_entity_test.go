package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// latencies collects durations from concurrent activities, split into the two halves of the
// measurement window (a growing backlog shows as a worse second half).
type latencies struct {
	mu          sync.Mutex
	from, until time.Time
	mid         time.Time
	first, last []time.Duration
}

func (l *latencies) add(at time.Time, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at.Before(l.from) || at.After(l.until) {
		return
	}
	if at.Before(l.mid) {
		l.first = append(l.first, d)
	} else {
		l.last = append(l.last, d)
	}
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEntityThroughput runs the SystemHealth entities of many systems against a local HTTP
// target on the embedded Temporal server (in-memory SQLite) and PostgreSQL, and reports the
// sustained run rate, CPU per 1,000 runs (this process: Temporal server, worker and target; not
// PostgreSQL), Temporal history events per run, start lag (probe start − due) and result →
// persisted latency. Run with:
//
//	go test ./tests -run '^$' -bench EntityThroughput -benchtime 1x -timeout 30m
//
// CHECKFLOW_BENCH_DURATION sets the measurement window (default 3m).
func BenchmarkEntityThroughput(b *testing.B) {
	window := 3 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("CHECKFLOW_BENCH_DURATION")); err == nil {
		window = d
	}
	for _, sc := range []struct {
		name            string
		systems, checks int
	}{
		{"100systems_x_10checks_every10s", 100, 10},
		{"1000systems_x_1check_every10s", 1000, 1},
	} {
		b.Run(sc.name, func(b *testing.B) {
			for range b.N {
				runEntityScenario(b, sc.systems, sc.checks, 10, window)
			}
		})
	}
}

func runEntityScenario(b *testing.B, systems, checksPer, interval int, window time.Duration) {
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
	target := newTargetFunc(b, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

	// The window is set once every entity runs (see below); until then nothing is recorded.
	far := time.Now().Add(24 * time.Hour)
	lag := &latencies{from: far, until: far, mid: far}
	persistLag := &latencies{from: far, until: far, mid: far}
	hooks := activities.Hooks{
		ProbeStarted: func(it workflows.ProbeItem, at time.Time) {
			if !it.DueAt.IsZero() {
				lag.add(at, at.Sub(it.DueAt))
			}
		},
		Persisted: func(req workflows.PersistRequest, applied bool, at time.Time) {
			for _, r := range req.Runs {
				end := r.ExecutedAt
				if r.LatencyMs != nil {
					end = end.Add(time.Duration(*r.LatencyMs) * time.Millisecond)
				}
				persistLag.add(at, at.Sub(end))
			}
		},
	}
	w, err := worker.Start(worker.Config{Client: shared.temporal.Client, Pool: pool, TaskQueue: queue, ProbeTaskQueue: probes,
		EntityOptions: workflows.EntityOptions{ProbeTaskQueue: probes}, Hooks: hooks, Logger: testutil.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	ents := &entityclient.Client{Temporal: shared.temporal.Client, TaskQueue: queue, Options: workflows.EntityOptions{ProbeTaskQueue: probes}}

	cfgJSON, _ := json.Marshal(map[string]any{"timeout": 5000})
	collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{"url": target.URL}}})
	var ids []string
	for i := range systems {
		id := fmt.Sprintf("bench-%04d-%s", i, queue[len(queue)-8:])
		if _, err := st.CreateSystem(ctx, store.SystemInput{ID: id, Name: id}); err != nil {
			b.Fatal(err)
		}
		for j := range checksPer {
			c, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: fmt.Sprintf("check %d", j), StrategyID: "http",
				Config: cfgJSON, Collectors: collectors, IntervalSeconds: interval})
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: id, ConfigurationID: c.ID}); err != nil {
				b.Fatal(err)
			}
		}
		ids = append(ids, id)
	}
	defer func() {
		for _, id := range ids {
			_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.SystemWorkflowID(id), "", "benchmark ended")
		}
	}()
	b.ResetTimer()
	for _, id := range ids {
		if err := ents.ConfigChanged(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	countRuns := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM health_check_runs`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	started := time.Now()
	waitFor(b, 10*time.Minute, "every system to run", func() (bool, error) {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(DISTINCT system_id) FROM health_check_runs`).Scan(&n)
		return n == systems, err
	})
	b.Logf("all %d entities running after %v", systems, time.Since(started).Round(time.Second))
	// One more interval for the start-up burst to settle, then the measurement window.
	from := time.Now().Add(time.Duration(interval) * time.Second)
	for _, l := range []*latencies{lag, persistLag} {
		l.mu.Lock()
		l.from, l.mid, l.until = from, from.Add(window/2), from.Add(window)
		l.mu.Unlock()
	}
	time.Sleep(time.Until(from)) // a fixed-length load test: the window is the measurement
	events0 := historyEventsOf(b, queue, ids)
	runs0, cpu0 := countRuns(), cpuTime()
	time.Sleep(window)
	runs1, cpu1 := countRuns(), cpuTime()
	b.StopTimer()
	events1 := historyEventsOf(b, queue, ids)

	runs := runs1 - runs0
	expected := float64(systems*checksPer) / float64(interval)
	rate := float64(runs) / window.Seconds()
	b.Logf("%d runs in %v (%.1f/s), CPU %.2f s per 1000 runs", runs, window, rate, (cpu1-cpu0).Seconds()/float64(max(runs, 1))*1000)
	events := historyEventsOf(b, queue, ids)
	total := countRuns()
	all := func(l *latencies) []time.Duration { return append(slices.Clone(l.first), l.last...) }
	b.ReportMetric(rate, "runs/s")
	b.ReportMetric(expected, "target-runs/s")
	b.ReportMetric((cpu1-cpu0).Seconds()/float64(max(runs, 1))*1000, "cpu-s/1000runs")
	b.ReportMetric(float64(events)/float64(max(total, 1)), "history-events/run")
	// In the window only (no start-up): what a run costs in the steady state.
	b.ReportMetric(float64(events1-events0)/float64(max(runs, 1)), "history-events/run-in-window")
	b.ReportMetric(float64(pct(all(lag), 0.5).Milliseconds()), "start-lag-p50-ms")
	b.ReportMetric(float64(pct(all(lag), 0.99).Milliseconds()), "start-lag-p99-ms")
	b.ReportMetric(float64(pct(lag.last, 0.99).Milliseconds()), "start-lag-p99-2nd-half-ms")
	b.ReportMetric(float64(pct(all(persistLag), 0.99).Milliseconds()), "persist-p99-ms")
	b.Logf("%d systems × %d checks @%ds: %d runs in %v (%.1f/s of %.1f/s), start lag p50 %v p99 %v (1st half %v, 2nd half %v), result→persisted p50 %v p99 %v, %d history events for %d runs",
		systems, checksPer, interval, runs, window, rate, expected, pct(all(lag), 0.5), pct(all(lag), 0.99), pct(lag.first, 0.99), pct(lag.last, 0.99),
		pct(all(persistLag), 0.5), pct(all(persistLag), 0.99), events, total)
}

// historyEventsOf sums the history events of the entities of ids (on task queue queue): their
// runs continued as new (from visibility) and their current runs.
func historyEventsOf(b *testing.B, queue string, ids []string) int64 {
	ctx := context.Background()
	var events int64
	var next []byte
	for {
		resp, err := shared.temporal.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf(`WorkflowType = %q AND ExecutionStatus = "ContinuedAsNew"`, workflows.SystemHealthWorkflow), NextPageToken: next, PageSize: 1000,
		})
		if err != nil {
			b.Fatalf("list continued-as-new runs: %v", err)
		}
		for _, e := range resp.Executions {
			// Closed runs (continued as new) from visibility; running ones are described below.
			if e.GetTaskQueue() == queue && e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				events += e.GetHistoryLength()
			}
		}
		if next = resp.NextPageToken; len(next) == 0 {
			break
		}
	}
	for _, id := range ids {
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		d, err := shared.temporal.Client.DescribeWorkflowExecution(dctx, workflows.SystemWorkflowID(id), "")
		cancel()
		if err != nil {
			b.Fatalf("describe %s: %v", id, err)
		}
		events += d.GetWorkflowExecutionInfo().GetHistoryLength()
	}
	return events
}

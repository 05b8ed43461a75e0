package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/server"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// runNowLoad is the outcome of a run-now load: latencies of the answered requests and counts by
// status class.
type runNowLoad struct {
	mu        sync.Mutex
	latencies []time.Duration
	byClass   map[string]int
	failures  []string // the first few 5xx and transport errors, for the log
}

func (l *runNowLoad) add(d time.Duration, status int, body []byte, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	class := "transport-error"
	if err == nil {
		class = strconv.Itoa(status/100) + "xx"
		l.latencies = append(l.latencies, d)
	}
	l.byClass[class]++
	if (err != nil || status >= 500) && len(l.failures) < 10 {
		if err != nil {
			l.failures = append(l.failures, err.Error())
		} else {
			l.failures = append(l.failures, fmt.Sprintf("%d after %v: %s", status, d.Round(time.Millisecond), body))
		}
	}
}

// benchEnvInt reads a positive integer from the environment, or def.
func benchEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkRunNowConcurrent (issue 17, acceptance 4): 50 concurrent clients call run-now
// (POST /api/v1/systems/{systemId}/checks/{checkId}/run, each request with its own
// Idempotency-Key) for 60 s against 5 systems × 2 HTTP checks on a local target, over real HTTP
// through the API, the embedded Temporal server, a worker and PostgreSQL. The entities are not
// started beforehand: the first requests start them concurrently with Update-with-Start. It
// reports p50/p90/p99/max latency, throughput and the answers by status class, and fails on any
// 5xx or transport error. Run with:
//
//	go test ./tests -run '^$' -bench RunNowConcurrent -benchtime 1x -timeout 10m
//
// CHECKFLOW_BENCH_RUNNOW_DURATION sets the load duration (default 60s), CHECKFLOW_BENCH_RUNNOW_CLIENTS
// the number of clients (default 50) and CHECKFLOW_BENCH_RUNNOW_SYSTEMS the number of systems
// (default 5).
func BenchmarkRunNowConcurrent(b *testing.B) {
	duration := time.Minute
	if d, err := time.ParseDuration(os.Getenv("CHECKFLOW_BENCH_RUNNOW_DURATION")); err == nil && d > 0 {
		duration = d
	}
	clients := benchEnvInt("CHECKFLOW_BENCH_RUNNOW_CLIENTS", 50)
	systems := benchEnvInt("CHECKFLOW_BENCH_RUNNOW_SYSTEMS", 5)
	const checksPer = 2
	for range b.N {
		runNowScenario(b, clients, systems, checksPer, duration)
	}
}

func runNowScenario(b *testing.B, clients, systems, checksPer int, duration time.Duration) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testutil.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	queue := testutil.UniqueName(b)
	probes := queue + "-probes"
	opts := workflows.EntityOptions{ProbeTaskQueue: probes}
	w, err := worker.Start(worker.Config{Client: shared.temporal.Client, Pool: pool, TaskQueue: queue, ProbeTaskQueue: probes,
		EntityOptions: opts, Logger: testutil.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	srv := server.New(server.Config{Pool: pool, Temporal: shared.temporal.Client, Logger: testutil.Logger(b), Version: "bench",
		Entities: &entityclient.Client{Temporal: shared.temporal.Client, TaskQueue: queue, Options: opts}})
	api := httptest.NewServer(srv.Handler())
	defer api.Close()
	token, _, err := st.CreateToken(ctx, "bench", []string{store.ScopeConfigManage})
	if err != nil {
		b.Fatal(err)
	}
	target := newTargetFunc(b, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

	cfgJSON, _ := json.Marshal(map[string]any{"timeout": 5000})
	collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{"url": target.URL}}})
	var paths []string
	var ids []string
	for i := range systems {
		id := fmt.Sprintf("runnow-%02d-%s", i, queue[len(queue)-8:])
		if _, err := st.CreateSystem(ctx, store.SystemInput{ID: id, Name: id}); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
		for j := range checksPer {
			c, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: fmt.Sprintf("check %d", j), StrategyID: "http",
				Config: cfgJSON, Collectors: collectors, IntervalSeconds: 10})
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: id, ConfigurationID: c.ID}); err != nil {
				b.Fatal(err)
			}
			paths = append(paths, api.URL+"/api/v1/systems/"+id+"/checks/"+c.ID+"/run")
		}
	}
	defer func() {
		for _, id := range ids {
			_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.SystemWorkflowID(id), "", "benchmark ended")
		}
	}()

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 2 * time.Minute}
	load := &runNowLoad{byClass: map[string]int{}}
	b.ResetTimer()
	start := time.Now()
	end := start.Add(duration)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(end); n++ {
				path := paths[(c+n)%len(paths)]
				req, err := http.NewRequest(http.MethodPost, path, nil)
				if err != nil {
					load.add(0, 0, nil, err)
					return
				}
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d-%d", c, n))
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					load.add(time.Since(t0), 0, nil, err)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				load.add(time.Since(t0), resp.StatusCode, body, err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	lat := slices.Clone(load.latencies)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	total := 0
	for _, n := range load.byClass {
		total += n
	}
	b.ReportMetric(ms(pct(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 0.90)), "p90-ms")
	b.ReportMetric(ms(pct(lat, 0.99)), "p99-ms")
	maxLat := pct(lat, 1)
	b.ReportMetric(ms(maxLat), "max-ms")
	b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
	for _, class := range []string{"2xx", "4xx", "5xx", "transport-error"} {
		b.ReportMetric(float64(load.byClass[class]), class)
	}
	b.Logf("%d clients × %v on %d systems × %d checks: %d requests (%.1f/s), %v; latency p50 %v p90 %v p99 %v max %v",
		clients, duration, systems, checksPer, total, float64(total)/elapsed.Seconds(), load.byClass,
		pct(lat, 0.5).Round(time.Millisecond), pct(lat, 0.9).Round(time.Millisecond), pct(lat, 0.99).Round(time.Millisecond),
		maxLat.Round(time.Millisecond))
	if load.byClass["5xx"] > 0 || load.byClass["transport-error"] > 0 {
		b.Fatalf("%d answers were 5xx and %d requests failed; first failures:\n%v", load.byClass["5xx"], load.byClass["transport-error"], load.failures)
	}
	if load.byClass["2xx"] == 0 {
		b.Fatal("no request succeeded")
	}
}

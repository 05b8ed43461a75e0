package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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

// BenchmarkHeartbeatPings (issue 16, acceptance 4): heartbeat pings at a steady rate (default
// 1,000/s for 30 s; open loop, paced every 10 ms) over real HTTP to the API, for 100 heartbeat
// checks spread over 10 systems (period 60 s), through the embedded Temporal server, the
// systems' entities and PostgreSQL. It reports the rate achieved, ping latency (the answer comes
// once the ping's signal was accepted), how long after the load every ping was stored as a run,
// and CPU per ping: this process (API, worker, Temporal server) and PostgreSQL apart. It fails
// when a ping is refused or lost. Run with:
//
//	go test ./tests -run '^$' -bench HeartbeatPings -benchtime 1x -timeout 10m
//
// CHECKFLOW_BENCH_PINGS_RATE, _DURATION, _CHECKS and _SYSTEMS change the load.
func BenchmarkHeartbeatPings(b *testing.B) {
	rate := benchEnvInt("CHECKFLOW_BENCH_PINGS_RATE", 1000)
	checksN := benchEnvInt("CHECKFLOW_BENCH_PINGS_CHECKS", 100)
	systemsN := benchEnvInt("CHECKFLOW_BENCH_PINGS_SYSTEMS", 10)
	duration := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("CHECKFLOW_BENCH_PINGS_DURATION")); err == nil && d > 0 {
		duration = d
	}
	for range b.N {
		pingScenario(b, rate, checksN, systemsN, duration)
	}
}

func pingScenario(b *testing.B, rate, checksN, systemsN int, duration time.Duration) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testutil.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	queue := testutil.UniqueName(b)
	w, err := worker.Start(worker.Config{Client: shared.temporal.Client, Pool: pool, TaskQueue: queue, ProbeTaskQueue: queue + "-probes", Logger: testutil.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	box := testutil.SecretBox(b)
	counted := &pingCountingEntities{Client: &entityclient.Client{Temporal: shared.temporal.Client, TaskQueue: queue}}
	srv := server.New(server.Config{Pool: pool, Temporal: shared.temporal.Client, Logger: testutil.Logger(b), Version: "bench", SecretBox: box,
		Entities: counted})
	api := httptest.NewServer(srv.Handler())
	defer api.Close()
	token, _, err := st.CreateToken(ctx, "bench", []string{store.ScopeAdmin})
	if err != nil {
		b.Fatal(err)
	}
	admin := rawClient{base: api.URL, token: token}
	var systems []string
	for i := range systemsN {
		id := fmt.Sprintf("pings-%02d-%s", i, queue[len(queue)-8:])
		systems = append(systems, id)
		admin.mustDo(b, "POST", "/api/v1/systems", fmt.Sprintf(`{"id":%q,"name":%q}`, id, id), 201, nil)
	}
	defer func() {
		for _, id := range systems {
			_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.SystemWorkflowID(id), "", "benchmark ended")
		}
	}()
	var urls []string
	for i := range checksN {
		var c struct {
			ID      string `json:"id"`
			PingURL string `json:"pingUrl"`
		}
		admin.mustDo(b, "POST", "/api/v1/checks", fmt.Sprintf(`{"name":"job %d","strategyId":"heartbeat","intervalSeconds":60,"config":{"periodSeconds":60}}`, i), 201, &c)
		admin.mustDo(b, "PUT", "/api/v1/systems/"+systems[i%systemsN]+"/checks/"+c.ID, `{"enabled":true}`, 201, nil)
		urls = append(urls, c.PingURL)
	}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}, Timeout: time.Minute}
	jobs := make(chan string, rate) // a second of backlog; more is the load not being kept up with
	var sent, ok, refused, late atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range 1024 {
		wg.Go(func() {
			for u := range jobs {
				t0 := time.Now()
				resp, err := hc.Post(u, "text/plain", nil)
				d := time.Since(t0)
				if err != nil {
					refused.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					refused.Add(1)
					continue
				}
				ok.Add(1)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	cpu0, pg0 := cpuTime(), postgresCPU()
	b.ResetTimer()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	n := 0
	for now := range tick.C {
		if now.Sub(start) >= duration {
			break
		}
		// Catch up with the schedule (a tick that came late sends what it owes).
		due := int(float64(rate) * now.Sub(start).Seconds())
		for ; n < due; n++ {
			select {
			case jobs <- urls[n%len(urls)]:
				sent.Add(1)
			default:
				late.Add(1)
			}
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	loadEnd := time.Now()
	want := ok.Load()
	var stored int64
	waitFor(b, 5*time.Minute, "every accepted ping stored as a run", func() (bool, error) {
		err := pool.QueryRow(ctx, `SELECT count(*) FROM health_check_runs`).Scan(&stored)
		return stored >= want, err
	})
	drain := time.Since(loadEnd)
	cpu, pg := cpuTime()-cpu0, postgresCPU()-pg0
	b.StopTimer()

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(want)/elapsed.Seconds(), "pings/s")
	b.ReportMetric(ms(pct(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 0.99)), "p99-ms")
	b.ReportMetric(drain.Seconds(), "drain-s")
	b.ReportMetric(float64(want)/float64(max(1, counted.signals.Load())), "pings/signal")
	b.ReportMetric(ms(cpu)/float64(want), "cpu-ms/ping")
	b.ReportMetric(ms(pg)/float64(want), "pg-cpu-ms/ping")
	b.Logf("%d pings/s target for %v over %d checks in %d systems: %d accepted (%.0f/s), %d refused, %d not sent (behind schedule); latency p50 %v p99 %v max %v; %d signals; all stored %v after the load; CPU per ping %.3f ms here + %.3f ms PostgreSQL",
		rate, duration, checksN, systemsN, want, float64(want)/elapsed.Seconds(), refused.Load(), late.Load(),
		pct(lat, 0.5).Round(time.Millisecond), pct(lat, 0.99).Round(time.Millisecond), pct(lat, 1).Round(time.Millisecond),
		counted.signals.Load(), drain.Round(time.Millisecond), ms(cpu)/float64(want), ms(pg)/float64(want))
	if refused.Load() > 0 {
		b.Fatalf("%d pings refused", refused.Load())
	}
	if stored != want {
		b.Fatalf("%d runs stored for %d accepted pings", stored, want)
	}
}

// rawClient calls the API without the contract validation of apitest (benchmarks set up many
// objects quickly).
type rawClient struct{ base, token string }

func (c rawClient) mustDo(tb testing.TB, method, path, body string, status int, out any) {
	tb.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		tb.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// pingCountingEntities counts the signals that carry pings.
type pingCountingEntities struct {
	*entityclient.Client
	signals atomic.Int64
}

func (c *pingCountingEntities) SendResults(ctx context.Context, systemID string, rs []workflows.CheckResult) error {
	c.signals.Add(1)
	return c.Client.SendResults(ctx, systemID, rs)
}

package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// BenchmarkNotificationDelivery (issue 10, acceptance 7) measures the notification path from a
// committed transition (its transitioned_at) to the webhook request at a local receiver:
//   - single: one system flips 30 times, one transition at a time (p50/p99 of an idle system);
//   - burst: CHECKFLOW_BENCH_SYSTEMS systems (default 1000) turn degraded at once (an external
//     failing result each, sent 32 at a time): all notifications delivered, latency p50/p99
//     and throughput.
//
// go test ./tests -run '^$' -bench NotificationDelivery -benchtime 1x
func BenchmarkNotificationDelivery(b *testing.B) {
	b.Run("single", func(b *testing.B) {
		for range b.N {
			runNotifyScenario(b, 1, 30)
		}
	})
	b.Run("burst", func(b *testing.B) {
		for range b.N {
			runNotifyScenario(b, benchEnvInt("CHECKFLOW_BENCH_SYSTEMS", 1000), 1)
		}
	})
}

func runNotifyScenario(b *testing.B, systems, flips int) {
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

	type arrival struct {
		system string
		at     time.Time
	}
	var mu sync.Mutex
	var arrivals []arrival
	got := make(chan struct{}, systems*flips*2+16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			System struct {
				ID string `json:"id"`
			} `json:"system"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		arrivals = append(arrivals, arrival{m.System.ID, time.Now()})
		mu.Unlock()
		got <- struct{}{}
	}))
	defer rcv.Close()
	target := newTargetFunc(b, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

	w, err := worker.Start(worker.Config{Client: shared.temporal.Client, Pool: pool, TaskQueue: queue, ProbeTaskQueue: probes,
		EntityOptions: workflows.EntityOptions{ProbeTaskQueue: probes}, Logger: testutil.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	ents := &entityclient.Client{Temporal: shared.temporal.Client, TaskQueue: queue, Options: workflows.EntityOptions{ProbeTaskQueue: probes}}
	hookCfg, _ := json.Marshal(map[string]any{"url": rcv.URL})
	if _, err := st.CreateChannel(ctx, store.ChannelInput{Name: "bench", Type: "webhook", Config: hookCfg, Enabled: true}); err != nil {
		b.Fatal(err)
	}

	// One check per system, first probed at a point within the hour: the transitions come from
	// external results.
	cfgJSON, _ := json.Marshal(map[string]any{"timeout": 5000})
	collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{"url": target.URL}}})
	th := consecutiveThresholds(1, 1000)
	ids := make([]string, systems)
	checks := map[string]string{}
	for i := range systems {
		id := fmt.Sprintf("nb-%04d-%s", i, queue[len(queue)-8:])
		ids[i] = id
		if _, err := st.CreateSystem(ctx, store.SystemInput{ID: id, Name: id}); err != nil {
			b.Fatal(err)
		}
		c, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: "check", StrategyID: "http", Config: cfgJSON, Collectors: collectors, IntervalSeconds: 3600})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: id, ConfigurationID: c.ID, StateThresholds: store.Some(th)}); err != nil {
			b.Fatal(err)
		}
		checks[id] = c.ID
	}
	defer func() {
		for _, id := range ids {
			_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.SystemWorkflowID(id), "", "benchmark ended")
			_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.NotifierWorkflowID(id), "", "benchmark ended")
		}
	}()
	for _, id := range ids {
		if err := ents.ConfigChanged(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	// Every entity stored its baseline view (healthy before the first run, design.md invariant 5).
	waitFor(b, 10*time.Minute, "every system's baseline view", func() (bool, error) {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM system_health_state WHERE status = 'healthy'`).Scan(&n)
		return n == systems, err
	})

	send := func(id string, n int, status health.Status) error {
		return ents.SendResult(ctx, id, workflows.CheckResult{ID: fmt.Sprintf("bench-%d", n), ConfigurationID: checks[id], Status: status, ExecutedAt: time.Now()})
	}
	wait := func(n int) {
		deadline := time.After(10 * time.Minute)
		for range n {
			select {
			case <-got:
			case <-deadline:
				b.Fatalf("only some of %d notifications arrived", n)
			}
		}
	}
	b.ResetTimer()
	start := time.Now()
	if systems == 1 {
		for i := range flips * 2 {
			status := health.Unhealthy
			if i%2 == 1 {
				status = health.Healthy
			}
			if err := send(ids[0], i, status); err != nil {
				b.Fatal(err)
			}
			wait(1)
		}
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		errs := make(chan error, len(ids))
		for _, id := range ids {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := send(id, 0, health.Unhealthy); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		wait(systems)
	}
	b.StopTimer()
	elapsed := time.Since(start)

	// Latency: arrival − the transition's commit time, matched in order per system.
	rows, err := pool.Query(ctx, `SELECT system_id, transitioned_at FROM health_check_state_transitions
		WHERE from_status IS NOT NULL ORDER BY system_id, transitioned_at`)
	if err != nil {
		b.Fatal(err)
	}
	trans := map[string][]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			b.Fatal(err)
		}
		trans[id] = append(trans[id], at)
	}
	rows.Close()
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]int{}
	var lat []time.Duration
	first, last := time.Time{}, time.Time{}
	for _, a := range arrivals {
		i := seen[a.system]
		seen[a.system]++
		ts := trans[a.system]
		if i >= len(ts) {
			b.Fatalf("system %s: %d notifications for %d transitions", a.system, i+1, len(ts))
		}
		lat = append(lat, a.at.Sub(ts[i]))
		if first.IsZero() || ts[i].Before(first) {
			first = ts[i]
		}
		if a.at.After(last) {
			last = a.at
		}
	}
	b.ReportMetric(float64(pct(lat, 0.50).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(pct(lat, 0.99).Milliseconds()), "p99-ms")
	b.ReportMetric(float64(len(lat))/last.Sub(first).Seconds(), "notifications/s")
	b.Logf("%d systems, %d notifications in %v: transition → webhook p50 %v, p99 %v, max %v; %.1f notifications/s from the first transition to the last arrival",
		systems, len(lat), elapsed.Round(time.Millisecond), pct(lat, 0.5), pct(lat, 0.99), pct(lat, 1), float64(len(lat))/last.Sub(first).Seconds())
}

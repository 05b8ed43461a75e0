package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// postgresCPU is the CPU time of every PostgreSQL process on this machine (from /proc; 100 Hz
// clock ticks), to count the database's share of a benchmark run alone.
func postgresCPU() time.Duration {
	var ticks int64
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + k
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// BenchmarkAutomations (issue 13, acceptance 5): trigger events committed to the outbox at a
// steady rate go through 100 automations — each with a CEL filter (its system, unhealthy runs
// only) and a window gate (2 in 1 minute, refire every) and a webhook action to a local receiver
// — by the outbox consumer (AutomationConsumer: CEL, then a signal to the automation's workflow),
// the automation workflows (occurrence, gate, action activity) and the webhook. It reports the
// events and fires per second it sustained, CPU per event (this process: consumer, worker and the
// embedded Temporal server; and every PostgreSQL process of the machine — run it alone) and the
// latency from an event's commit to its action's webhook arriving. Run with:
//
//	go test ./tests -run '^$' -bench Automations -benchtime 1x -timeout 30m
//
// CHECKFLOW_BENCH_AUTO_EVENTS_PER_MIN (10000), _SECONDS (60), _AUTOMATIONS (100), _DISPATCHERS (4).
func BenchmarkAutomations(b *testing.B) {
	perMin, secs := benchEnvInt("CHECKFLOW_BENCH_AUTO_EVENTS_PER_MIN", 10000), benchEnvInt("CHECKFLOW_BENCH_AUTO_SECONDS", 60)
	autos, dispatchers := benchEnvInt("CHECKFLOW_BENCH_AUTO_AUTOMATIONS", 100), benchEnvInt("CHECKFLOW_BENCH_AUTO_DISPATCHERS", 4)
	for range b.N {
		runAutomationBench(b, perMin, secs, autos, dispatchers)
	}
}

func runAutomationBench(b *testing.B, perMin, secs, autos, dispatchers int) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testutil.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	queue := testutil.UniqueName(b)

	var mu sync.Mutex
	committed := map[string]time.Time{} // event key → commit
	var lat []time.Duration
	var fires atomic.Int64
	rcv := newTargetFunc(b, func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		key := r.Header.Get(notify.HeaderDelivery) // <event key>:<automation>:<index>
		parts := strings.Split(key, ":")
		if len(parts) >= 2 {
			mu.Lock()
			if c, ok := committed[strings.Join(parts[:len(parts)-2], ":")]; ok {
				lat = append(lat, at.Sub(c))
			}
			mu.Unlock()
		}
		fires.Add(1)
		w.WriteHeader(http.StatusOK)
	})

	// The consumer is called here (no entities produce events in this benchmark); the worker
	// runs the automation workflows and their activities.
	w, err := worker.Start(worker.Config{Client: shared.temporal.Client, Pool: pool, TaskQueue: queue, ProbeTaskQueue: queue + "-probes",
		Consumers: []activities.Consumer{}, Logger: testutil.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	ents := &entityclient.Client{Temporal: shared.temporal.Client, TaskQueue: queue}
	compiler, err := automation.NewCompiler()
	if err != nil {
		b.Fatal(err)
	}
	consumer := &activities.AutomationConsumer{Store: st, Compiler: compiler, Signal: ents.AutomationEvent}

	systems := make([]string, autos)
	var ids []string
	for i := range autos {
		systems[i] = fmt.Sprintf("auto-%03d-%s", i, queue[len(queue)-8:])
		if _, err := st.CreateSystem(ctx, store.SystemInput{ID: systems[i], Name: systems[i]}); err != nil {
			b.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("a%d", i),
			"trigger": map[string]any{"event": health.EventCheckFailed,
				"filter": fmt.Sprintf(`trigger.payload.systemId == %q && trigger.payload.status == "unhealthy"`, systems[i]),
				"window": map[string]any{"count": 2, "minutes": 1}},
			"actions": []any{map[string]any{"type": "webhook", "config": map[string]any{"url": rcv.URL}}}})
		spec, err := automation.Parse(body)
		if err != nil {
			b.Fatal(err)
		}
		a, err := st.CreateAutomation(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if err := ents.AutomationChanged(ctx, a.ID); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	defer func() {
		for _, id := range ids {
			_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.AutomationWorkflowID(id), "", "benchmark ended")
		}
	}()

	// Events: system k % autos, every other round unhealthy (matches its automation's filter).
	events := make(chan store.Event, 4096)
	var consumed, matched atomic.Int64
	var wg sync.WaitGroup
	for range dispatchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range events {
				if err := consumer.Consume(ctx, ev); err != nil {
					b.Errorf("consume %s: %v", ev.IdempotencyKey, err)
				}
				consumed.Add(1)
			}
		}()
	}
	cpu0, pg0, start := cpuTime(), postgresCPU(), time.Now()
	every := time.Minute / time.Duration(perMin)
	total := perMin * secs / 60
	tick := time.NewTicker(every)
	for k := range total {
		<-tick.C
		sys := systems[k%autos]
		status := health.Degraded
		if (k/autos)%2 == 0 {
			status = health.Unhealthy
			matched.Add(1)
		}
		key := fmt.Sprintf("%s:%d:%s", sys, k, health.EventCheckFailed)
		payload := map[string]any{"systemId": sys, "configurationId": "00000000-0000-0000-0000-000000000001", "status": string(status),
			"timestamp": health.FormatTimestamp(time.Now())}
		if _, err := st.InsertEvent(ctx, sys, health.EventCheckFailed, key, payload); err != nil {
			b.Fatal(err)
		}
		at := time.Now()
		mu.Lock()
		committed[key] = at
		mu.Unlock()
		raw, _ := json.Marshal(payload)
		events <- store.Event{SystemID: sys, Seq: int64(k), Type: health.EventCheckFailed, Payload: raw, IdempotencyKey: key, CreatedAt: at}
	}
	tick.Stop()
	close(events)
	wg.Wait()
	generated := time.Since(start)
	// Every matched event after the first of its system in the window fires: wait for the fires
	// to stop arriving.
	last, lastN := time.Now(), fires.Load()
	for time.Since(last) < 5*time.Second && time.Since(start) < generated+5*time.Minute {
		time.Sleep(200 * time.Millisecond) // polling a counter of an external receiver
		if n := fires.Load(); n != lastN {
			last, lastN = time.Now(), n
		}
	}
	elapsed := time.Since(start)
	cpu, pg := cpuTime()-cpu0, postgresCPU()-pg0
	mu.Lock()
	l := append([]time.Duration(nil), lat...)
	mu.Unlock()
	n := float64(consumed.Load())
	b.ReportMetric(n/generated.Seconds(), "events/s")
	b.ReportMetric(float64(matched.Load())/generated.Seconds(), "matched/s")
	b.ReportMetric(float64(fires.Load()), "fires")
	b.ReportMetric(float64(cpu.Microseconds())/1000/n, "cpu-ms/event")
	b.ReportMetric(float64(pg.Microseconds())/1000/n, "pg-cpu-ms/event")
	b.ReportMetric(float64(pct(l, 0.5).Milliseconds()), "action-p50-ms")
	b.ReportMetric(float64(pct(l, 0.99).Milliseconds()), "action-p99-ms")
	b.ReportMetric(float64(pct(l, 1).Milliseconds()), "action-max-ms")
	b.Logf("%d events in %v (%d matched), %d fires; drained after %v; CPU %v (process) + %v (PostgreSQL)",
		int(n), generated.Round(time.Millisecond), matched.Load(), fires.Load(), elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), pg.Round(time.Millisecond))
}

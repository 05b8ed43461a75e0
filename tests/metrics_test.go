package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/metrics"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/server"
	"github.com/checkflow/checkflow/workflows"
)

// strategyIDs are the check registry's strategy ids (the run counters' closed set).
func strategyIDs() []string { return metrics.StrategyIDs(checks.NewRegistry()) }

// scrapeMetrics GETs url and parses it with the Prometheus text parser.
func scrapeMetrics(t testing.TB, c *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s = %d %s: %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// series returns the metric of fam with exactly the given labels (nil when absent).
func series(fam *dto.MetricFamily, labels map[string]string) *dto.Metric {
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		ok := true
		for _, lp := range m.GetLabel() {
			ok = ok && labels[lp.GetName()] == lp.GetValue()
		}
		if ok {
			return m
		}
	}
	return nil
}

// TestMetricsAfterAFailingRun: the API's /metrics (Prometheus text format) shows a check's
// status gauge go from 0 (healthy) to 2 (unhealthy) and the failed-runs counter
// (checkflow_check_runs_total{status="unhealthy"}) increase when its target starts failing;
// the apply lag, the outbox backlog and the Temporal SDK's own metrics are served beside them.
// The probes run on a probe worker of a location built with Prober.Metrics and a client with
// the registry's SDK metrics handler, the persists report through Hooks.Persisted.
func TestMetricsAfterAFailingRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := metrics.New(metrics.Options{Strategies: strategyIDs(), StoreCacheTTL: -1, Logger: testutil.Logger(t)})
	s := newStackWith(t, stackOptions{hooks: activities.Hooks{Persisted: reg.ObservePersisted}})

	// The location's probe worker: counts runs and probe durations, and reports the SDK's metrics.
	const location = "metrics"
	mc, err := client.NewClientFromExisting(shared.temporal.Client, client.Options{MetricsHandler: reg.TemporalHandler()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mc.Close)
	pw := sdkworker.New(mc, s.probes+"-"+location, sdkworker.Options{})
	prober := &activities.Prober{Checks: checks.NewRegistry(), Metrics: reg}
	pw.RegisterActivityWithOptions(prober.Probe, activity.RegisterOptions{Name: workflows.ActivityProbe})
	if err := pw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pw.Stop)

	api := server.New(server.Config{Pool: s.pool, Temporal: shared.temporal.Client, Entities: s.entities, Logger: s.opts.logger, Version: "e2e"},
		server.WithMetrics(reg))
	hs := httptest.NewServer(api.Handler())
	t.Cleanup(hs.Close)
	url := hs.URL + "/metrics"

	tg := newTarget(t)
	sys := s.system(t, "metrics")
	cfg, _ := json.Marshal(map[string]any{"timeout": 2000})
	collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{"url": tg.srv.URL, "method": "GET", "timeout": 2000}}})
	c, err := s.store.CreateConfiguration(ctx, store.ConfigurationInput{Name: "Payments API (free text)", StrategyID: "http", Config: cfg, Collectors: collectors, IntervalSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	on, locs := true, []string{location}
	if _, _, err := s.store.Associate(ctx, store.AssociateInput{SystemID: sys, ConfigurationID: c.ID, Enabled: &on, Locations: &locs}); err != nil {
		t.Fatal(err)
	}
	if err := s.entities.ConfigChanged(ctx, sys); err != nil {
		t.Fatal(err)
	}
	checkLabels := map[string]string{"system_id": sys, "check_id": c.ID}
	failed := map[string]string{"strategy": "http", "status": string(health.Unhealthy)}
	healthy := map[string]string{"strategy": "http", "status": string(health.Healthy)}

	// Healthy first: the gauge reads 0 and healthy runs are counted.
	var before map[string]*dto.MetricFamily
	waitFor(t, 30*time.Second, "the check's status gauge to read healthy", func() (bool, error) {
		before = scrapeMetrics(t, hs.Client(), url)
		m := series(before[metrics.NameCheckStatus], checkLabels)
		return m != nil && m.GetGauge().GetValue() == 0 && series(before[metrics.NameCheckRuns], healthy).GetCounter().GetValue() > 0, nil
	})
	failedBefore := series(before[metrics.NameCheckRuns], failed)
	if failedBefore == nil {
		t.Fatalf("%s%v missing before the first failure (it must start at 0)", metrics.NameCheckRuns, failed)
	}
	if v := series(before[metrics.NameSystemStatus], map[string]string{"system_id": sys}); v == nil || v.GetGauge().GetValue() != 0 {
		t.Fatalf("%s{%s} = %v, want 0", metrics.NameSystemStatus, sys, v)
	}

	// The target fails: the check turns unhealthy (after its 5th failing run).
	tg.code.Store(http.StatusInternalServerError)
	s.waitStatus(t, sys, health.Unhealthy, 40*time.Second)
	after := scrapeMetrics(t, hs.Client(), url)
	if m := series(after[metrics.NameCheckStatus], checkLabels); m == nil || m.GetGauge().GetValue() != 2 {
		t.Fatalf("%s%v = %v after the failing runs, want 2 (unhealthy)", metrics.NameCheckStatus, checkLabels, m)
	}
	if m := series(after[metrics.NameSystemStatus], map[string]string{"system_id": sys}); m == nil || m.GetGauge().GetValue() != 2 {
		t.Fatalf("%s{%s} = %v, want 2 (unhealthy)", metrics.NameSystemStatus, sys, m)
	}
	gotFailed := series(after[metrics.NameCheckRuns], failed).GetCounter().GetValue()
	if gotFailed-failedBefore.GetCounter().GetValue() < 5 {
		t.Fatalf("failed runs went %v → %v, want at least 5 more (unhealthy after the 5th failure)", failedBefore.GetCounter().GetValue(), gotFailed)
	}
	if n := series(after[metrics.NameProbeDuration], map[string]string{"strategy": "http"}).GetHistogram().GetSampleCount(); uint64(gotFailed) > n {
		t.Fatalf("%d probe durations for %v failed runs", n, gotFailed)
	}
	// Every stored run was measured from its probe's end to its commit.
	if h := series(after[metrics.NameApplyLag], map[string]string{}).GetHistogram(); h.GetSampleCount() == 0 || h.GetSampleSum() <= 0 {
		t.Fatalf("%s count/sum = %d/%v, want measured runs", metrics.NameApplyLag, h.GetSampleCount(), h.GetSampleSum())
	}
	for _, name := range []string{metrics.NameOutboxBacklog, metrics.NameOutboxOldestAge, metrics.NameStoreUp} {
		if series(after[name], map[string]string{}) == nil {
			t.Errorf("%s missing", name)
		}
	}
	if v := series(after[metrics.NameStoreUp], map[string]string{}).GetGauge().GetValue(); v != 1 {
		t.Errorf("%s = %v, want 1", metrics.NameStoreUp, v)
	}
	// The Temporal SDK's metrics of the probe worker's client (activity executions at least).
	var sdkFamilies []string
	for name := range after {
		if strings.HasPrefix(name, "temporal_") {
			sdkFamilies = append(sdkFamilies, name)
		}
	}
	if after["temporal_activity_execution_latency_seconds"] == nil {
		t.Fatalf("temporal_activity_execution_latency_seconds missing; SDK families: %v", sdkFamilies)
	}
	// No label of any checkflow metric carries the check's name.
	for name, f := range after {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), "Payments") {
					t.Errorf("%s has the free-text label %s=%q", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

// TestMetricsLabelCardinalityWith1000Systems: with 1,000 systems of two checks each (seeded
// through the store API, with free-text names), the status gauges have exactly one series per
// system and per assignment, every other checkflow metric a small fixed number, every label
// value is an id or a member of a closed set (no names), and a deleted system's series are gone
// at the next scrape.
func TestMetricsLabelCardinalityWith1000Systems(t *testing.T) {
	t.Parallel()
	const systems = 1000
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testutil.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := store.New(pool)

	var checkIDs []string
	names := []string{"Checkout — EU (primary) #1", "Search: slow queries? yes/no"}
	for _, n := range names {
		c, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: n, StrategyID: "http", Config: json.RawMessage(`{"timeout":2000}`),
			Collectors:      json.RawMessage(`[{"id":"req","collectorId":"request","config":{"url":"http://127.0.0.1:1/","method":"GET"}}]`),
			IntervalSeconds: 60})
		if err != nil {
			t.Fatal(err)
		}
		checkIDs = append(checkIDs, c.ID)
	}
	sysID := func(i int) string { return fmt.Sprintf("card-%04d", i) }
	want := map[string]health.Status{} // system → status
	seed := func(i int) error {
		id := sysID(i)
		if _, err := st.CreateSystem(ctx, store.SystemInput{ID: id, Name: fmt.Sprintf("Team %d's shop, \"quoted\" & spaced", i)}); err != nil {
			return err
		}
		on := true
		for _, c := range checkIDs {
			if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: id, ConfigurationID: c, Enabled: &on}); err != nil {
				return err
			}
		}
		second := health.Healthy
		switch {
		case i%10 == 0:
			second = health.Unhealthy
		case i%10 == 1:
			second = health.Degraded
		}
		view := &health.View{Status: health.Healthy, HealthyChecks: 2, TotalChecks: 2}
		if second != health.Healthy {
			view = &health.View{Status: second, HealthyChecks: 1, TotalChecks: 2}
		}
		_, err := st.Persist(ctx, store.PersistInput{SystemID: id, Seq: 1, At: time.Now().UTC(), View: view,
			Checks: []store.CheckState{{ConfigurationID: checkIDs[0], Status: health.Healthy, RunsConsidered: 1}, {ConfigurationID: checkIDs[1], Status: second, RunsConsidered: 1}}})
		return err
	}
	// Seed with a few connections at once.
	var wg sync.WaitGroup
	errs := make(chan error, systems)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				if err := seed(i); err != nil {
					errs <- fmt.Errorf("seed %s: %w", sysID(i), err)
				}
			}
		})
	}
	for i := range systems {
		next <- i
		switch {
		case i%10 == 0:
			want[sysID(i)] = health.Unhealthy
		case i%10 == 1:
			want[sysID(i)] = health.Degraded
		default:
			want[sysID(i)] = health.Healthy
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A maintenance window over ten systems and a failed delivery (closed-set labels).
	var inMaintenance []string
	for i := range 10 {
		inMaintenance = append(inMaintenance, sysID(i))
	}
	if _, err := st.CreateMaintenance(ctx, store.MaintenanceInput{Title: "DB upgrade (free text)", SystemIDs: inMaintenance,
		StartsAt: time.Now().Add(-time.Hour), EndsAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ch, err := st.CreateChannel(ctx, store.ChannelInput{Name: "Ops hook (free text)", Type: "webhook", Config: json.RawMessage(`{"url":"http://127.0.0.1:9/hook"}`), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateDeliveries(ctx, []store.DeliveryInput{{ID: "ev-1:" + ch.ID, ChannelID: ch.ID, SystemID: sysID(0), Event: "escalation", Payload: json.RawMessage(`{"text":"free text"}`)}}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordDeliveryError(ctx, "ev-1:"+ch.ID, "connection refused (free text)", time.Now(), true); err != nil {
		t.Fatal(err)
	}

	reg := metrics.New(metrics.Options{Strategies: strategyIDs(), StoreCacheTTL: -1, Logger: testutil.Logger(t)})
	api := server.New(server.Config{Pool: pool, Logger: testutil.Logger(t), Version: "e2e"}, server.WithMetrics(reg))
	hs := httptest.NewServer(api.Handler())
	t.Cleanup(hs.Close)
	fams := scrapeMetrics(t, hs.Client(), hs.URL+"/metrics")

	assignments := systems * len(checkIDs)
	// Exact series counts of the per-entity gauges …
	for name, n := range map[string]int{
		metrics.NameCheckStatus:       assignments,
		metrics.NameSystemStatus:      systems,
		metrics.NameSystemMaintenance: systems,
	} {
		if got := len(fams[name].GetMetric()); got != n {
			t.Errorf("%s has %d series, want %d", name, got, n)
		}
	}
	// … and a fixed bound on every other checkflow metric, whatever the number of systems.
	strategies := len(strategyIDs())
	bounds := map[string]int{
		metrics.NameCheckRuns:              (strategies + 1) * 3,
		metrics.NameProbeDuration:          strategies + 1,
		metrics.NameApplyLag:               1,
		metrics.NameJobDuration:            5,
		metrics.NameOutboxBacklog:          1,
		metrics.NameOutboxOldestAge:        1,
		metrics.NameNotificationDeliveries: 6 * 6 * 3,   // channel types × events × statuses
		metrics.NameDeliveryAttempts:       (6 + 1) * 3, // channel types (and other) × outcomes
		metrics.NameStoreUp:                1,
		metrics.NameStoreScrapeDuration:    1,
	}
	total := 0
	for name, f := range fams {
		if !strings.HasPrefix(name, "checkflow_") {
			continue
		}
		total += len(f.GetMetric())
		switch name {
		case metrics.NameCheckStatus, metrics.NameSystemStatus, metrics.NameSystemMaintenance:
			continue
		}
		b, ok := bounds[name]
		if !ok {
			t.Errorf("unexpected metric %s (no cardinality bound known)", name)
			continue
		}
		if len(f.GetMetric()) > b {
			t.Errorf("%s has %d series, bound %d", name, len(f.GetMetric()), b)
		}
	}
	if limit := assignments + 2*systems + 200; total > limit {
		t.Errorf("%d checkflow series for %d systems and %d assignments, want ≤ %d", total, systems, assignments, limit)
	}

	// Values: the persisted statuses, the window, the failed delivery.
	for id, status := range want {
		m := series(fams[metrics.NameSystemStatus], map[string]string{"system_id": id})
		if m == nil || m.GetGauge().GetValue() != float64(status.Severity()) {
			t.Fatalf("%s{%s} = %v, want %d (%s)", metrics.NameSystemStatus, id, m, status.Severity(), status)
		}
	}
	if m := series(fams[metrics.NameCheckStatus], map[string]string{"system_id": sysID(10), "check_id": checkIDs[1]}); m == nil || m.GetGauge().GetValue() != 2 {
		t.Errorf("%s{%s,%s} = %v, want 2", metrics.NameCheckStatus, sysID(10), checkIDs[1], m)
	}
	maint := 0
	for _, m := range fams[metrics.NameSystemMaintenance].GetMetric() {
		maint += int(m.GetGauge().GetValue())
	}
	if maint != len(inMaintenance) {
		t.Errorf("%d systems in maintenance, want %d", maint, len(inMaintenance))
	}
	if m := series(fams[metrics.NameNotificationDeliveries], map[string]string{"channel_type": "webhook", "event": "escalation", "status": store.DeliveryFailed}); m == nil || m.GetGauge().GetValue() != 1 {
		t.Errorf("failed webhook escalation deliveries = %v, want 1", m)
	}
	if m := series(fams[metrics.NameOutboxBacklog], map[string]string{}); m == nil || m.GetGauge().GetValue() < float64(assignments) {
		t.Errorf("outbox backlog = %v, want ≥ %d (one undispatched event per assignment)", m, assignments)
	}

	// Every label value is an id or from a closed set.
	systemIDRe := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	uuidRe := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	closed := map[string]map[string]bool{
		"status":       labelSet("healthy", "degraded", "unhealthy", store.DeliveryPending, store.DeliverySent, store.DeliveryFailed),
		"strategy":     labelSet(append(strategyIDs(), metrics.StrategyUnknown)...),
		"job":          labelSet(metrics.JobRetention, metrics.JobRollup, metrics.JobPrune, metrics.JobReconcile, metrics.JobOther),
		"channel_type": labelSet("webhook", "slack", "discord", "msteams", "pagerduty", "email", metrics.ChannelOther),
		"event":        labelSet("escalation", "de-escalation", "recovery", "reminder", "test", "check_failed"),
		"outcome":      labelSet(metrics.DeliverySent, metrics.DeliveryFailed, metrics.DeliveryRejected),
	}
	for name, f := range fams {
		if !strings.HasPrefix(name, "checkflow_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				v := lp.GetValue()
				switch lp.GetName() {
				case "system_id":
					if !systemIDRe.MatchString(v) || want[v] == "" {
						t.Fatalf("%s: system_id %q is not a seeded system id", name, v)
					}
				case "check_id":
					if !uuidRe.MatchString(v) {
						t.Fatalf("%s: check_id %q is not a uuid", name, v)
					}
				case "le":
				default:
					allowed, ok := closed[lp.GetName()]
					if !ok || !allowed[v] {
						t.Fatalf("%s: label %s=%q is not from a closed set", name, lp.GetName(), v)
					}
				}
			}
		}
	}

	// A deleted system's series are gone at the next scrape.
	if err := st.DeleteSystem(ctx, sysID(5)); err != nil {
		t.Fatal(err)
	}
	fams = scrapeMetrics(t, hs.Client(), hs.URL+"/metrics")
	if got := len(fams[metrics.NameSystemStatus].GetMetric()); got != systems-1 {
		t.Errorf("after deleting a system: %d system series, want %d", got, systems-1)
	}
	if got := len(fams[metrics.NameCheckStatus].GetMetric()); got != assignments-len(checkIDs) {
		t.Errorf("after deleting a system: %d check series, want %d", got, assignments-len(checkIDs))
	}
	if series(fams[metrics.NameSystemStatus], map[string]string{"system_id": sysID(5)}) != nil {
		t.Errorf("the deleted system %s still has a status series", sysID(5))
	}
}

func labelSet(vs ...string) map[string]bool {
	out := make(map[string]bool, len(vs))
	for _, v := range vs {
		out[v] = true
	}
	return out
}

package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// families gathers g into a map by family name.
func families(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// find returns the metric of fam with exactly the given labels (nil when absent).
func find(fam *dto.MetricFamily, labels map[string]string) *dto.Metric {
	if fam == nil {
		return nil
	}
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		ok := true
		for _, lp := range m.GetLabel() {
			if v, has := labels[lp.GetName()]; !has || v != lp.GetValue() {
				ok = false
				break
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

// scrape serves the registry's handler once and parses the text format.
func scrape(t *testing.T, r *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	r.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, rec.Body.String())
	}
	return fams
}

func TestMetricsRunsAndProbeDurations(t *testing.T) {
	t.Parallel()
	type obs struct {
		strategy string
		status   health.Status
		took     time.Duration
		probed   bool // false: ObserveRun
	}
	tests := []struct {
		name       string
		strategies []string
		obs        []obs
		// want: run counts by strategy/status.
		want map[[2]string]float64
		// wantProbes: probe duration histogram counts and sums by strategy.
		wantProbes map[string][2]float64
	}{
		{
			name:       "pre-initialised strategies start at zero",
			strategies: []string{"http", "tcp"},
			want: map[[2]string]float64{
				{"http", "healthy"}: 0, {"http", "degraded"}: 0, {"http", "unhealthy"}: 0,
				{"tcp", "healthy"}: 0, {"tcp", "unhealthy"}: 0,
			},
			wantProbes: map[string][2]float64{"http": {0, 0}, "tcp": {0, 0}},
		},
		{
			name:       "runs by strategy and status",
			strategies: []string{"http"},
			obs: []obs{
				{"http", health.Healthy, 100 * time.Millisecond, true},
				{"http", health.Unhealthy, 300 * time.Millisecond, true},
				{"http", health.Unhealthy, 0, false},
				{"dns", health.Degraded, 2 * time.Second, true},
			},
			want: map[[2]string]float64{
				{"http", "healthy"}: 1, {"http", "unhealthy"}: 2, {"http", "degraded"}: 0, {"dns", "degraded"}: 1,
			},
			wantProbes: map[string][2]float64{"http": {2, 0.4}, "dns": {1, 2}},
		},
		{
			name: "invalid status counts as unhealthy, empty strategy as unknown",
			obs: []obs{
				{"", health.Status("bogus"), time.Second, true},
				{"http", health.Status(""), 0, false},
			},
			want:       map[[2]string]float64{{StrategyUnknown, "unhealthy"}: 1, {"http", "unhealthy"}: 1},
			wantProbes: map[string][2]float64{StrategyUnknown: {1, 1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := New(Options{Strategies: tc.strategies})
			for _, o := range tc.obs {
				if o.probed {
					r.ObserveProbe(o.strategy, o.status, o.took)
				} else {
					r.ObserveRun(o.strategy, o.status)
				}
			}
			fams := scrape(t, r)
			for k, want := range tc.want {
				m := find(fams[NameCheckRuns], map[string]string{"strategy": k[0], "status": k[1]})
				if m == nil {
					t.Errorf("%s{strategy=%q,status=%q} missing", NameCheckRuns, k[0], k[1])
					continue
				}
				if got := m.GetCounter().GetValue(); got != want {
					t.Errorf("%s{strategy=%q,status=%q} = %v, want %v", NameCheckRuns, k[0], k[1], got, want)
				}
			}
			for s, want := range tc.wantProbes {
				m := find(fams[NameProbeDuration], map[string]string{"strategy": s})
				if m == nil {
					t.Errorf("%s{strategy=%q} missing", NameProbeDuration, s)
					continue
				}
				if got := float64(m.GetHistogram().GetSampleCount()); got != want[0] {
					t.Errorf("%s{strategy=%q} count = %v, want %v", NameProbeDuration, s, got, want[0])
				}
				if got := m.GetHistogram().GetSampleSum(); math.Abs(got-want[1]) > 1e-9 {
					t.Errorf("%s{strategy=%q} sum = %v, want %v", NameProbeDuration, s, got, want[1])
				}
			}
		})
	}
}

func TestMetricsApplyLag(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lat := 250
	tests := []struct {
		name      string
		req       workflows.PersistRequest
		applied   bool
		wantCount uint64
		wantSum   float64
	}{
		{"applied, latency added to executedAt", workflows.PersistRequest{Runs: []workflows.CheckResult{
			{ExecutedAt: at.Add(-2 * time.Second), LatencyMs: &lat}, // ended 1.75 s before
			{ExecutedAt: at.Add(-500 * time.Millisecond)},           // ended 0.5 s before
		}}, true, 2, 2.25},
		{"found done before: not measured again", workflows.PersistRequest{Runs: []workflows.CheckResult{
			{ExecutedAt: at.Add(-time.Second)},
		}}, false, 0, 0},
		{"no runs (a configuration change)", workflows.PersistRequest{}, true, 0, 0},
		{"clock skew never goes negative", workflows.PersistRequest{Runs: []workflows.CheckResult{
			{ExecutedAt: at.Add(time.Second)},
		}}, true, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := New(Options{})
			r.ObservePersisted(tc.req, tc.applied, at)
			h := find(families(t, r.Gatherer())[NameApplyLag], map[string]string{}).GetHistogram()
			if h.GetSampleCount() != tc.wantCount || math.Abs(h.GetSampleSum()-tc.wantSum) > 1e-9 {
				t.Errorf("apply lag count/sum = %d/%v, want %d/%v", h.GetSampleCount(), h.GetSampleSum(), tc.wantCount, tc.wantSum)
			}
		})
	}
}

func TestMetricsNilRegistryIsANoOp(t *testing.T) {
	t.Parallel()
	var r *Registry
	// None of these may panic: instrumented code calls them without nil checks.
	r.ObserveProbe("http", health.Healthy, time.Second)
	r.ObserveRun("http", health.Unhealthy)
	r.ObservePersisted(workflows.PersistRequest{Runs: []workflows.CheckResult{{ExecutedAt: time.Now()}}}, true, time.Now())
	r.ObserveJob(JobPrune, time.Second)
	if r.WatchStore(&fakeStore{}) {
		t.Error("WatchStore on a nil registry reported success")
	}
	if h := r.TemporalHandler(); h == nil {
		t.Error("TemporalHandler of a nil registry is nil, want a no-op handler")
	}
}

// fakeStore is a StoreReader whose snapshot (or error) the test sets.
type fakeStore struct {
	mu    sync.Mutex
	snap  store.MetricsSnapshot
	err   error
	reads int
}

func (f *fakeStore) set(snap store.MetricsSnapshot, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap, f.err = snap, err
}

func (f *fakeStore) MetricsSnapshot(context.Context, time.Time) (store.MetricsSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.snap, f.err
}

func (f *fakeStore) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func TestMetricsStoreGauges(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	oldest := now.Add(-90 * time.Second)
	full := store.MetricsSnapshot{
		Checks: []store.CheckStatusSample{
			{SystemID: "shop", ConfigurationID: "c1", Status: health.Healthy},
			{SystemID: "shop", ConfigurationID: "c2", Status: health.Degraded},
			{SystemID: "db", ConfigurationID: "c1", Status: health.Unhealthy},
		},
		Systems: []store.SystemStatusSample{
			{SystemID: "shop", Status: health.Degraded},
			{SystemID: "db", Status: health.Unhealthy, InMaintenance: true},
		},
		OutboxBacklog: 7, OutboxOldest: &oldest,
		Deliveries: []store.DeliveryCount{{ChannelType: "slack", Event: "escalation", Status: "failed", Count: 3}},
	}
	type want struct {
		name   string
		labels map[string]string
		value  float64
	}
	tests := []struct {
		name   string
		snap   store.MetricsSnapshot
		err    error
		want   []want
		absent []string // families that must have no series
	}{
		{"statuses, maintenance, outbox and deliveries", full, nil, []want{
			{NameStoreUp, nil, 1},
			{NameCheckStatus, map[string]string{"system_id": "shop", "check_id": "c1"}, 0},
			{NameCheckStatus, map[string]string{"system_id": "shop", "check_id": "c2"}, 1},
			{NameCheckStatus, map[string]string{"system_id": "db", "check_id": "c1"}, 2},
			{NameSystemStatus, map[string]string{"system_id": "shop"}, 1},
			{NameSystemStatus, map[string]string{"system_id": "db"}, 2},
			{NameSystemMaintenance, map[string]string{"system_id": "shop"}, 0},
			{NameSystemMaintenance, map[string]string{"system_id": "db"}, 1},
			{NameOutboxBacklog, nil, 7},
			{NameOutboxOldestAge, nil, 90},
			{NameNotificationDeliveries, map[string]string{"channel_type": "slack", "event": "escalation", "status": "failed"}, 3},
		}, nil},
		{"a deleted system has no series", store.MetricsSnapshot{
			Checks:  full.Checks[:2],
			Systems: full.Systems[:1],
		}, nil, []want{
			{NameSystemStatus, map[string]string{"system_id": "shop"}, 1},
			{NameOutboxBacklog, nil, 0},
			{NameOutboxOldestAge, nil, 0},
		}, nil},
		{"an invalid stored status is left out", store.MetricsSnapshot{
			Checks: []store.CheckStatusSample{{SystemID: "x", ConfigurationID: "c", Status: "weird"}},
		}, nil, []want{{NameStoreUp, nil, 1}}, []string{NameCheckStatus}},
		{"a failed read: up 0, the other metrics still served", full, errors.New("connection refused"), []want{
			{NameStoreUp, nil, 0},
		}, []string{NameCheckStatus, NameSystemStatus, NameOutboxBacklog, NameNotificationDeliveries}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := &fakeStore{}
			fs.set(tc.snap, tc.err)
			r := New(Options{Strategies: []string{"http"}})
			c := newStoreCollector(fs, r.log, -1, time.Second, func() time.Time { return now })
			r.reg.MustRegister(c)
			fams := scrape(t, r)
			for _, w := range tc.want {
				m := find(fams[w.name], w.labels)
				if m == nil {
					t.Errorf("%s%v missing", w.name, w.labels)
					continue
				}
				if got := m.GetGauge().GetValue(); got != w.value {
					t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
				}
			}
			for _, name := range tc.absent {
				if f := fams[name]; f != nil && len(f.GetMetric()) > 0 {
					t.Errorf("%s has %d series, want none", name, len(f.GetMetric()))
				}
			}
			// Series are exactly the snapshot's: nothing from earlier scrapes lingers.
			if tc.err == nil {
				if got, want := len(fams[NameCheckStatus].GetMetric()), countValid(tc.snap.Checks); got != want {
					t.Errorf("%d check status series, want %d", got, want)
				}
			}
			// The in-process metrics are served whatever the store did.
			if find(fams[NameCheckRuns], map[string]string{"strategy": "http", "status": "unhealthy"}) == nil {
				t.Errorf("%s missing", NameCheckRuns)
			}
		})
	}
}

func countValid(cs []store.CheckStatusSample) int {
	n := 0
	for _, c := range cs {
		if c.Status.Valid() {
			n++
		}
	}
	return n
}

func TestMetricsStoreSnapshotIsCachedAndSeriesFollowTheStore(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }

	fs := &fakeStore{}
	fs.set(store.MetricsSnapshot{Systems: []store.SystemStatusSample{{SystemID: "a", Status: health.Healthy}, {SystemID: "b", Status: health.Healthy}}}, nil)
	r := New(Options{})
	r.reg.MustRegister(newStoreCollector(fs, r.log, 2*time.Second, time.Second, clock))

	systems := func() int { return len(families(t, r.Gatherer())[NameSystemStatus].GetMetric()) }
	if n := systems(); n != 2 {
		t.Fatalf("%d systems, want 2", n)
	}
	// System b is deleted: within the TTL the cached snapshot is served (one read) …
	fs.set(store.MetricsSnapshot{Systems: []store.SystemStatusSample{{SystemID: "a", Status: health.Healthy}}}, nil)
	advance(time.Second)
	if n := systems(); n != 2 {
		t.Fatalf("within the TTL: %d systems, want the cached 2", n)
	}
	if reads := fs.readCount(); reads != 1 {
		t.Fatalf("%d reads within the TTL, want 1", reads)
	}
	// … after it, b is gone.
	advance(2 * time.Second)
	if n := systems(); n != 1 {
		t.Fatalf("after the TTL: %d systems, want 1", n)
	}
	if reads := fs.readCount(); reads != 2 {
		t.Fatalf("%d reads, want 2", reads)
	}
}

func TestMetricsWatchStoreAttachesOnce(t *testing.T) {
	t.Parallel()
	r := New(Options{StoreCacheTTL: -1})
	first, second := &fakeStore{}, &fakeStore{}
	first.set(store.MetricsSnapshot{OutboxBacklog: 1}, nil)
	second.set(store.MetricsSnapshot{OutboxBacklog: 2}, nil)
	if !r.WatchStore(first) {
		t.Fatal("first WatchStore = false")
	}
	if r.WatchStore(second) {
		t.Fatal("second WatchStore = true, want false (one store per registry)")
	}
	m := find(families(t, r.Gatherer())[NameOutboxBacklog], map[string]string{})
	if m.GetGauge().GetValue() != 1 {
		t.Fatalf("outbox backlog = %v, want the first store's 1", m.GetGauge().GetValue())
	}
	if second.readCount() != 0 {
		t.Fatal("the second store was read")
	}
}

func TestMetricsObserveJob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		job, label string
		took       time.Duration
	}{
		{JobRetention, JobRetention, time.Minute},
		{JobReconcile, JobReconcile, 2 * time.Second},
		{"drop table", JobOther, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.job, func(t *testing.T) {
			t.Parallel()
			r := New(Options{})
			r.ObserveJob(tc.job, tc.took)
			fams := families(t, r.Gatherer())
			h := find(fams[NameJobDuration], map[string]string{"job": tc.label}).GetHistogram()
			if h.GetSampleCount() != 1 || h.GetSampleSum() != tc.took.Seconds() {
				t.Errorf("job %q: count/sum = %d/%v, want 1/%v", tc.label, h.GetSampleCount(), h.GetSampleSum(), tc.took.Seconds())
			}
			for _, m := range fams[NameJobDuration].GetMetric() {
				if v := m.GetLabel()[0].GetValue(); v == tc.job && tc.label != tc.job {
					t.Errorf("free-text job name %q became a label value", v)
				}
			}
		})
	}
}

func TestMetricsInterceptorRecordsJobDurations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		activity string
		fn       any
		args     []any
		wantJob  string
		wantSum  float64 // < 0: any positive duration
		wantNone bool
	}{
		{name: "lifecycle job summary", activity: workflows.ActivityJobSummary,
			fn:   func(context.Context, workflows.JobResult) error { return nil },
			args: []any{workflows.JobResult{Job: workflows.RollupJobWorkflow, DurationMs: 1500}}, wantJob: JobRollup, wantSum: 1.5},
		{name: "prune job summary", activity: workflows.ActivityJobSummary,
			fn:   func(context.Context, workflows.JobResult) error { return nil },
			args: []any{workflows.JobResult{Job: workflows.PruneJobWorkflow, DurationMs: 60000}}, wantJob: JobPrune, wantSum: 60},
		{name: "reconcile pass", activity: workflows.ActivityReconcileEntities,
			fn:      func(context.Context) (workflows.ReconcileResult, error) { return workflows.ReconcileResult{}, nil },
			wantJob: JobReconcile, wantSum: -1},
		{name: "failed summary records nothing", activity: workflows.ActivityJobSummary,
			fn:   func(context.Context, workflows.JobResult) error { return errors.New("boom") },
			args: []any{workflows.JobResult{Job: workflows.RetentionJobWorkflow, DurationMs: 1000}}, wantJob: JobRetention, wantNone: true},
		{name: "other activities record nothing", activity: workflows.ActivityProbe,
			fn:   func(context.Context, workflows.ProbeRequest) ([]workflows.CheckResult, error) { return nil, nil },
			args: []any{workflows.ProbeRequest{}}, wantJob: JobReconcile, wantNone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := New(Options{})
			var suite testsuite.WorkflowTestSuite
			suite.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
			env := suite.NewTestActivityEnvironment()
			env.SetWorkerOptions(sdkworker.Options{Interceptors: []interceptor.WorkerInterceptor{r.Interceptor()}})
			env.RegisterActivityWithOptions(tc.fn, activity.RegisterOptions{Name: tc.activity})
			_, _ = env.ExecuteActivity(tc.activity, tc.args...)

			h := find(families(t, r.Gatherer())[NameJobDuration], map[string]string{"job": tc.wantJob}).GetHistogram()
			if tc.wantNone {
				if h.GetSampleCount() != 0 {
					t.Fatalf("job %s recorded %d times, want 0", tc.wantJob, h.GetSampleCount())
				}
				return
			}
			if h.GetSampleCount() != 1 {
				t.Fatalf("job %s recorded %d times, want 1", tc.wantJob, h.GetSampleCount())
			}
			if tc.wantSum >= 0 && math.Abs(h.GetSampleSum()-tc.wantSum) > 1e-9 {
				t.Fatalf("job %s sum = %v, want %v", tc.wantJob, h.GetSampleSum(), tc.wantSum)
			}
			if tc.wantSum < 0 && h.GetSampleSum() <= 0 {
				t.Fatalf("job %s sum = %v, want > 0", tc.wantJob, h.GetSampleSum())
			}
		})
	}
}

func TestMetricsTemporalHandler(t *testing.T) {
	t.Parallel()
	r := New(Options{})
	h := r.TemporalHandler().WithTags(map[string]string{"namespace": "default"})
	q := h.WithTags(map[string]string{"task_queue": "checkflow", "__bad key": "x"})
	q.Counter("temporal_request").Inc(2)
	q.Counter("temporal_request").Inc(3)
	q.Counter("temporal_request").Inc(-1) // ignored: counters never go down
	// The same metric with another tag set: the family gets the union of the label names.
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(1)
	q.Gauge("temporal_worker_task_slots_available").Update(7)
	q.Gauge("temporal_worker_task_slots_available").Update(5)
	q.Timer("temporal_workflow_task_execution_latency").Record(20 * time.Millisecond)
	q.Timer("temporal_workflow_task_execution_latency").Record(2 * time.Minute) // beyond the last bucket

	fams := scrape(t, r)
	req := fams["temporal_request_total"]
	if req == nil || req.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("temporal_request_total missing or not a counter: %v", req)
	}
	tests := []struct {
		name   string
		labels map[string]string
		value  func(*dto.Metric) float64
		want   float64
	}{
		{"temporal_request_total", map[string]string{"namespace": "default", "task_queue": "checkflow", "x__bad_key": "x", "operation": ""},
			func(m *dto.Metric) float64 { return m.GetCounter().GetValue() }, 5},
		{"temporal_request_total", map[string]string{"namespace": "default", "task_queue": "", "x__bad_key": "", "operation": "StartWorkflowExecution"},
			func(m *dto.Metric) float64 { return m.GetCounter().GetValue() }, 1},
		{"temporal_worker_task_slots_available", map[string]string{"namespace": "default", "task_queue": "checkflow", "x__bad_key": "x"},
			func(m *dto.Metric) float64 { return m.GetGauge().GetValue() }, 5},
		{"temporal_workflow_task_execution_latency_seconds", map[string]string{"namespace": "default", "task_queue": "checkflow", "x__bad_key": "x"},
			func(m *dto.Metric) float64 { return float64(m.GetHistogram().GetSampleCount()) }, 2},
		{"temporal_workflow_task_execution_latency_seconds", map[string]string{"namespace": "default", "task_queue": "checkflow", "x__bad_key": "x"},
			func(m *dto.Metric) float64 { return m.GetHistogram().GetSampleSum() }, 120.02},
	}
	for _, tc := range tests {
		m := find(fams[tc.name], tc.labels)
		if m == nil {
			t.Errorf("%s%v missing", tc.name, tc.labels)
			continue
		}
		if got := tc.value(m); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// The 20 ms sample is in the 25 ms bucket; the 2 min one only in +Inf.
	m := find(fams["temporal_workflow_task_execution_latency_seconds"], map[string]string{"namespace": "default", "task_queue": "checkflow", "x__bad_key": "x"})
	for _, b := range m.GetHistogram().GetBucket() {
		want := uint64(0)
		switch {
		case math.IsInf(b.GetUpperBound(), +1):
			want = 2
		case b.GetUpperBound() >= 0.025:
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v = %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

func TestMetricsTemporalHandlerConcurrentUse(t *testing.T) {
	t.Parallel()
	r := New(Options{})
	h := r.TemporalHandler()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tagged := h.WithTags(map[string]string{"worker": string(rune('a' + i%2))})
			for range 1000 {
				tagged.Counter("temporal_poll").Inc(1)
				tagged.Timer("temporal_poll_latency").Record(time.Millisecond)
			}
		})
	}
	// Scrapes while the SDK records: no race, no inconsistent histogram.
	for range 10 {
		scrape(t, r)
	}
	wg.Wait()
	fams := families(t, r.Gatherer())
	total := 0.0
	for _, m := range fams["temporal_poll_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != 8000 {
		t.Fatalf("temporal_poll_total sums to %v, want 8000", total)
	}
}

func TestMetricsHandlerServesTextFormat(t *testing.T) {
	t.Parallel()
	r := New(Options{Strategies: []string{"http"}, GoCollectors: true})
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, name := range []string{NameCheckRuns, NameProbeDuration, NameApplyLag, NameJobDuration, "go_goroutines"} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	// Conventional names: counters end in _total, histograms of durations in _seconds.
	for name, f := range fams {
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			if strings.HasPrefix(name, "checkflow_") && !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case dto.MetricType_HISTOGRAM:
			if strings.HasPrefix(name, "checkflow_") && !strings.HasSuffix(name, "_seconds") {
				t.Errorf("histogram %s does not end in _seconds", name)
			}
		}
	}
}

func TestMetricsStrategyIDs(t *testing.T) {
	t.Parallel()
	ids := StrategyIDs(checks.NewRegistry())
	if !slices.Contains(ids, "http") || slices.Contains(ids, "") {
		t.Fatalf("StrategyIDs = %v, want the registry's ids (http among them)", ids)
	}
}

func TestMetricsObserveDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		attempts      [][2]string // channel type, outcome
		channelType   string      // the label expected
		outcome       string
		want          float64
		untouchedType string // a known type that stays at 0
	}{
		{"retried then sent", [][2]string{{"webhook", DeliveryFailed}, {"webhook", DeliveryFailed}, {"webhook", DeliverySent}},
			"webhook", DeliveryFailed, 2, "slack"},
		{"sent once", [][2]string{{"slack", DeliverySent}}, "slack", DeliverySent, 1, "webhook"},
		{"rejected", [][2]string{{"email", DeliveryRejected}}, "email", DeliveryRejected, 1, "webhook"},
		{"unknown type", [][2]string{{"carrier pigeon", DeliverySent}}, ChannelOther, DeliverySent, 1, "webhook"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := New(Options{})
			for _, a := range tc.attempts {
				r.ObserveDelivery(a[0], a[1])
			}
			fam := families(t, r.Gatherer())[NameDeliveryAttempts]
			if got := find(fam, map[string]string{"channel_type": tc.channelType, "outcome": tc.outcome}).GetCounter().GetValue(); got != tc.want {
				t.Errorf("%s/%s = %v, want %v", tc.channelType, tc.outcome, got, tc.want)
			}
			// Known types start at 0 (so that increase() sees the first attempt); free text never
			// becomes a label.
			if m := find(fam, map[string]string{"channel_type": tc.untouchedType, "outcome": DeliverySent}); m == nil || m.GetCounter().GetValue() != 0 {
				t.Errorf("%s/sent: %v, want a series at 0", tc.untouchedType, m)
			}
			for _, m := range fam.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetValue() == "carrier pigeon" {
						t.Errorf("a free-text channel type became a label value")
					}
				}
			}
		})
	}
	var nilReg *Registry
	nilReg.ObserveDelivery("webhook", DeliverySent) // no panic
}

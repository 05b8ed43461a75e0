package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/metrics"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// stack is one test's checkflow: its own database, task queues, worker and entity client on the
// shared embedded Temporal server.
type stack struct {
	pool     *pgxpool.Pool
	dbURL    string
	store    *store.Store
	queue    string
	probes   string
	entities *entityclient.Client
	worker   *worker.Worker
	opts     stackOptions
}

// stackOptions change what a test stack's worker (and API) are given.
type stackOptions struct {
	// box seals and opens secrets in the API and the worker (default: none for a bare stack,
	// a fresh one for an API stack).
	box *secretbox.Box
	// notify configures the worker's notifications.
	notify worker.NotifyConfig
	// logger replaces the per-test logger (tests that read the logs).
	logger *slog.Logger
	// hooks observe the worker's probes and writes.
	hooks activities.Hooks
	// metrics is the worker's metrics registry (none by default).
	metrics *metrics.Registry
}

func newStack(t *testing.T) *stack { return newStackWith(t, stackOptions{}) }

func newStackWith(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	if opts.logger == nil {
		opts.logger = testutil.Logger(t)
	}
	s := &stack{dbURL: testutil.NewDatabase(t), queue: testutil.UniqueName(t), opts: opts}
	s.probes = s.queue + "-probes"
	pool, err := pgxpool.New(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s.pool = pool
	s.store = store.New(pool)
	s.entities = &entityclient.Client{Temporal: shared.temporal.Client, TaskQueue: s.queue,
		Options: workflows.EntityOptions{ProbeTaskQueue: s.probes}}
	s.startWorker(t)
	return s
}

func (s *stack) startWorker(t *testing.T) {
	t.Helper()
	logger := s.opts.logger
	if logger == nil {
		logger = testutil.Logger(t)
	}
	w, err := worker.Start(worker.Config{Client: shared.temporal.Client, Pool: s.pool, TaskQueue: s.queue,
		ProbeTaskQueue: s.probes, EntityOptions: s.entities.Options, Logger: logger,
		SecretBox: s.opts.box, Notify: s.opts.notify, Hooks: s.opts.hooks, Metrics: s.opts.metrics})
	if err != nil {
		t.Fatal(err)
	}
	s.worker = w
	t.Cleanup(w.Stop)
}

// target is a local HTTP server whose status code the test flips.
type target struct {
	srv  *httptest.Server
	code atomic.Int32
	// failOnce makes the next request answer 500 once.
	failOnce atomic.Bool
	hits     atomic.Int64
}

// newTargetFunc is a local HTTP server answering with h.
func newTargetFunc(t testing.TB, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func newTarget(t *testing.T) *target {
	tg := &target{}
	tg.code.Store(http.StatusOK)
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tg.hits.Add(1)
		if tg.failOnce.CompareAndSwap(true, false) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(int(tg.code.Load()))
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

// httpCheck creates a configuration probing url every intervalSeconds and assigns it to system.
func (s *stack) httpCheck(t *testing.T, systemID, name, url string, intervalSeconds int, th *health.Thresholds) string {
	t.Helper()
	ctx := context.Background()
	cfg, _ := json.Marshal(map[string]any{"timeout": 2000})
	collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{"url": url, "method": "GET", "timeout": 2000}}})
	c, err := s.store.CreateConfiguration(ctx, store.ConfigurationInput{Name: name, StrategyID: "http", Config: cfg, Collectors: collectors, IntervalSeconds: intervalSeconds})
	if err != nil {
		t.Fatalf("create configuration: %v", err)
	}
	enabled := true
	in := store.AssociateInput{SystemID: systemID, ConfigurationID: c.ID, Enabled: &enabled}
	if th != nil {
		in.StateThresholds = store.Some(th)
	}
	if _, _, err := s.store.Associate(ctx, in); err != nil {
		t.Fatalf("associate: %v", err)
	}
	return c.ID
}

// system creates a system with an id unique to this test run (entities of the shared Temporal
// server outlive a test) and terminates its entity when the test ends.
func (s *stack) system(t *testing.T, name string) string {
	t.Helper()
	id := name + "-" + testutil.UniqueName(t)[len(t.Name()):]
	id = strings.TrimPrefix(strings.ReplaceAll(id, "--", "-"), "-")
	if _, err := s.store.CreateSystem(context.Background(), store.SystemInput{ID: id, Name: name}); err != nil {
		t.Fatalf("create system: %v", err)
	}
	t.Cleanup(func() {
		_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.SystemWorkflowID(id), "", "test ended")
	})
	return id
}

// waitFor polls cond (a read of PostgreSQL) until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func (s *stack) view(t *testing.T, systemID string) *health.View {
	t.Helper()
	v, err := s.store.GetView(context.Background(), systemID)
	if err != nil {
		return nil
	}
	return &v.View
}

func (s *stack) waitStatus(t *testing.T, systemID string, want health.Status, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("system %s to be %s", systemID, want), func() (bool, error) {
		v := s.view(t, systemID)
		return v != nil && v.Status == want, nil
	})
}

func (s *stack) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/testutil"
)

// t0 is the reference tests' "now".
var t0 = time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newStore(t testing.TB, opts ...Option) (*Store, *pgxpool.Pool) {
	t.Helper()
	pool := testutil.NewPool(t)
	return New(pool, opts...), pool
}

// tracer records every statement sent (plain queries and batch members).
type tracer struct {
	mu      sync.Mutex
	sql     []string
	batches int
}

func (tr *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	tr.mu.Lock()
	tr.sql = append(tr.sql, d.SQL)
	tr.mu.Unlock()
	return ctx
}
func (tr *tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (tr *tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	tr.mu.Lock()
	tr.batches++
	tr.mu.Unlock()
	return ctx
}
func (tr *tracer) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	tr.mu.Lock()
	tr.sql = append(tr.sql, d.SQL)
	tr.mu.Unlock()
}
func (tr *tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (tr *tracer) reset() {
	tr.mu.Lock()
	tr.sql, tr.batches = nil, 0
	tr.mu.Unlock()
}

func (tr *tracer) statements() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.sql...)
}

// newTracedStore is a store whose pool records its statements.
func newTracedStore(t testing.TB) (*Store, *pgxpool.Pool, *tracer) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testutil.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	tr := &tracer{}
	cfg.ConnConfig.Tracer = tr
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return New(pool), pool, tr
}

func mustSystem(t testing.TB, s *Store, id string) System {
	t.Helper()
	sys, err := s.CreateSystem(ctxT(t), SystemInput{ID: id, Name: "System " + id})
	if err != nil {
		t.Fatalf("create system %s: %v", id, err)
	}
	return sys
}

func mustConfig(t testing.TB, s *Store, name string) Configuration {
	t.Helper()
	c, err := s.CreateConfiguration(ctxT(t), ConfigurationInput{Name: name, StrategyID: "healthcheck-http.http",
		Config: []byte(`{"url":"http://127.0.0.1/"}`), IntervalSeconds: 60})
	if err != nil {
		t.Fatalf("create configuration %s: %v", name, err)
	}
	return c
}

func mustAssign(t testing.TB, s *Store, systemID, configID string) Assignment {
	t.Helper()
	a, _, err := s.Associate(ctxT(t), AssociateInput{SystemID: systemID, ConfigurationID: configID})
	if err != nil {
		t.Fatalf("associate %s/%s: %v", systemID, configID, err)
	}
	return a
}

// fixture is one system with one assigned configuration.
type fixture struct {
	s    *Store
	pool *pgxpool.Pool
	sys  string
	cfg  string
}

func newFixture(t testing.TB, opts ...Option) fixture {
	t.Helper()
	s, pool := newStore(t, opts...)
	mustSystem(t, s, "sys-1")
	c := mustConfig(t, s, "check-1")
	mustAssign(t, s, "sys-1", c.ID)
	return fixture{s: s, pool: pool, sys: "sys-1", cfg: c.ID}
}

func intp(n int) *int { return &n }

func strp(s string) *string { return &s }

func statusp(s health.Status) *health.Status { return &s }

func run(systemID, cfg string, seq int64, st health.Status, latency *int, at time.Time) RunRecord {
	return RunRecord{ID: ProbeRunID(systemID, seq), ConfigurationID: cfg, Status: st, LatencyMs: latency, Timestamp: at}
}

// count returns SELECT count(*) FROM <from> (a table name and an optional WHERE).
func count(t testing.TB, pool *pgxpool.Pool, from string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctxT(t), "SELECT count(*) FROM "+from, args...).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", from, err)
	}
	return n
}

func mustExec(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(ctxT(t), sql, args...); err != nil {
		t.Fatalf("exec %s: %v", sql, err)
	}
}

// insertBucket writes an aggregate row directly (test seeding).
func insertBucket(t testing.TB, pool *pgxpool.Pool, systemID, cfg string, size string, start time.Time, b health.Bucket) {
	t.Helper()
	mustExec(t, pool, `INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size,
			run_count, healthy_count, degraded_count, unhealthy_count, latency_sum_ms, avg_latency_ms, min_latency_ms,
			max_latency_ms, p95_latency_ms)
		VALUES ($1, $2, $3, $4::bucket_size, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		cfg, systemID, start, size, b.RunCount, b.HealthyCount, b.DegradedCount, b.UnhealthyCount, b.LatencySumMs,
		b.AvgLatencyMs, b.MinLatencyMs, b.MaxLatencyMs, b.P95LatencyMs)
}

// insertTransition writes a transition row directly (test seeding).
func insertTransition(t testing.TB, pool *pgxpool.Pool, id, systemID string, cfg *string, from *health.Status, to health.Status, at time.Time) {
	t.Helper()
	var f *string
	if from != nil {
		x := string(*from)
		f = &x
	}
	mustExec(t, pool, `INSERT INTO health_check_state_transitions (id, system_id, configuration_id, from_status, to_status, transitioned_at)
		VALUES (coalesce($1::uuid, gen_random_uuid()), $2, $3, $4::health_check_status, $5::health_check_status, $6)`,
		nullIfEmpty(id), systemID, cfg, f, string(to), at)
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func ptrEq[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// assertNoPgText fails when an error message leaks PostgreSQL's wording.
func assertNoPgText(t testing.TB, err error) {
	t.Helper()
	msg := err.Error()
	for _, leak := range []string{"SQLSTATE", "violates", "constraint", "relation", "pq:", "ERROR:"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error %q leaks database text (%q)", msg, leak)
		}
	}
}

func isValidation(err error, field string) bool {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	for _, f := range ve.Errors {
		if f.Field == field {
			return true
		}
	}
	return false
}

func isNotFound(err error, entity string) bool {
	var nf *NotFoundError
	return errors.As(err, &nf) && nf.Entity == entity
}

package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/health"
)

// TestGetViews1000SystemsOneQuery: the current views of 1,000 systems are read with exactly one
// statement (counted by a pgx tracer on the pool); systems without a view are absent
// (acceptance 5).
func TestGetViews1000SystemsOneQuery(t *testing.T) {
	t.Parallel()
	s, pool, tr := newTracedStore(t)
	ctx := ctxT(t)
	const n = 1000
	mustExec(t, pool, `INSERT INTO systems (id, name) SELECT 'sys-' || g, 'System ' || g FROM generate_series(1, $1) g`, n)
	// Every system but the last 10 has a view; status cycles through the three statuses.
	mustExec(t, pool, `INSERT INTO system_health_state (system_id, status, healthy_checks, total_checks, in_status_since, seq)
		SELECT 'sys-' || g, (ARRAY['healthy','degraded','unhealthy'])[1 + g % 3]::health_check_status, 1, 2, now(), g
		FROM generate_series(1, $1 - 10) g`, n)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("sys-%d", i+1)
	}
	tr.reset()
	views, err := s.GetViews(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	stmts := tr.statements()
	if len(stmts) != 1 || !strings.Contains(stmts[0], "system_id = ANY($1)") {
		t.Fatalf("%d statements for 1,000 views, want 1: %q", len(stmts), stmts)
	}
	if len(views) != n-10 {
		t.Fatalf("%d views, want %d", len(views), n-10)
	}
	v := views["sys-4"]
	if v.Status != health.Degraded || v.HealthyChecks != 1 || v.TotalChecks != 2 || v.Seq != 4 {
		t.Fatalf("sys-4 view %+v", v)
	}
	if _, ok := views["sys-1000"]; ok {
		t.Fatal("a system without a view is in the result")
	}
	tr.reset()
	if empty, err := s.GetViews(ctx, nil); err != nil || len(empty) != 0 || len(tr.statements()) != 0 {
		t.Fatalf("empty id list: %v %v, %d statements", empty, err, len(tr.statements()))
	}
}

// TestSystemHealth: getSystemHealthStatus for many systems from the stored state: the stored
// view's status, the enabled checks in assignment order with their evaluated status, and
// healthy with no checks for a system without assignments.
func TestSystemHealth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c2 := mustConfig(t, f.s, "check-2")
	mustAssign(t, f.s, f.sys, c2.ID)
	mustSystem(t, f.s, "empty")
	if _, err := f.s.Persist(ctxT(t), degradedItem(f, 1, t0)); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.SystemHealth(ctxT(t), []string{f.sys, "empty"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	a := got[f.sys]
	if a.Status != health.Degraded || len(a.CheckStatuses) != 2 || a.CheckStatuses[0].Status != health.Degraded ||
		a.CheckStatuses[0].ConfigurationName != "check-1" || a.CheckStatuses[1].Status != health.Healthy || a.CheckStatuses[0].LastRunAt == nil {
		t.Fatalf("sys-1 %+v", a)
	}
	if e := got["empty"]; e.Status != health.Healthy || len(e.CheckStatuses) != 0 || !e.EvaluatedAt.Equal(t0) {
		t.Fatalf("empty %+v", e)
	}
}

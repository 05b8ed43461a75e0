package store

import (
	"math"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// TestHealthStateMetricsHS covers HS-6…HS-8 through real SQL: the windowed metrics come from the
// system's hourly rows with bucket_start ≥ now − 24 h; older hourly rows and daily rows are
// ignored.
func TestHealthStateMetricsHS(t *testing.T) {
	t.Parallel()
	type row struct {
		runs, healthy int
		sum, p95      *int
	}
	tests := []struct {
		name        string
		rows        []row
		avg, p95    *int
		successRate *float64
	}{
		{"HS-6 two buckets", []row{{10, 9, intp(1000), intp(100)}, {30, 30, intp(6000), intp(200)}}, intp(175), intp(200), fp(0.975)},
		{"HS-7 a bucket without latency", []row{{5, 5, nil, nil}, {5, 4, intp(500), intp(80)}}, intp(100), intp(80), fp(0.9)},
		{"HS-8 no latency at all", []row{{3, 2, nil, nil}}, nil, nil, fp(2.0 / 3.0)},
		{"HS-5 no buckets", nil, nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			for i, r := range tc.rows {
				insertBucket(t, f.pool, f.sys, f.cfg, "hourly", health.HourStart(t0.Add(-time.Duration(i)*time.Hour)),
					health.Bucket{RunCount: r.runs, HealthyCount: r.healthy, UnhealthyCount: r.runs - r.healthy, LatencySumMs: r.sum, P95LatencyMs: r.p95})
			}
			// Noise outside the window: must not change anything.
			insertBucket(t, f.pool, f.sys, f.cfg, "hourly", health.HourStart(t0.Add(-25*time.Hour)), health.Bucket{RunCount: 100, LatencySumMs: intp(1), P95LatencyMs: intp(9999), UnhealthyCount: 100})
			insertBucket(t, f.pool, f.sys, f.cfg, "daily", health.DayStart(t0), health.Bucket{RunCount: 100, UnhealthyCount: 100, P95LatencyMs: intp(9999)})

			in, err := f.s.HealthStateInputs(ctxT(t), HealthStateQuery{SystemIDs: []string{f.sys}, Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			m := in[f.sys].Metrics
			if !ptrEq(m.AvgLatencyMs, tc.avg) || !ptrEq(m.P95LatencyMs, tc.p95) || !floatPtrNear(m.SuccessRate, tc.successRate) {
				t.Fatalf("metrics avg %s p95 %s success %s; want %s %s %s", fmtPtr(m.AvgLatencyMs), fmtPtr(m.P95LatencyMs), fmtPtr(m.SuccessRate),
					fmtPtr(tc.avg), fmtPtr(tc.p95), fmtPtr(tc.successRate))
			}
			direct, err := f.s.WindowedMetrics(ctxT(t), f.sys, f.cfg, t0)
			if err != nil {
				t.Fatal(err)
			}
			if !ptrEq(direct.AvgLatencyMs, tc.avg) || !floatPtrNear(direct.SuccessRate, tc.successRate) {
				t.Fatalf("check-scoped metrics %+v differ", direct)
			}
		})
	}
}

func fp(f float64) *float64 { return &f }

func floatPtrNear(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Abs(*a-*b) < 1e-9
}

// TestHealthStateInputs: the other §6 inputs for a bulk request at one shared now — status from
// the stored view, in-status-since from the newest transition into it, the newest run, the
// transition count in the window; a system without a view is healthy; check scope uses the
// check's state and an unknown check is healthy (HS-10).
func TestHealthStateInputs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mustSystem(t, f.s, "sys-2")
	ctx := ctxT(t)
	item := degradedItem(f, 1, t0.Add(-30*time.Minute))
	if _, err := f.s.Persist(ctx, item); err != nil {
		t.Fatal(err)
	}
	// A later failing run of the same check, latency 42: the newest run, and the transition to unhealthy.
	later := t0.Add(-10 * time.Minute)
	if _, err := f.s.Persist(ctx, PersistInput{SystemID: f.sys, Seq: 2, At: later,
		Runs:   []RunRecord{run(f.sys, f.cfg, 2, health.Unhealthy, intp(42), later)},
		Checks: []CheckState{{ConfigurationID: f.cfg, Status: health.Unhealthy}},
		View:   &health.View{Status: health.Unhealthy, TotalChecks: 1}, Transition: &TransitionRecord{ConfigurationID: f.cfg, From: statusp(health.Degraded), To: health.Unhealthy}}); err != nil {
		t.Fatal(err)
	}
	insertTransition(t, f.pool, "", f.sys, nil, statusp(health.Healthy), health.Unhealthy, t0.Add(-48*time.Hour))

	got, err := f.s.HealthStateInputs(ctx, HealthStateQuery{SystemIDs: []string{f.sys, "sys-2"}, Now: t0, TransitionWindowMinutes: 60})
	if err != nil {
		t.Fatal(err)
	}
	a := got[f.sys]
	if a.Status != health.Unhealthy || a.InStatusSince == nil || !a.InStatusSince.Equal(later) {
		t.Fatalf("sys-1 status %s since %v, want unhealthy since %s", a.Status, a.InStatusSince, later)
	}
	if !ptrEq(a.LatencyMs, intp(42)) || a.LastRunAt == nil || !a.LastRunAt.Equal(later) {
		t.Fatalf("newest run latency %s at %v", fmtPtr(a.LatencyMs), a.LastRunAt)
	}
	if a.TransitionsInWindow != 2 || a.TransitionWindowMinutes != 60 || !a.Now.Equal(t0) {
		t.Fatalf("transitions in window %d (window %d, now %s), want 2", a.TransitionsInWindow, a.TransitionWindowMinutes, a.Now)
	}
	if a.Metrics.SuccessRate == nil || *a.Metrics.SuccessRate != 0 {
		t.Fatalf("success rate %s, want 0 (two unhealthy runs)", fmtPtr(a.Metrics.SuccessRate))
	}
	hs := health.NewHealthState(a)
	if hs.InStatusForMs != int64(10*time.Minute/time.Millisecond) {
		t.Fatalf("inStatusForMs %d", hs.InStatusForMs)
	}
	b, ok := got["sys-2"]
	if !ok || b.Status != health.Healthy || b.InStatusSince != nil || b.LastRunAt != nil || b.TransitionsInWindow != 0 {
		t.Fatalf("sys-2 (no view) %+v", b)
	}

	scoped, err := f.s.HealthStateInputs(ctx, HealthStateQuery{SystemIDs: []string{f.sys}, ConfigurationID: f.cfg, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if s := scoped[f.sys]; s.Status != health.Unhealthy || s.TransitionWindowMinutes != health.DefaultTransitionWindowMinutes {
		t.Fatalf("check-scoped %+v", s)
	}
	unknown, err := f.s.HealthStateInputs(ctx, HealthStateQuery{SystemIDs: []string{f.sys}, ConfigurationID: "7f1c2f0e-5d1b-4d7e-9a39-0c3a4b5d6e7f", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if s := unknown[f.sys]; s.Status != health.Healthy || s.LastRunAt != nil {
		t.Fatalf("unknown check scope %+v, want healthy without runs", s)
	}
	if _, err := f.s.HealthStateInputs(ctx, HealthStateQuery{SystemIDs: []string{f.sys}, Now: t0, TransitionWindowMinutes: -1}); !isValidation(err, "transitionWindowMinutes") {
		t.Fatalf("window -1: %v", err)
	}
}

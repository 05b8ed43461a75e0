package health

import (
	"testing"
	"time"
)

// TestHealthState covers §16.4 HS-1…HS-8 (+ derived HS-10, HS-11).
func TestHealthState(t *testing.T) {
	now := ts(t, "2026-05-30T12:00:00.000Z")
	t.Run("HS-1 unhealthy since 11:30", func(t *testing.T) {
		since := ts(t, "2026-05-30T11:30:00Z")
		hs := NewHealthState(HealthStateInput{Now: now, Status: Unhealthy, InStatusSince: &since, TransitionWindowMinutes: 60})
		if hs.Status != Unhealthy || !hs.InStatusSince.Equal(since) || hs.InStatusForMs != 1_800_000 || !hs.EvaluatedAt.Equal(now) ||
			hs.InMaintenance || hs.TransitionsInWindow != 0 || hs.TransitionWindowMinutes != 60 {
			t.Fatalf("%+v", hs)
		}
	})
	t.Run("HS-2 inStatusSince null", func(t *testing.T) {
		hs := NewHealthState(HealthStateInput{Now: now, Status: Healthy})
		if hs.InStatusSince != nil || hs.InStatusForMs != 0 {
			t.Fatalf("%+v", hs)
		}
		if got := mustJSON(t, hs); got != `{"status":"healthy","inStatusSince":null,"inStatusForMs":0,"inMaintenance":false,"transitionsInWindow":0,"transitionWindowMinutes":60,"evaluatedAt":"2026-05-30T12:00:00Z"}` {
			t.Fatalf("json %s", got)
		}
	})
	t.Run("HS-3 future inStatusSince clamps to 0", func(t *testing.T) {
		since := ts(t, "2026-05-30T12:05:00Z")
		hs := NewHealthState(HealthStateInput{Now: now, Status: Degraded, InStatusSince: &since})
		if hs.InStatusForMs != 0 || hs.Status != Degraded {
			t.Fatalf("%+v", hs)
		}
	})
	t.Run("HS-4 pass-through", func(t *testing.T) {
		hs := NewHealthState(HealthStateInput{
			Now: now, Status: Healthy, LatencyMs: intp(42), LastRunAt: &now,
			Metrics:       WindowedMetrics{AvgLatencyMs: intp(50), P95LatencyMs: intp(120), SuccessRate: fp(0.99)},
			InMaintenance: true, TransitionsInWindow: 3, TransitionWindowMinutes: 60,
		})
		if *hs.LatencyMs != 42 || *hs.AvgLatencyMs != 50 || *hs.P95LatencyMs != 120 || *hs.SuccessRate != 0.99 ||
			!hs.LastRunAt.Equal(now) || !hs.InMaintenance || hs.TransitionsInWindow != 3 || hs.TransitionWindowMinutes != 60 {
			t.Fatalf("%+v", hs)
		}
	})
	t.Run("HS-11 transitionWindowMinutes omitted → 60", func(t *testing.T) {
		if hs := NewHealthState(HealthStateInput{Now: now, Status: Healthy}); hs.TransitionWindowMinutes != DefaultTransitionWindowMinutes || DefaultTransitionWindowMinutes != 60 {
			t.Fatalf("%+v", hs)
		}
		if got := TransitionWindowStart(now, 0); !got.Equal(now.Add(-time.Hour)) {
			t.Fatalf("window start %v", got)
		}
		if got := MetricsWindowStart(now); !got.Equal(now.Add(-24 * time.Hour)) {
			t.Fatalf("metrics start %v", got)
		}
	})
	t.Run("HS-10 unknown configuration → healthy", func(t *testing.T) {
		checks := []CheckStatus{{ConfigurationID: "cfg-1", Status: Unhealthy}}
		if CheckScopedStatus(checks, "cfg-x") != Healthy || CheckScopedStatus(checks, "cfg-1") != Unhealthy {
			t.Fatal("check-scoped status")
		}
	})

	metrics := []struct {
		name string
		rows []HourlyMetricsRow
		avg  *int
		p95  *int
		rate *float64
	}{
		{"HS-5 no buckets → all absent", nil, nil, nil, nil},
		{"HS-6 two buckets", []HourlyMetricsRow{{10, 9, intp(1000), intp(100)}, {30, 30, intp(6000), intp(200)}}, intp(175), intp(200), fp(0.975)},
		{"HS-7 bucket without latency excluded from avg", []HourlyMetricsRow{{5, 5, nil, nil}, {5, 4, intp(500), intp(80)}}, intp(100), intp(80), fp(0.9)},
		{"HS-8 no latency at all", []HourlyMetricsRow{{3, 2, nil, nil}}, nil, nil, fp(2.0 / 3.0)},
		{"zero runs → no success rate", []HourlyMetricsRow{{0, 0, nil, nil}}, nil, nil, nil},
		{"avg rounds half up", []HourlyMetricsRow{{2, 2, intp(3), nil}}, intp(2), nil, fp(1)},
	}
	for _, tc := range metrics {
		t.Run(tc.name, func(t *testing.T) {
			m := AggregateWindowedMetrics(tc.rows)
			if !ptrEq(m.AvgLatencyMs, tc.avg) || !ptrEq(m.P95LatencyMs, tc.p95) {
				t.Fatalf("avg %s p95 %s", ptrStr(m.AvgLatencyMs), ptrStr(m.P95LatencyMs))
			}
			if (m.SuccessRate == nil) != (tc.rate == nil) || (m.SuccessRate != nil && *m.SuccessRate != *tc.rate) {
				t.Fatalf("rate %v", m.SuccessRate)
			}
			if tc.rows == nil && mustJSON(t, m) != `{}` {
				t.Fatalf("HS-5 json %s", mustJSON(t, m))
			}
		})
	}
}

func TestInStatusForMs(t *testing.T) {
	now := time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		since *time.Time
		want  int64
	}{
		{"nil", nil, 0},
		{"past", ptrTime(now.Add(-90 * time.Second)), 90_000},
		{"future clamps", ptrTime(now.Add(time.Minute)), 0},
		{"same instant", ptrTime(now), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := InStatusForMs(now, tc.since); got != tc.want {
				t.Fatalf("got %d", got)
			}
		})
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

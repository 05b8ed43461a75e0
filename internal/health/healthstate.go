package health

import (
	"time"
)

// Health-state constants (§6, §18).
const (
	// DefaultTransitionWindowMinutes is the default transitionWindowMinutes.
	DefaultTransitionWindowMinutes = 60
	// MetricsWindow is how far back hourly buckets feed the windowed metrics.
	MetricsWindow = 24 * time.Hour
)

// HourlyMetricsRow is the part of an hourly aggregate row the health state reads.
type HourlyMetricsRow struct {
	RunCount     int
	HealthyCount int
	LatencySumMs *int
	P95LatencyMs *int
}

// WindowedMetrics are the latency and success metrics of the last 24 h (§6).
// A nil field is absent.
type WindowedMetrics struct {
	AvgLatencyMs *int     `json:"avgLatencyMs,omitempty"`
	P95LatencyMs *int     `json:"p95LatencyMs,omitempty"`
	SuccessRate  *float64 `json:"successRate,omitempty"`
}

// AggregateWindowedMetrics combines hourly rows (HS-5…HS-8):
//   - avgLatencyMs = round(Σ latencySum / Σ runCount) over the rows that
//     have a latency sum; absent when none (or their run count is 0);
//   - p95LatencyMs = max of the rows' p95 (an upper bound); absent when none;
//   - successRate = Σ healthy / Σ runs over all rows; absent when Σ runs is 0.
func AggregateWindowedMetrics(rows []HourlyMetricsRow) WindowedMetrics {
	var m WindowedMetrics
	var latSum, latRuns, runs, healthy int64
	hasLat := false
	for _, r := range rows {
		runs += int64(r.RunCount)
		healthy += int64(r.HealthyCount)
		if r.LatencySumMs != nil {
			hasLat = true
			latSum += int64(*r.LatencySumMs)
			latRuns += int64(r.RunCount)
		}
		if r.P95LatencyMs != nil && (m.P95LatencyMs == nil || *r.P95LatencyMs > *m.P95LatencyMs) {
			v := *r.P95LatencyMs
			m.P95LatencyMs = &v
		}
	}
	if hasLat && latRuns > 0 {
		v := int(jsRound(float64(latSum) / float64(latRuns)))
		m.AvgLatencyMs = &v
	}
	if runs > 0 {
		v := float64(healthy) / float64(runs)
		m.SuccessRate = &v
	}
	return m
}

// InStatusForMs is max(0, now − since) in milliseconds; 0 when since is nil
// (clock skew clamps to 0).
func InStatusForMs(now time.Time, since *time.Time) int64 {
	if since == nil {
		return 0
	}
	d := now.Sub(*since).Milliseconds()
	if d < 0 {
		return 0
	}
	return d
}

// HealthState is the health-state provider's answer (§6).
type HealthState struct {
	Status                  Status     `json:"status"`
	InStatusSince           *time.Time `json:"inStatusSince"`
	InStatusForMs           int64      `json:"inStatusForMs"`
	LatencyMs               *int       `json:"latencyMs,omitempty"`
	LastRunAt               *time.Time `json:"lastRunAt,omitempty"`
	AvgLatencyMs            *int       `json:"avgLatencyMs,omitempty"`
	P95LatencyMs            *int       `json:"p95LatencyMs,omitempty"`
	SuccessRate             *float64   `json:"successRate,omitempty"`
	InMaintenance           bool       `json:"inMaintenance"`
	TransitionsInWindow     int        `json:"transitionsInWindow"`
	TransitionWindowMinutes int        `json:"transitionWindowMinutes"`
	EvaluatedAt             time.Time  `json:"evaluatedAt"`
}

// HealthStateInput is what the reads of §6 produced for one system.
type HealthStateInput struct {
	// Now is the shared evaluation time.
	Now time.Time
	// Status is the aggregate (or check-scoped) status.
	Status Status
	// InStatusSince is the newest transition into Status (nil when none).
	InStatusSince *time.Time
	// LatencyMs and LastRunAt describe the newest run (nil when none).
	LatencyMs *int
	LastRunAt *time.Time
	// Metrics are the windowed metrics (see AggregateWindowedMetrics).
	Metrics WindowedMetrics
	// InMaintenance is the maintenance lookup (false when it failed).
	InMaintenance bool
	// TransitionsInWindow is the transition count in the window.
	TransitionsInWindow int
	// TransitionWindowMinutes is the requested window; ≤ 0 means the default 60.
	TransitionWindowMinutes int
}

// NewHealthState assembles a HealthState: inStatusForMs is clamped at 0,
// the transition window defaults to 60 and evaluatedAt is Now.
func NewHealthState(in HealthStateInput) HealthState {
	w := in.TransitionWindowMinutes
	if w <= 0 {
		w = DefaultTransitionWindowMinutes
	}
	return HealthState{
		Status:                  in.Status,
		InStatusSince:           cloneTime(in.InStatusSince),
		InStatusForMs:           InStatusForMs(in.Now, in.InStatusSince),
		LatencyMs:               cloneInt(in.LatencyMs),
		LastRunAt:               cloneTime(in.LastRunAt),
		AvgLatencyMs:            cloneInt(in.Metrics.AvgLatencyMs),
		P95LatencyMs:            cloneInt(in.Metrics.P95LatencyMs),
		SuccessRate:             cloneFloat(in.Metrics.SuccessRate),
		InMaintenance:           in.InMaintenance,
		TransitionsInWindow:     in.TransitionsInWindow,
		TransitionWindowMinutes: w,
		EvaluatedAt:             in.Now,
	}
}

// MetricsWindowStart is the oldest hourly bucket_start included in the metrics: now − 24 h.
func MetricsWindowStart(now time.Time) time.Time { return now.Add(-MetricsWindow) }

// TransitionWindowStart is the oldest transitioned_at counted in a window of minutes.
func TransitionWindowStart(now time.Time, minutes int) time.Time {
	if minutes <= 0 {
		minutes = DefaultTransitionWindowMinutes
	}
	return now.Add(-time.Duration(minutes) * time.Minute)
}

func cloneTime(p *time.Time) *time.Time {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneFloat(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

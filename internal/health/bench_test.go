package health

import (
	"testing"
)

func benchRuns() []Status {
	runs := make([]Status, MaxWindowRuns)
	for i := range runs {
		switch {
		case i%7 == 3:
			runs[i] = Unhealthy
		case i%11 == 5:
			runs[i] = Degraded
		default:
			runs[i] = Healthy
		}
	}
	runs[0], runs[1] = Unhealthy, Unhealthy
	return runs
}

var sinkStatus Status

func BenchmarkEvaluate100Consecutive(b *testing.B) {
	runs := benchRuns()
	th := DefaultThresholds()
	b.ReportAllocs()
	for b.Loop() {
		sinkStatus = Evaluate(runs, &th)
	}
}

func BenchmarkEvaluate100Window(b *testing.B) {
	runs := benchRuns()
	th := Thresholds{Mode: ModeWindow, WindowSize: 100, Degraded: FailureThreshold{10}, Unhealthy: FailureThreshold{30}}
	b.ReportAllocs()
	for b.Loop() {
		sinkStatus = Evaluate(runs, &th)
	}
}

func benchMerger(collectorID string, existing, res map[string]any, run RunSample) (map[string]any, bool) {
	var prevAvg, prevRate map[string]any
	if existing != nil {
		prevAvg, _ = existing["avgResponseTimeMs"].(map[string]any)
		prevRate, _ = existing["successRate"].(map[string]any)
	}
	var rt *float64
	if v, ok := toFloat(res["responseTimeMs"]); ok {
		rt = &v
	}
	return map[string]any{"avgResponseTimeMs": MergeAverage(prevAvg, rt), "successRate": MergeRate(prevRate, run.Status == Healthy)}, true
}

// hourBucket is an hourly bucket after n runs (one a minute → n = 59 for a full hour).
func hourBucket(n int) Bucket {
	var b Bucket
	for i := 0; i < n; i++ {
		b = FoldRun(b, RunSample{Status: Healthy, LatencyMs: intp(100 + i*7%53)}, nil)
	}
	return b
}

var sinkBucket Bucket

// BenchmarkFoldRun folds the 60th run of an hour (latency + t-digest, no collectors).
func BenchmarkFoldRun(b *testing.B) {
	base := hourBucket(59)
	run := RunSample{Status: Healthy, LatencyMs: intp(123)}
	b.ReportAllocs()
	for b.Loop() {
		sinkBucket = FoldRun(base, run, nil)
	}
}

// BenchmarkFoldRunCollectors is BenchmarkFoldRun with one HTTP-like collector merged.
func BenchmarkFoldRunCollectors(b *testing.B) {
	base := hourBucket(59)
	run := RunSample{Status: Healthy, LatencyMs: intp(123), Collectors: map[string]map[string]any{
		"inst-1": {"_collectorId": "healthcheck-http.request", "responseTimeMs": 120.0, "statusCode": 200.0},
	}}
	base = FoldRun(base, run, benchMerger)
	b.ReportAllocs()
	for b.Loop() {
		sinkBucket = FoldRun(base, run, benchMerger)
	}
}

// BenchmarkFoldRunBusyHour folds into a bucket that already holds 3600 runs (one a second).
func BenchmarkFoldRunBusyHour(b *testing.B) {
	base := hourBucket(3600)
	run := RunSample{Status: Healthy, LatencyMs: intp(123)}
	b.ReportAllocs()
	for b.Loop() {
		sinkBucket = FoldRun(base, run, nil)
	}
}

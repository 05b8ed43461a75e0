package health

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func bucketSummary(b Bucket) string {
	return fmt.Sprintf("runs=%d h=%d d=%d u=%d sum=%s avg=%s min=%s max=%s p95=%s",
		b.RunCount, b.HealthyCount, b.DegradedCount, b.UnhealthyCount,
		ptrStr(b.LatencySumMs), ptrStr(b.AvgLatencyMs), ptrStr(b.MinLatencyMs), ptrStr(b.MaxLatencyMs), ptrStr(b.P95LatencyMs))
}

// TestFoldRun covers §16.15 AG-1…AG-3 and the §3.1 upsert semantics.
func TestFoldRun(t *testing.T) {
	fold := func(runs ...RunSample) Bucket {
		var b Bucket
		for _, r := range runs {
			b = FoldRun(b, r, nil)
		}
		return b
	}
	ok := func(l int) RunSample { return RunSample{Status: Healthy, LatencyMs: intp(l)} }
	ag1 := []RunSample{ok(100), ok(200), ok(300)}
	catastrophic := RunSample{Status: Unhealthy}
	tests := []struct {
		name string
		runs []RunSample
		want string
	}{
		{"AG-1 three runs 100/200/300", ag1, "runs=3 h=3 d=0 u=0 sum=600 avg=200 min=100 max=300 p95=300"},
		{"AG-2 catastrophic run leaves latency fields", append(append([]RunSample{}, ag1...), catastrophic), "runs=4 h=3 d=0 u=1 sum=600 avg=200 min=100 max=300 p95=300"},
		{"AG-3 avg divides by all runs (integer division)", append(append([]RunSample{}, ag1...), catastrophic, ok(400)), "runs=5 h=4 d=0 u=1 sum=1000 avg=200 min=100 max=400 p95=400"},
		{"first run without latency inserts NULL latency fields", []RunSample{catastrophic}, "runs=1 h=0 d=0 u=1 sum=nil avg=nil min=nil max=nil p95=nil"},
		{"latency after a latency-less first run", []RunSample{catastrophic, ok(50)}, "runs=2 h=1 d=0 u=1 sum=50 avg=25 min=50 max=50 p95=50"},
		{"integer division truncates (201/2 = 100)", []RunSample{ok(100), ok(101)}, "runs=2 h=2 d=0 u=0 sum=201 avg=100 min=100 max=101 p95=101"},
		{"degraded satellite run counted", []RunSample{{Status: Degraded, LatencyMs: intp(7)}}, "runs=1 h=0 d=1 u=0 sum=7 avg=7 min=7 max=7 p95=7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := bucketSummary(fold(tc.runs...)); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	t.Run("input bucket not modified", func(t *testing.T) {
		b := fold(ag1...)
		before := mustJSON(t, b)
		FoldRun(b, ok(5), nil)
		if mustJSON(t, b) != before {
			t.Fatal("FoldRun modified its input")
		}
	})
	t.Run("t-digest state round-trips through the bucket", func(t *testing.T) {
		var b Bucket
		for i := 1; i <= 100; i++ {
			b = FoldRun(b, ok(i), nil)
		}
		if *b.P95LatencyMs != 96 || len(b.TDigest) != 200 { // interpolated 95.5, rounded half up
			t.Fatalf("p95=%d state=%d", *b.P95LatencyMs, len(b.TDigest))
		}
	})
}

func TestFoldRunCollectors(t *testing.T) {
	merger := func(collectorID string, existing, res map[string]any, run RunSample) (map[string]any, bool) {
		if collectorID != "healthcheck-http.request" {
			return nil, false
		}
		if _, has := res["_collectorId"]; has {
			panic("_collectorId not stripped")
		}
		if _, has := res["_assertionFailed"]; has {
			panic("_assertionFailed not stripped")
		}
		if _, has := existing["_collectorId"]; has {
			panic("existing _collectorId not stripped")
		}
		var rt *float64
		if v, ok := toFloat(res["responseTimeMs"]); ok {
			rt = &v
		}
		var prevAvg, prevRate map[string]any
		if existing != nil {
			prevAvg, _ = existing["avgResponseTimeMs"].(map[string]any)
			prevRate, _ = existing["successRate"].(map[string]any)
		}
		return map[string]any{
			"avgResponseTimeMs": MergeAverage(prevAvg, rt),
			"successRate":       MergeRate(prevRate, run.Status == Healthy),
		}, true
	}
	run := func(status Status, rt float64) RunSample {
		return RunSample{Status: status, LatencyMs: intp(10), Collectors: map[string]map[string]any{
			"inst-1": {"_collectorId": "healthcheck-http.request", "_assertionFailed": "x", "responseTimeMs": rt},
			"inst-2": {"_collectorId": "other.unknown", "v": 1.0},
			"inst-3": {"noCollectorId": true},
		}}
	}
	var b Bucket
	b = FoldRun(b, run(Healthy, 100), merger)
	b = FoldRun(b, run(Unhealthy, 200), merger)
	want := `{"collectors":{"inst-1":{"_collectorId":"healthcheck-http.request","avgResponseTimeMs":{"_count":2,"_sum":300,"_type":"average","avg":150},"successRate":{"_success":1,"_total":2,"_type":"rate","rate":50}}}}`
	if got := mustJSON(t, b.AggregatedResult); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// A run whose collectors produce nothing keeps the earlier entries.
	b2 := FoldRun(b, RunSample{Status: Healthy, Collectors: map[string]map[string]any{"inst-9": {"_collectorId": "other.unknown"}}}, merger)
	if mustJSON(t, b2.AggregatedResult) != want {
		t.Fatalf("entries lost: %s", mustJSON(t, b2.AggregatedResult))
	}
	// With a merger, a run whose collectors are all unknown leaves an empty collectors map (as the reference).
	b3 := FoldRun(Bucket{}, RunSample{Status: Healthy, Collectors: map[string]map[string]any{"inst-9": {"_collectorId": "other.unknown"}}}, merger)
	if got := mustJSON(t, b3.AggregatedResult); got != `{"collectors":{}}` {
		t.Fatalf("unknown-only collectors: %s", got)
	}
	// No collectors and no existing result: stays NULL.
	if FoldRun(Bucket{}, RunSample{Status: Healthy}, merger).AggregatedResult != nil {
		t.Fatal("no collectors produced an aggregated result")
	}
	// nil merger skips collectors.
	if FoldRun(Bucket{}, run(Healthy, 1), nil).AggregatedResult != nil {
		t.Fatal("nil merger produced an aggregated result")
	}
}

func TestHourAndDayStart(t *testing.T) {
	loc := time.FixedZone("plus0530", 5*3600+1800)
	tests := []struct {
		name      string
		in        time.Time
		hour, day string
	}{
		{"utc", time.Date(2026, 5, 30, 10, 59, 59, 999, time.UTC), "2026-05-30T10:00:00Z", "2026-05-30T00:00:00Z"},
		{"half-hour zone floors in UTC", time.Date(2026, 5, 30, 1, 15, 0, 0, loc), "2026-05-29T19:00:00Z", "2026-05-29T00:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := HourStart(tc.in).Format(time.RFC3339Nano); got != tc.hour {
				t.Fatalf("hour %s", got)
			}
			if got := DayStart(tc.in).Format(time.RFC3339Nano); got != tc.day {
				t.Fatalf("day %s", got)
			}
		})
	}
	if got := RollupCutoff(time.Date(2026, 5, 30, 10, 0, 0, 0, time.UTC), 30); !got.Equal(time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("cutoff %v", got)
	}
}

// TestRollupDaily covers §16.15 AG-5 and the §11 rollup math.
func TestRollupDaily(t *testing.T) {
	tests := []struct {
		name   string
		hourly []Bucket
		want   string
	}{
		{"AG-5 two hourly buckets", []Bucket{
			{RunCount: 10, HealthyCount: 10, LatencySumMs: intp(1000), P95LatencyMs: intp(100), MinLatencyMs: intp(20), MaxLatencyMs: intp(150)},
			{RunCount: 30, HealthyCount: 29, UnhealthyCount: 1, LatencySumMs: intp(6000), P95LatencyMs: intp(200), MinLatencyMs: intp(10), MaxLatencyMs: intp(300)},
		}, "runs=40 h=39 d=0 u=1 sum=7000 avg=175 min=10 max=300 p95=200"},
		{"NULL sum falls back to avg·runCount", []Bucket{
			{RunCount: 4, HealthyCount: 4, AvgLatencyMs: intp(50)},
			{RunCount: 2, HealthyCount: 2, LatencySumMs: intp(101)},
		}, "runs=6 h=6 d=0 u=0 sum=301 avg=50 min=nil max=nil p95=nil"},
		{"no latency keeps sum and avg NULL", []Bucket{{RunCount: 3, UnhealthyCount: 3}}, "runs=3 h=0 d=0 u=3 sum=nil avg=nil min=nil max=nil p95=nil"},
		{"empty", nil, "runs=0 h=0 d=0 u=0 sum=nil avg=nil min=nil max=nil p95=nil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RollupDaily(tc.hourly)
			if s := bucketSummary(got); s != tc.want {
				t.Fatalf("got  %s\nwant %s", s, tc.want)
			}
			if got.AggregatedResult != nil || got.TDigest != nil {
				t.Fatal("aggregated result / digest must not be carried")
			}
		})
	}
}

func TestUpsertDaily(t *testing.T) {
	existing := Bucket{RunCount: 10, HealthyCount: 10, LatencySumMs: intp(1000), AvgLatencyMs: intp(100), MinLatencyMs: intp(5), MaxLatencyMs: intp(300), P95LatencyMs: intp(250)}
	tests := []struct {
		name             string
		existing, rolled Bucket
		want             string
	}{
		{"no row → rolled", Bucket{}, Bucket{RunCount: 2, HealthyCount: 2, LatencySumMs: intp(20)}, "runs=2 h=2 d=0 u=0 sum=20 avg=nil min=nil max=nil p95=nil"},
		{"conflict adds, integer-division avg, LEAST/GREATEST", existing,
			Bucket{RunCount: 5, UnhealthyCount: 5, LatencySumMs: intp(999), MinLatencyMs: intp(1), MaxLatencyMs: intp(200), P95LatencyMs: intp(400)},
			"runs=15 h=10 d=0 u=5 sum=1999 avg=133 min=1 max=300 p95=400"},
		{"conflict without latency keeps sum/avg and bounds", existing, Bucket{RunCount: 5, UnhealthyCount: 5},
			"runs=15 h=10 d=0 u=5 sum=1000 avg=100 min=5 max=300 p95=250"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := bucketSummary(UpsertDaily(tc.existing, tc.rolled)); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestP95NearestRank(t *testing.T) {
	seq := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = n - i // descending: must be sorted first
		}
		return out
	}
	tests := []struct {
		name string
		in   []int
		want *int
	}{
		{"empty", nil, nil},
		{"one", []int{7}, intp(7)},
		{"three", []int{300, 100, 200}, intp(300)},
		{"20 values → index 18", seq(20), intp(19)},
		{"100 values → index 94", seq(100), intp(95)},
		{"21 values → index 19", seq(21), intp(20)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]int(nil), tc.in...)
			if got := P95NearestRank(tc.in); !ptrEq(got, tc.want) {
				t.Fatalf("got %s", ptrStr(got))
			}
			deepEqual(t, tc.in, in)
		})
	}
}

func TestCombineBuckets(t *testing.T) {
	a := Bucket{RunCount: 2, HealthyCount: 2, LatencySumMs: intp(30), MinLatencyMs: intp(10), MaxLatencyMs: intp(20), P95LatencyMs: intp(20),
		AggregatedResult: map[string]any{"collectors": map[string]any{"c": map[string]any{"_collectorId": "x", "n": MergeCounter(nil, 2)}}}}
	b := Bucket{RunCount: 1, UnhealthyCount: 1}
	c := Bucket{RunCount: 1, DegradedCount: 1, LatencySumMs: intp(5), MinLatencyMs: intp(5), MaxLatencyMs: intp(5), P95LatencyMs: intp(5),
		AggregatedResult: map[string]any{"collectors": map[string]any{"c": map[string]any{"_collectorId": "x", "n": MergeCounter(nil, 1)}}}}
	got := CombineBuckets(a, b, c)
	if s := bucketSummary(got); s != "runs=4 h=2 d=1 u=1 sum=35 avg=9 min=5 max=20 p95=20" {
		t.Fatalf("got %s", s)
	}
	if j := mustJSON(t, got.AggregatedResult); j != `{"collectors":{"c":{"_collectorId":"x","n":{"_type":"counter","count":3}}}}` {
		t.Fatalf("aggregated %s", j)
	}
	if s := bucketSummary(CombineBuckets(b, b)); s != "runs=2 h=0 d=0 u=2 sum=nil avg=nil min=nil max=nil p95=nil" {
		t.Fatalf("no latency: %s", s)
	}
}

func TestTDigest(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		var d TDigest
		if !math.IsNaN(d.Quantile(0.5)) || d.State() != nil || d.Count() != 0 {
			t.Fatal("empty digest")
		}
	})
	t.Run("small sets interpolate between centroid centres", func(t *testing.T) {
		tests := []struct {
			vals []float64
			q    float64
			want float64
		}{
			{[]float64{100, 200, 300}, 0.95, 300},
			{[]float64{100, 200, 300}, 0.5, 200},
			{[]float64{100, 200, 300, 400}, 0.5, 250},
			{[]float64{100, 200}, 0.5, 150},
			{[]float64{42}, 0.95, 42},
			{[]float64{1, 1, 1, 9}, 0.25, 1},
		}
		for _, tc := range tests {
			d := &TDigest{}
			for _, v := range tc.vals {
				d.Add(v, 1)
			}
			if got := d.Quantile(tc.q); got != tc.want {
				t.Errorf("%v q%.2f = %v want %v", tc.vals, tc.q, got, tc.want)
			}
		}
	})
	t.Run("equal values share a centroid and invalid pairs are skipped", func(t *testing.T) {
		d := TDigestFromState([]float64{5, 1, 5, 2, math.NaN(), 1, 7, 0, 9, -1, 3})
		deepEqual(t, d.State(), []float64{5, 3})
	})
	t.Run("compression keeps the digest small and accurate", func(t *testing.T) {
		d := &TDigest{}
		n := 20000
		for i := 0; i < n; i++ {
			// deterministic permutation of 0..n-1
			d.Add(float64((i*7919)%n), 1)
		}
		if c := len(d.Centroids()); c > TDigestMaxCentroids {
			t.Fatalf("%d centroids", c)
		}
		if d.Count() != float64(n) {
			t.Fatalf("count %v", d.Count())
		}
		p95 := d.Quantile(0.95)
		if math.Abs(p95-0.95*float64(n)) > 0.005*float64(n) {
			t.Fatalf("p95 %v", p95)
		}
		// serialisation round trip gives the same quantiles
		back := TDigestFromState(d.State())
		if back.Quantile(0.95) != p95 || back.Count() != d.Count() {
			t.Fatalf("round trip %v vs %v", back.Quantile(0.95), p95)
		}
	})
	t.Run("merge", func(t *testing.T) {
		a, b := &TDigest{}, &TDigest{}
		for i := 1; i <= 50; i++ {
			a.Add(float64(i), 1)
			b.Add(float64(i+50), 1)
		}
		a.Merge(b)
		if a.Count() != 100 || a.Quantile(0.95) != 95.5 {
			t.Fatalf("merged count %v p95 %v", a.Count(), a.Quantile(0.95))
		}
	})
}

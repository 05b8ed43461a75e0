package health

import (
	"fmt"
	"testing"
	"time"
)

func TestBucketInterval(t *testing.T) {
	base := time.Date(2026, 5, 30, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		span    time.Duration
		points  int
		want    time.Duration
		seconds int
	}{
		{"24h/500", 24 * time.Hour, 500, 172800 * time.Millisecond, 173},
		{"1 s minimum", time.Minute, 500, time.Second, 1},
		{"default points", 500 * time.Minute, 0, time.Minute, 60},
		{"inverted range", -time.Hour, 10, time.Second, 1},
		{"7d/2000", 7 * 24 * time.Hour, 2000, 302400 * time.Millisecond, 302},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := BucketInterval(base, base.Add(tc.span), tc.points)
			if got != tc.want || IntervalSeconds(got) != tc.seconds {
				t.Fatalf("interval %v (%d s)", got, IntervalSeconds(got))
			}
		})
	}
}

func TestBucketRawRuns(t *testing.T) {
	start := time.Date(2026, 5, 30, 10, 0, 0, 0, time.UTC)
	runs := []RawRun{
		{Timestamp: start.Add(14 * time.Minute), Status: Unhealthy},
		{Timestamp: start.Add(1 * time.Minute), Status: Healthy, LatencyMs: intp(100)},
		{Timestamp: start.Add(2 * time.Minute), Status: Degraded, LatencyMs: intp(201)},
		{Timestamp: start.Add(31 * time.Minute), Status: Healthy, LatencyMs: intp(5)},
	}
	got := BucketRawRuns(runs, start, 15*time.Minute)
	var lines []string
	for _, b := range got {
		lines = append(lines, fmt.Sprintf("%s-%s %s %s", b.Start.Format("15:04"), b.End.Format("15:04"), b.Tier, bucketSummary(b.Bucket)))
	}
	want := []string{
		"10:00-10:15 raw runs=3 h=1 d=1 u=1 sum=301 avg=151 min=100 max=201 p95=201",
		"10:30-10:45 raw runs=1 h=1 d=0 u=0 sum=5 avg=5 min=5 max=5 p95=5",
	}
	deepEqual(t, lines, want)
	if runs[0].Status != Unhealthy {
		t.Fatal("input reordered")
	}
}

// TestMergeTiers covers §16.15 AG-4: raw > hourly > daily.
func TestMergeTiers(t *testing.T) {
	day := time.Date(2026, 5, 30, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	var raw []RawRun
	for m := 0; m < 60; m += 10 {
		raw = append(raw, RawRun{Timestamp: at(10, m), Status: Healthy, LatencyMs: intp(10)})
	}
	hourly := []HistoryBucket{
		{Start: at(9, 0), Bucket: Bucket{RunCount: 60, HealthyCount: 60}},
		{Start: at(10, 0), Bucket: Bucket{RunCount: 60, HealthyCount: 60}},
	}
	daily := []HistoryBucket{
		{Start: day, Bucket: Bucket{RunCount: 1000, HealthyCount: 1000}},                      // overlaps raw/hourly → dropped
		{Start: day.Add(-24 * time.Hour), Bucket: Bucket{RunCount: 1440, HealthyCount: 1440}}, // previous day → kept
	}
	// 50 h / 500 points = 6-minute buckets aligned to the hour, so raw
	// coverage of 10:00–10:59 does not reach into 09:00–10:00.
	start, end := day.Add(-24*time.Hour), day.Add(26*time.Hour)
	interval := BucketInterval(start, end, 500)
	rawBuckets := BucketRawRuns(raw, start, interval)

	t.Run("AG-4 raw wins over the overlapping hourly bucket; 09:00 hourly kept", func(t *testing.T) {
		merged := MergeTiers(rawBuckets, hourly, daily)
		var hourlyKept, dailyKept []string
		rawRuns := 0
		for _, b := range merged {
			switch b.Tier {
			case TierHourly:
				hourlyKept = append(hourlyKept, b.Start.Format("15:04"))
				if !b.End.Equal(b.Start.Add(time.Hour)) {
					t.Fatalf("hourly end %v", b.End)
				}
			case TierDaily:
				dailyKept = append(dailyKept, b.Start.Format("01-02"))
			case TierRaw:
				rawRuns += b.RunCount
			}
		}
		deepEqual(t, hourlyKept, []string{"09:00"})
		deepEqual(t, dailyKept, []string{"05-29"})
		if rawRuns != 6 {
			t.Fatalf("raw runs %d", rawRuns)
		}
		for i := 1; i < len(merged); i++ {
			if merged[i].Start.Before(merged[i-1].Start) {
				t.Fatal("not sorted")
			}
		}
	})
	t.Run("AG-4 full pipeline totals", func(t *testing.T) {
		points, secs := AggregatedHistory(raw, hourly, daily, start, end, 500, nil)
		total := 0
		for _, p := range points {
			total += p.RunCount
			if p.AggregatedResult != nil {
				t.Fatal("non-detailed history carries aggregatedResult")
			}
		}
		if total != 1440+60+6 || secs != 360 {
			t.Fatalf("total %d secs %d", total, secs)
		}
		if last := points[len(points)-1]; !last.BucketEnd.Equal(end) {
			t.Fatalf("last bucket end %v", last.BucketEnd)
		}
	})
}

func TestRebucket(t *testing.T) {
	start := time.Date(2026, 5, 30, 0, 0, 0, 0, time.UTC)
	end := start.Add(100 * time.Minute)
	b := func(min int, runs, healthy int, sum, p95 *int) HistoryBucket {
		return HistoryBucket{Start: start.Add(time.Duration(min) * time.Minute), End: start.Add(time.Duration(min+1) * time.Minute), Tier: TierRaw,
			Bucket: Bucket{RunCount: runs, HealthyCount: healthy, UnhealthyCount: runs - healthy, LatencySumMs: sum, MinLatencyMs: p95, MaxLatencyMs: p95, P95LatencyMs: p95}}
	}
	in := []HistoryBucket{
		b(25, 1, 1, intp(30), intp(30)),
		b(0, 2, 2, intp(20), intp(12)),
		b(5, 1, 0, nil, nil),
		b(12, 1, 1, intp(7), intp(7)),
		{Start: start.Add(60 * time.Minute), Tier: TierHourly, Bucket: Bucket{RunCount: 4, HealthyCount: 3, UnhealthyCount: 1, LatencySumMs: intp(41), P95LatencyMs: intp(50)}},
	}
	out, secs := Rebucket(in, start, end, 10) // 10-minute buckets
	if secs != 600 {
		t.Fatalf("secs %d", secs)
	}
	var lines []string
	for _, o := range out {
		lines = append(lines, fmt.Sprintf("%s-%s %q %s", o.Start.Format("15:04"), o.End.Format("15:04"), o.Tier, bucketSummary(o.Bucket)))
	}
	deepEqual(t, lines, []string{
		`00:00-00:10 "raw" runs=3 h=2 d=0 u=1 sum=20 avg=7 min=12 max=12 p95=12`,
		`00:10-00:20 "raw" runs=1 h=1 d=0 u=0 sum=7 avg=7 min=7 max=7 p95=7`,
		`00:20-00:30 "raw" runs=1 h=1 d=0 u=0 sum=30 avg=30 min=30 max=30 p95=30`,
		`01:00-01:40 "hourly" runs=4 h=3 d=0 u=1 sum=41 avg=10 min=nil max=nil p95=50`,
	})
	pts := Points(out, secs, true)
	if pts[0].SuccessRate != 2.0/3.0 || *pts[0].AvgLatencyMs != 7 || pts[0].BucketIntervalSeconds != 600 {
		t.Fatalf("point %+v", pts[0])
	}
	if Points([]HistoryBucket{{}}, 1, false)[0].SuccessRate != 0 {
		t.Fatal("empty bucket success rate")
	}
	mixed, _ := Rebucket([]HistoryBucket{b(0, 1, 1, nil, nil), {Start: start, Tier: TierHourly, Bucket: Bucket{RunCount: 1}}}, start, end, 10)
	if len(mixed) != 1 || mixed[0].Tier != "" || mixed[0].RunCount != 2 {
		t.Fatalf("mixed %+v", mixed)
	}
}

func TestBucketRawRunsWithCollectors(t *testing.T) {
	start := time.Date(2026, 5, 30, 0, 0, 0, 0, time.UTC)
	merge := func(id string, existing, res map[string]any, run RunSample) (map[string]any, bool) {
		var prev map[string]any
		if existing != nil {
			prev, _ = existing["runs"].(map[string]any)
		}
		return map[string]any{"runs": MergeCounter(prev, 1)}, true
	}
	runs := []RawRun{
		{Timestamp: start.Add(time.Second), Status: Healthy, Collectors: map[string]map[string]any{"i": {"_collectorId": "c"}}},
		{Timestamp: start.Add(2 * time.Second), Status: Healthy, Collectors: map[string]map[string]any{"i": {"_collectorId": "c"}}},
	}
	points, _ := AggregatedHistory(runs, nil, nil, start, start.Add(time.Hour), 10, merge)
	if len(points) != 1 || mustJSON(t, points[0].AggregatedResult) != `{"collectors":{"i":{"_collectorId":"c","runs":{"_type":"counter","count":2}}}}` {
		t.Fatalf("points %s", mustJSON(t, points))
	}
}

func TestRebucketEdges(t *testing.T) {
	start := time.Date(2026, 5, 30, 0, 0, 0, 0, time.UTC)
	end := start.Add(100 * time.Minute)
	in := []HistoryBucket{
		{Start: start.Add(-5 * time.Minute), End: start.Add(-4 * time.Minute), Tier: TierRaw, Bucket: Bucket{RunCount: 1}},
		{Start: start.Add(95 * time.Minute), End: start.Add(96 * time.Minute), Tier: TierRaw, Bucket: Bucket{RunCount: 2}},
	}
	out, _ := Rebucket(in, start, end, 10)
	if len(out) != 2 {
		t.Fatalf("buckets %d", len(out))
	}
	if !out[0].Start.Equal(start.Add(-10*time.Minute)) || out[0].RunCount != 1 {
		t.Fatalf("before-start bucket floors to index -1: %+v", out[0])
	}
	if !out[1].Start.Equal(start.Add(90*time.Minute)) || !out[1].End.Equal(end) || out[1].RunCount != 2 {
		t.Fatalf("last bucket %+v", out[1])
	}
	// The last bucket never shrinks below its natural end (a bucket past the range end).
	late := []HistoryBucket{{Start: start.Add(96 * time.Minute), Tier: TierHourly, Bucket: Bucket{RunCount: 1}}}
	shortEnd := start.Add(95*time.Minute + 30*time.Second)
	out, _ = Rebucket(late, start, shortEnd, 10)
	iv := BucketInterval(start, shortEnd, 10)
	if len(out) != 1 || !out[0].End.Equal(out[0].Start.Add(iv)) || !out[0].End.After(shortEnd) {
		t.Fatalf("natural end kept: %+v", out)
	}
	if got, _ := Rebucket(nil, start, end, 10); len(got) != 0 {
		t.Fatal("empty input")
	}
}

package health

import (
	"sort"
	"time"
)

// Tier is the storage tier a history bucket came from.
type Tier string

// History tiers, in priority order (raw > hourly > daily).
const (
	TierRaw    Tier = "raw"
	TierHourly Tier = "hourly"
	TierDaily  Tier = "daily"
)

// Aggregated-history request bounds (§3.2, §13).
const (
	DefaultTargetPoints = 500
	MinTargetPoints     = 10
	MaxTargetPoints     = 2000
	// MinBucketInterval is the smallest re-bucketing interval.
	MinBucketInterval = time.Second
)

// HistoryBucket is a bucket on the time axis: [Start, End) plus its aggregate.
type HistoryBucket struct {
	Start time.Time `json:"bucketStart"`
	End   time.Time `json:"bucketEnd"`
	// Tier is the tier the bucket came from ("" once tiers were mixed by Rebucket).
	Tier Tier `json:"tier,omitempty"`
	Bucket
}

// RawRun is one raw run for on-read bucketing.
type RawRun struct {
	Timestamp time.Time
	Status    Status
	LatencyMs *int
	// Collectors is result.metadata.collectors (only used by BucketRawRunsWith).
	Collectors map[string]map[string]any
}

// BucketInterval is the re-bucketing interval of §3.2 step 1:
// max((end − start) / targetPoints, 1 s); targetPoints ≤ 0 means 500.
func BucketInterval(start, end time.Time, targetPoints int) time.Duration {
	if targetPoints <= 0 {
		targetPoints = DefaultTargetPoints
	}
	iv := end.Sub(start) / time.Duration(targetPoints)
	if iv < MinBucketInterval {
		iv = MinBucketInterval
	}
	return iv
}

// IntervalSeconds is round(interval in ms / 1000) as the reference reports it.
func IntervalSeconds(interval time.Duration) int {
	return int(jsRound(float64(interval) / float64(time.Second)))
}

// bucketIndex is floor((t − start) / interval) (negative before start, like Math.floor).
func bucketIndex(t, start time.Time, interval time.Duration) int64 {
	d := t.Sub(start)
	idx := int64(d / interval)
	if d < 0 && d%interval != 0 {
		idx--
	}
	return idx
}

// BucketRawRuns groups raw runs into buckets aligned to start (§3.2 step 3):
// index = floor((t − start) / interval); per bucket the status counts and
// the latency stats of the runs that have a latency: sum, avg = round(sum/n),
// min, max and the nearest-rank p95. Buckets are returned in time order.
func BucketRawRuns(runs []RawRun, start time.Time, interval time.Duration) []HistoryBucket {
	return BucketRawRunsWith(runs, start, interval, nil)
}

// BucketRawRunsWith is BucketRawRuns that also folds the runs' collector
// results (in time order) into each bucket's aggregatedResult through merge,
// for the detailed history. (Strategy-level mergeResult is not applied.)
func BucketRawRunsWith(runs []RawRun, start time.Time, interval time.Duration, merge CollectorMerger) []HistoryBucket {
	if interval <= 0 {
		interval = MinBucketInterval
	}
	order := make([]int, len(runs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return runs[order[a]].Timestamp.Before(runs[order[b]].Timestamp) })
	type acc struct {
		b         Bucket
		latencies []int
	}
	groups := map[int64]*acc{}
	var idxs []int64
	for _, i := range order {
		r := runs[i]
		idx := bucketIndex(r.Timestamp, start, interval)
		g, ok := groups[idx]
		if !ok {
			g = &acc{}
			groups[idx] = g
			idxs = append(idxs, idx)
		}
		g.b.RunCount++
		switch r.Status {
		case Healthy:
			g.b.HealthyCount++
		case Degraded:
			g.b.DegradedCount++
		case Unhealthy:
			g.b.UnhealthyCount++
		}
		if r.LatencyMs != nil {
			g.latencies = append(g.latencies, *r.LatencyMs)
		}
		if ar, ok := mergeCollectors(g.b.AggregatedResult, RunSample{Status: r.Status, LatencyMs: r.LatencyMs, Collectors: r.Collectors}, merge); ok {
			g.b.AggregatedResult = ar
		}
	}
	sort.Slice(idxs, func(a, b int) bool { return idxs[a] < idxs[b] })
	out := make([]HistoryBucket, 0, len(idxs))
	for _, idx := range idxs {
		g := groups[idx]
		if n := len(g.latencies); n > 0 {
			sum, lo, hi := 0, g.latencies[0], g.latencies[0]
			for _, l := range g.latencies {
				sum += l
				lo = min(lo, l)
				hi = max(hi, l)
			}
			avg := int(jsRound(float64(sum) / float64(n)))
			g.b.LatencySumMs, g.b.AvgLatencyMs, g.b.MinLatencyMs, g.b.MaxLatencyMs = &sum, &avg, &lo, &hi
			g.b.P95LatencyMs = P95NearestRank(g.latencies)
		}
		s := start.Add(time.Duration(idx) * interval)
		out = append(out, HistoryBucket{Start: s, End: s.Add(interval), Tier: TierRaw, Bucket: g.b})
	}
	return out
}

func overlaps(a HistoryBucket, cover []HistoryBucket) bool {
	for _, c := range cover {
		if a.Start.Before(c.End) && c.Start.Before(a.End) {
			return true
		}
	}
	return false
}

func withTier(b HistoryBucket, tier Tier, span time.Duration) HistoryBucket {
	b.Tier = tier
	if b.End.IsZero() || !b.End.After(b.Start) {
		b.End = b.Start.Add(span)
	}
	return b
}

// MergeTiers merges the three tiers with priority raw > hourly > daily
// (§3.2 step 4): every raw bucket is kept; an hourly bucket is kept when it
// overlaps no raw bucket; a daily bucket when it overlaps no raw and no
// hourly bucket (kept or not). Overlap is of half-open [Start, End) ranges.
// Hourly and daily buckets with a zero End span 1 h and 24 h. The result is
// sorted by start (ties: raw, hourly, daily), with Tier set.
func MergeTiers(raw, hourly, daily []HistoryBucket) []HistoryBucket {
	out := make([]HistoryBucket, 0, len(raw)+len(hourly)+len(daily))
	for _, b := range raw {
		out = append(out, withTier(b, TierRaw, MinBucketInterval))
	}
	rawCover := out[:len(out):len(out)]
	hourlyCover := make([]HistoryBucket, 0, len(hourly))
	for _, b := range hourly {
		b = withTier(b, TierHourly, time.Hour)
		hourlyCover = append(hourlyCover, b)
		if !overlaps(b, rawCover) {
			out = append(out, b)
		}
	}
	for _, b := range daily {
		b = withTier(b, TierDaily, 24*time.Hour)
		if !overlaps(b, rawCover) && !overlaps(b, hourlyCover) {
			out = append(out, b)
		}
	}
	prio := map[Tier]int{TierRaw: 0, TierHourly: 1, TierDaily: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return prio[out[i].Tier] < prio[out[j].Tier]
	})
	return out
}

// Rebucket re-aggregates merged buckets into target buckets of
// BucketInterval(start, end, targetPoints) (§3.2 step 5): buckets are grouped
// by floor((bucketStart − start) / interval) and combined with
// CombineBuckets; each target bucket spans [start + i·interval,
// start + (i+1)·interval) except the last (highest index), whose end is
// extended to the range end when that is later.
// It also returns the interval in seconds as reported to clients.
func Rebucket(buckets []HistoryBucket, start, end time.Time, targetPoints int) (out []HistoryBucket, intervalSeconds int) {
	interval := BucketInterval(start, end, targetPoints)
	intervalSeconds = IntervalSeconds(interval)
	sorted := append([]HistoryBucket(nil), buckets...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	groups := map[int64][]HistoryBucket{}
	var idxs []int64
	for _, b := range sorted {
		idx := bucketIndex(b.Start, start, interval)
		if _, ok := groups[idx]; !ok {
			idxs = append(idxs, idx)
		}
		groups[idx] = append(groups[idx], b)
	}
	sort.Slice(idxs, func(a, b int) bool { return idxs[a] < idxs[b] })
	out = make([]HistoryBucket, 0, len(idxs))
	for _, idx := range idxs {
		members := groups[idx]
		parts := make([]Bucket, len(members))
		tier := members[0].Tier
		for i, m := range members {
			parts[i] = m.Bucket
			if m.Tier != tier {
				tier = ""
			}
		}
		s := start.Add(time.Duration(idx) * interval)
		out = append(out, HistoryBucket{Start: s, End: s.Add(interval), Tier: tier, Bucket: CombineBuckets(parts...)})
	}
	if n := len(out); n > 0 && end.After(out[n-1].End) {
		out[n-1].End = end
	}
	return out, intervalSeconds
}

// HistoryPoint is one bucket of getAggregatedHistory's answer (§3.2 step 6).
type HistoryPoint struct {
	BucketStart           time.Time      `json:"bucketStart"`
	BucketEnd             time.Time      `json:"bucketEnd"`
	BucketIntervalSeconds int            `json:"bucketIntervalSeconds"`
	RunCount              int            `json:"runCount"`
	HealthyCount          int            `json:"healthyCount"`
	DegradedCount         int            `json:"degradedCount"`
	UnhealthyCount        int            `json:"unhealthyCount"`
	SuccessRate           float64        `json:"successRate"`
	AvgLatencyMs          *int           `json:"avgLatencyMs,omitempty"`
	MinLatencyMs          *int           `json:"minLatencyMs,omitempty"`
	MaxLatencyMs          *int           `json:"maxLatencyMs,omitempty"`
	P95LatencyMs          *int           `json:"p95LatencyMs,omitempty"`
	AggregatedResult      map[string]any `json:"aggregatedResult,omitempty"`
}

// Points renders re-bucketed buckets for clients: successRate =
// healthy/runCount (0 when empty), avg = round(latencySum/runCount) when a
// sum is present. aggregatedResult is included only when detailed.
func Points(buckets []HistoryBucket, intervalSeconds int, detailed bool) []HistoryPoint {
	out := make([]HistoryPoint, len(buckets))
	for i, b := range buckets {
		p := HistoryPoint{
			BucketStart: b.Start, BucketEnd: b.End, BucketIntervalSeconds: intervalSeconds,
			RunCount: b.RunCount, HealthyCount: b.HealthyCount, DegradedCount: b.DegradedCount, UnhealthyCount: b.UnhealthyCount,
			SuccessRate:  b.SuccessRate(),
			MinLatencyMs: cloneInt(b.MinLatencyMs), MaxLatencyMs: cloneInt(b.MaxLatencyMs), P95LatencyMs: cloneInt(b.P95LatencyMs),
		}
		if b.LatencySumMs != nil && b.RunCount > 0 {
			a := int(jsRound(float64(*b.LatencySumMs) / float64(b.RunCount)))
			p.AvgLatencyMs = &a
		}
		if detailed {
			p.AggregatedResult = copyMap(b.AggregatedResult)
		}
		out[i] = p
	}
	return out
}

// AggregatedHistory runs the whole on-read pipeline of §3.2: raw runs are
// bucketed at the target interval, merged with the hourly and daily tiers,
// re-bucketed and rendered. merge != nil produces the detailed variant
// (with aggregatedResult).
func AggregatedHistory(raw []RawRun, hourly, daily []HistoryBucket, start, end time.Time, targetPoints int, merge CollectorMerger) (points []HistoryPoint, intervalSeconds int) {
	interval := BucketInterval(start, end, targetPoints)
	rawBuckets := BucketRawRunsWith(raw, start, interval, merge)
	merged := MergeTiers(rawBuckets, hourly, daily)
	out, secs := Rebucket(merged, start, end, targetPoints)
	return Points(out, secs, merge != nil), secs
}

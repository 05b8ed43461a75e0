package health

import (
	"math"
	"sort"
	"time"
)

// Bucket is one aggregate bucket (an hourly or daily row of
// health_check_aggregates, or a history bucket). Nil pointers are SQL NULLs.
type Bucket struct {
	RunCount       int  `json:"runCount"`
	HealthyCount   int  `json:"healthyCount"`
	DegradedCount  int  `json:"degradedCount"`
	UnhealthyCount int  `json:"unhealthyCount"`
	LatencySumMs   *int `json:"latencySumMs,omitempty"`
	AvgLatencyMs   *int `json:"avgLatencyMs,omitempty"`
	MinLatencyMs   *int `json:"minLatencyMs,omitempty"`
	MaxLatencyMs   *int `json:"maxLatencyMs,omitempty"`
	P95LatencyMs   *int `json:"p95LatencyMs,omitempty"`
	// TDigest is the serialised t-digest [mean, n, mean, n, …] (hourly rows only).
	TDigest []float64 `json:"tdigest,omitempty"`
	// AggregatedResult is {"collectors":{<instanceId>:{"_collectorId":…, …state…}}}.
	AggregatedResult map[string]any `json:"aggregatedResult,omitempty"`
}

// Clone deep-copies the bucket.
func (b Bucket) Clone() Bucket {
	c := b
	c.LatencySumMs = cloneInt(b.LatencySumMs)
	c.AvgLatencyMs = cloneInt(b.AvgLatencyMs)
	c.MinLatencyMs = cloneInt(b.MinLatencyMs)
	c.MaxLatencyMs = cloneInt(b.MaxLatencyMs)
	c.P95LatencyMs = cloneInt(b.P95LatencyMs)
	if b.TDigest != nil {
		c.TDigest = append([]float64(nil), b.TDigest...)
	}
	c.AggregatedResult = copyMap(b.AggregatedResult)
	return c
}

// SuccessRate is healthy/runCount (0 for an empty bucket, §3.4).
func (b Bucket) SuccessRate() float64 {
	if b.RunCount == 0 {
		return 0
	}
	return float64(b.HealthyCount) / float64(b.RunCount)
}

// RunSample is one run as the hourly fold sees it.
type RunSample struct {
	Status Status
	// LatencyMs is nil for catastrophic failures.
	LatencyMs *int
	// Collectors is result.metadata.collectors: instance id → collector result
	// ({"_collectorId":…, "_assertionFailed"?, "_collectorError"?, …fields}).
	Collectors map[string]map[string]any
}

// CollectorMerger is a collector's mergeResult: given the collector type id
// (the entry's _collectorId), the existing aggregate state of that collector
// instance (nil on the first run; _collectorId removed) and this run's
// collector result (_collectorId and _assertionFailed removed), it returns
// the new aggregate state. ok = false means the collector is unknown or has
// no mergeResult: the instance is skipped and its earlier state kept.
type CollectorMerger func(collectorID string, existing map[string]any, collectorResult map[string]any, run RunSample) (state map[string]any, ok bool)

// HourStart floors t to the hour in UTC.
func HourStart(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// DayStart is UTC midnight of t's UTC day.
func DayStart(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
}

// FoldRun folds one run into its hourly bucket with the exact §3.1
// upsert semantics (b is the existing row; RunCount 0 means "no row yet"):
//   - run_count and the status counter (healthy/degraded/unhealthy) increase;
//   - with a latency: latency_sum += latency; avg = latency_sum / run_count in
//     integer division over ALL runs of the bucket (latency-less runs
//     included); min/max updated; the latency is pushed into the t-digest
//     and p95 = round(quantile 0.95);
//   - without a latency: all latency fields stay as they are (NULL on the first run);
//   - collector aggregates are merged through merge (nil merge skips them and
//     keeps aggregatedResult as it is): aggregatedResult.collectors[instanceId]
//     = {"_collectorId":…, …state}; entries of earlier runs are kept;
//     instances are visited in sorted id order. With a merger, a run that
//     carries collector results always leaves {"collectors":{…}} (possibly
//     empty) behind, as the reference does.
//
// b is not modified.
func FoldRun(b Bucket, run RunSample, merge CollectorMerger) Bucket {
	first := b.RunCount <= 0
	var out Bucket
	if !first {
		ar := b.AggregatedResult
		b.AggregatedResult = nil // copied below only when the merge does not replace it
		out = b.Clone()
		b.AggregatedResult = ar
	}
	out.RunCount++
	switch run.Status {
	case Healthy:
		out.HealthyCount++
	case Degraded:
		out.DegradedCount++
	case Unhealthy:
		out.UnhealthyCount++
	}
	if run.LatencyMs != nil {
		l := *run.LatencyMs
		sum := l
		avg := l
		if !first {
			if out.LatencySumMs != nil {
				sum += *out.LatencySumMs
			}
			avg = sum / out.RunCount
		}
		out.LatencySumMs = &sum
		out.AvgLatencyMs = &avg
		lo, hi := l, l
		if !first && out.MinLatencyMs != nil && *out.MinLatencyMs < lo {
			lo = *out.MinLatencyMs
		}
		if !first && out.MaxLatencyMs != nil && *out.MaxLatencyMs > hi {
			hi = *out.MaxLatencyMs
		}
		out.MinLatencyMs, out.MaxLatencyMs = &lo, &hi
		var d *TDigest
		if first {
			d = &TDigest{}
		} else {
			d = TDigestFromState(out.TDigest)
		}
		d.Add(float64(l), 1)
		p95 := int(jsRound(d.Quantile(0.95)))
		out.P95LatencyMs = &p95
		out.TDigest = d.State()
	}
	if ar, ok := mergeCollectors(b.AggregatedResult, run, merge); ok {
		out.AggregatedResult = ar
	} else {
		out.AggregatedResult = copyMap(b.AggregatedResult)
	}
	return out
}

// mergeCollectors folds the run's collector results into an aggregated
// result (§3.3 real-time merge). ok is false when the aggregated result stays
// as it is: no merger, or neither collector results nor an existing result.
// Otherwise the result is {"collectors": existing entries + merged ones}
// (possibly empty), as the reference writes it.
func mergeCollectors(aggregated map[string]any, run RunSample, merge CollectorMerger) (map[string]any, bool) {
	if merge == nil || (len(run.Collectors) == 0 && aggregated == nil) {
		return nil, false
	}
	var existing map[string]any
	if aggregated != nil {
		existing, _ = aggregated["collectors"].(map[string]any)
	}
	merged := copyMap(existing)
	if merged == nil {
		merged = map[string]any{}
	}
	for _, id := range sortedKeys(run.Collectors) {
		entry := run.Collectors[id]
		cid, _ := entry["_collectorId"].(string)
		if cid == "" {
			continue
		}
		res := copyMap(entry)
		delete(res, "_collectorId")
		delete(res, "_assertionFailed")
		var prev map[string]any
		if pm, ok := merged[id].(map[string]any); ok {
			prev = copyMap(pm)
			delete(prev, "_collectorId")
		}
		state, ok := merge(cid, prev, res, run)
		if !ok {
			continue
		}
		st := copyMap(state)
		if st == nil {
			st = map[string]any{}
		}
		st["_collectorId"] = cid
		merged[id] = st
	}
	out := make(map[string]any, len(aggregated)+1)
	for k, v := range aggregated {
		if k != "collectors" {
			out[k] = copyJSON(v)
		}
	}
	out["collectors"] = merged
	return out, true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RollupDaily rolls the hourly buckets of one day into a daily bucket (§11):
// counts add; latency sum = Σ(latency_sum, or avg·run_count when the sum is
// NULL); avg = round(sum / run_count); min of mins; max of maxes; p95 = max
// of p95s. The latency sum is kept only when > 0 (avg only when some bucket
// had latency data). Neither aggregatedResult nor the t-digest is carried.
func RollupDaily(hourly []Bucket) Bucket {
	var out Bucket
	sum := 0
	hasLatency := false
	for _, h := range hourly {
		out.RunCount += h.RunCount
		out.HealthyCount += h.HealthyCount
		out.DegradedCount += h.DegradedCount
		out.UnhealthyCount += h.UnhealthyCount
		switch {
		case h.LatencySumMs != nil:
			sum += *h.LatencySumMs
			hasLatency = true
		case h.AvgLatencyMs != nil:
			sum += *h.AvgLatencyMs * h.RunCount
			hasLatency = true
		}
		out.MinLatencyMs = minPtr(out.MinLatencyMs, h.MinLatencyMs)
		out.MaxLatencyMs = maxPtr(out.MaxLatencyMs, h.MaxLatencyMs)
		out.P95LatencyMs = maxPtr(out.P95LatencyMs, h.P95LatencyMs)
	}
	if sum > 0 {
		s := sum
		out.LatencySumMs = &s
	}
	if hasLatency && out.RunCount > 0 {
		a := int(jsRound(float64(sum) / float64(out.RunCount)))
		out.AvgLatencyMs = &a
	}
	return out
}

// UpsertDaily applies the daily rollup's ON CONFLICT rule (§11) to an
// existing daily row: counts add; sum = coalesce(sum,0) + new sum;
// avg = that sum / (run_count + new runs) in integer division; min = LEAST,
// max and p95 = GREATEST (each unchanged when the new value is NULL). When
// the rolled-up bucket has no latency sum, sum and avg stay as they were.
// existing with RunCount 0 means "no row": rolled is returned.
func UpsertDaily(existing, rolled Bucket) Bucket {
	if existing.RunCount <= 0 && existing.LatencySumMs == nil {
		return rolled.Clone()
	}
	out := existing.Clone()
	out.RunCount += rolled.RunCount
	out.HealthyCount += rolled.HealthyCount
	out.DegradedCount += rolled.DegradedCount
	out.UnhealthyCount += rolled.UnhealthyCount
	if rolled.LatencySumMs != nil {
		s := *rolled.LatencySumMs
		if existing.LatencySumMs != nil {
			s += *existing.LatencySumMs
		}
		out.LatencySumMs = &s
		if out.RunCount > 0 {
			a := s / out.RunCount
			out.AvgLatencyMs = &a
		}
	}
	out.MinLatencyMs = minPtr(out.MinLatencyMs, rolled.MinLatencyMs)
	out.MaxLatencyMs = maxPtr(out.MaxLatencyMs, rolled.MaxLatencyMs)
	out.P95LatencyMs = maxPtr(out.P95LatencyMs, rolled.P95LatencyMs)
	return out
}

// RollupCutoff is the start of the oldest hourly bucket kept by the daily
// rollup: now − hourlyRetentionDays days, floored to (UTC) midnight.
func RollupCutoff(now time.Time, hourlyRetentionDays int) time.Time {
	return DayStart(now.AddDate(0, 0, -hourlyRetentionDays))
}

// CombineBuckets combines buckets for re-bucketing (§3.2 step 5): counts and
// latency sums add (sum NULL when no bucket has one), min of mins, max of
// maxes, p95 = max of p95s (upper bound), avg = round(sum / run_count) when
// a sum is present, aggregatedResult merged with CombineStates in argument
// order. The t-digest is not carried. Inputs are not modified.
func CombineBuckets(buckets ...Bucket) Bucket {
	var out Bucket
	for _, b := range buckets {
		out.RunCount += b.RunCount
		out.HealthyCount += b.HealthyCount
		out.DegradedCount += b.DegradedCount
		out.UnhealthyCount += b.UnhealthyCount
		if b.LatencySumMs != nil {
			s := *b.LatencySumMs
			if out.LatencySumMs != nil {
				s += *out.LatencySumMs
			}
			out.LatencySumMs = &s
		}
		out.MinLatencyMs = minPtr(out.MinLatencyMs, b.MinLatencyMs)
		out.MaxLatencyMs = maxPtr(out.MaxLatencyMs, b.MaxLatencyMs)
		out.P95LatencyMs = maxPtr(out.P95LatencyMs, b.P95LatencyMs)
		if b.AggregatedResult != nil {
			out.AggregatedResult = CombineStates(out.AggregatedResult, b.AggregatedResult)
		}
	}
	if out.LatencySumMs != nil && out.RunCount > 0 {
		a := int(jsRound(float64(*out.LatencySumMs) / float64(out.RunCount)))
		out.AvgLatencyMs = &a
	}
	return out
}

// P95NearestRank is the nearest-rank p95 of raw latencies (§3.2 step 3):
// sorted ascending, index ceil(0.95·n) − 1 (clamped at 0); nil when empty.
// The input is not modified.
func P95NearestRank(latencies []int) *int {
	if len(latencies) == 0 {
		return nil
	}
	s := append([]int(nil), latencies...)
	sort.Ints(s)
	i := int(math.Ceil(0.95*float64(len(s)))) - 1
	if i < 0 {
		i = 0
	}
	v := s[i]
	return &v
}

func cloneInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func minPtr(a, b *int) *int {
	switch {
	case a == nil:
		return cloneInt(b)
	case b == nil || *a <= *b:
		return cloneInt(a)
	default:
		return cloneInt(b)
	}
}

func maxPtr(a, b *int) *int {
	switch {
	case a == nil:
		return cloneInt(b)
	case b == nil || *a >= *b:
		return cloneInt(a)
	default:
		return cloneInt(b)
	}
}

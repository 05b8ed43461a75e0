package checks

import (
	"github.com/checkflow/checkflow/internal/health"
)

// MergeCollector is the per-collector mergeResult of reference §3.3, with the signature of
// health.CollectorMerger. collectorID is the stored _collectorId (short or qualified);
// existing is the instance's previous aggregate (nil on the first run); collectorResult is this
// run's stored collector entry. It returns {"_collectorId": id, <aggregate>: <state>...} where
// each state is a health counter/average/rate/minmax state (see CollectorInfo.Aggregates), and
// false when the collector is unknown.
//
// A collector that failed without a result counts as a failure in rates and adds nothing to
// averages and min/max.
func (r *Registry) MergeCollector(collectorID string, existing map[string]any, collectorResult map[string]any, run health.RunSample) (map[string]any, bool) {
	c, ok := r.collectors[collectorID]
	if !ok || len(c.aggregates) == 0 {
		return nil, false
	}
	out := map[string]any{"_collectorId": c.id}
	for _, a := range c.aggregates {
		prev, _ := existing[a.Name].(map[string]any)
		v := collectorResult[a.Source]
		switch a.Type {
		case health.StateTypeCounter:
			inc := 0
			if b, ok := v.(bool); ok && b {
				inc = 1
			} else if n, ok := numberValue(v); ok && n > 0 {
				inc = int(n)
			}
			out[a.Name] = health.MergeCounter(prev, inc)
		case health.StateTypeAverage:
			out[a.Name] = health.MergeAverage(prev, numPtr(v))
		case health.StateTypeMinMax:
			out[a.Name] = health.MergeMinMax(prev, numPtr(v))
		case health.StateTypeRate:
			b, _ := v.(bool)
			if _, failed := collectorResult["_collectorError"]; failed && a.Source == "success" {
				b = false
			}
			out[a.Name] = health.MergeRate(prev, b)
		}
	}
	return out, true
}

func numPtr(v any) *float64 {
	n, ok := numberValue(v)
	if !ok {
		return nil
	}
	return &n
}

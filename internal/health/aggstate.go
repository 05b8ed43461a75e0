package health

import (
	"encoding/json"
	"math"
	"sort"
)

// Aggregate state type discriminators (the "_type" key of a collector aggregate state, §3.3).
const (
	StateTypeCounter = "counter"
	StateTypeAverage = "average"
	StateTypeRate    = "rate"
	StateTypeMinMax  = "minmax"
)

// MergeCounter adds inc to a counter state and returns a new state
// {"_type":"counter","count":n}. A nil (or foreign) existing state starts at 0.
// The existing map is never modified.
func MergeCounter(existing map[string]any, inc int) map[string]any {
	count, _ := num(existing, "count")
	return map[string]any{"_type": StateTypeCounter, "count": count + float64(inc)}
}

// MergeAverage folds one value into an average state
// {"_type":"average","_sum","_count","avg"} where avg = round1(_sum/_count).
// A nil v leaves the sums unchanged but always returns an initialised state
// (zeroes when existing is nil). The existing map is never modified.
func MergeAverage(existing map[string]any, v *float64) map[string]any {
	sum, _ := num(existing, "_sum")
	count, _ := num(existing, "_count")
	if v != nil && !math.IsNaN(*v) && !math.IsInf(*v, 0) {
		sum += *v
		count++
	}
	return averageState(sum, count)
}

// MergeRate folds one success/failure into a rate state
// {"_type":"rate","_success","_total","rate"} where rate = round(100·success/total)
// is an integer percentage. The existing map is never modified.
func MergeRate(existing map[string]any, success bool) map[string]any {
	s, _ := num(existing, "_success")
	t, _ := num(existing, "_total")
	if success {
		s++
	}
	t++
	return rateState(s, t)
}

// MergeMinMax folds one value into a minmax state {"_type":"minmax","min","max"}.
// A nil v returns the existing bounds unchanged; a state that has never seen a
// value is {"_type":"minmax"} without min/max keys. The existing map is never modified.
func MergeMinMax(existing map[string]any, v *float64) map[string]any {
	out := map[string]any{"_type": StateTypeMinMax}
	lo, hasLo := num(existing, "min")
	hi, hasHi := num(existing, "max")
	if v != nil && !math.IsNaN(*v) && !math.IsInf(*v, 0) {
		if !hasLo || *v < lo {
			lo, hasLo = *v, true
		}
		if !hasHi || *v > hi {
			hi, hasHi = *v, true
		}
	}
	if hasLo {
		out["min"] = lo
	}
	if hasHi {
		out["max"] = hi
	}
	return out
}

// CombineStates merges two aggregate states, as when two buckets are combined
// (§3.2 step 5, §3.3 "state-merge"):
//   - counters add; averages add _sum/_count and recompute avg (1 decimal);
//     rates add _success/_total and recompute rate; minmax takes min of mins and max of maxes;
//   - two maps without "_type" (a collector aggregate such as
//     {"_collectorId":…, "avgResponseTimeMs":{…state…}} or an aggregated result
//     {"collectors":{…}}) are merged key by key, recursing into nested maps;
//     for a non-map key present on both sides a's value is kept;
//   - a nil side yields a deep copy of the other; states of different or
//     unknown types yield a deep copy of a (the reference keeps the first
//     data when it cannot merge).
//
// Neither input is modified.
func CombineStates(a, b map[string]any) map[string]any {
	if a == nil {
		return copyMap(b)
	}
	if b == nil {
		return copyMap(a)
	}
	ta, _ := a["_type"].(string)
	tb, _ := b["_type"].(string)
	if ta == "" && tb == "" {
		keys := make([]string, 0, len(a)+len(b))
		for k := range a {
			keys = append(keys, k)
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		out := make(map[string]any, len(keys))
		for _, k := range keys {
			va, okA := a[k]
			vb, okB := b[k]
			ma, isMapA := va.(map[string]any)
			mb, isMapB := vb.(map[string]any)
			switch {
			case okA && okB && isMapA && isMapB:
				out[k] = CombineStates(ma, mb)
			case okA:
				out[k] = copyJSON(va)
			default:
				out[k] = copyJSON(vb)
			}
		}
		return out
	}
	if ta != tb {
		return copyMap(a)
	}
	switch ta {
	case StateTypeCounter:
		ca, _ := num(a, "count")
		cb, _ := num(b, "count")
		return map[string]any{"_type": StateTypeCounter, "count": ca + cb}
	case StateTypeAverage:
		sa, _ := num(a, "_sum")
		sb, _ := num(b, "_sum")
		na, _ := num(a, "_count")
		nb, _ := num(b, "_count")
		return averageState(sa+sb, na+nb)
	case StateTypeRate:
		sa, _ := num(a, "_success")
		sb, _ := num(b, "_success")
		na, _ := num(a, "_total")
		nb, _ := num(b, "_total")
		return rateState(sa+sb, na+nb)
	case StateTypeMinMax:
		out := map[string]any{"_type": StateTypeMinMax}
		if lo, ok := minOpt(a, b, "min", true); ok {
			out["min"] = lo
		}
		if hi, ok := minOpt(a, b, "max", false); ok {
			out["max"] = hi
		}
		return out
	default:
		return copyMap(a)
	}
}

func averageState(sum, count float64) map[string]any {
	avg := 0.0
	if count > 0 {
		avg = round1(sum / count)
	}
	return map[string]any{"_type": StateTypeAverage, "_sum": sum, "_count": count, "avg": avg}
}

func rateState(s, t float64) map[string]any {
	rate := 0.0
	if t > 0 {
		rate = jsRound(100 * s / t)
	}
	return map[string]any{"_type": StateTypeRate, "_success": s, "_total": t, "rate": rate}
}

// minOpt returns the min (lower=true) or max of key over a and b, ignoring absent values.
func minOpt(a, b map[string]any, key string, lower bool) (float64, bool) {
	va, okA := num(a, key)
	vb, okB := num(b, key)
	switch {
	case okA && okB:
		if lower == (va <= vb) {
			return va, true
		}
		return vb, true
	case okA:
		return va, true
	case okB:
		return vb, true
	}
	return 0, false
}

// num reads a JSON-like number (float64, any Go integer or float, json.Number) from m[key].
func num(m map[string]any, key string) (float64, bool) {
	if m == nil {
		return 0, false
	}
	v, ok := m[key]
	if !ok {
		return 0, false
	}
	return toFloat(v)
}

// toFloat converts a JSON-like number to float64; NaN and infinities are rejected.
func toFloat(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int8:
		f = float64(n)
	case int16:
		f = float64(n)
	case int32:
		f = float64(n)
	case int64:
		f = float64(n)
	case uint:
		f = float64(n)
	case uint8:
		f = float64(n)
	case uint16:
		f = float64(n)
	case uint32:
		f = float64(n)
	case uint64:
		f = float64(n)
	case json.Number:
		x, err := n.Float64()
		if err != nil {
			return 0, false
		}
		f = x
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// jsRound is JavaScript's Math.round: halves round towards +Inf.
func jsRound(x float64) float64 {
	f := math.Floor(x)
	if x-f >= 0.5 {
		return f + 1
	}
	return f
}

// round1 rounds to one decimal the way the reference does (Math.round(x·10)/10).
func round1(x float64) float64 { return jsRound(x*10) / 10 }

// copyMap deep-copies a JSON-like map (nil stays nil).
func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyJSON(v)
	}
	return out
}

// copyJSON deep-copies maps and slices of a JSON-like value; other values are returned as is.
func copyJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return copyMap(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = copyJSON(e)
		}
		return out
	case map[string]map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = copyMap(e)
		}
		return out
	default:
		return v
	}
}

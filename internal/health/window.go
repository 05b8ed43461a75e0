package health

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Window-gate refire modes and bounds (§8.4).
const (
	RefireEvery = "every"
	RefireOnce  = "once"

	MinWindowCount   = 1
	MaxWindowCount   = 1000
	MinWindowMinutes = 1
	MaxWindowMinutes = 1440
	// WindowEventRetention is how long occurrence rows are kept before the sweep.
	WindowEventRetention = 24 * time.Hour
)

// WindowConfig is a trigger's windowed-count gate {count, minutes, refire, partitionBy?}.
type WindowConfig struct {
	// Count is the number of occurrences within Minutes that fires (1–1000).
	Count int `json:"count"`
	// Minutes is the window length (1–1440).
	Minutes int `json:"minutes"`
	// Refire is "every" (default) or "once" (fire only on reaching Count exactly).
	Refire string `json:"refire"`
	// PartitionBy is an optional expression whose value partitions the counts (trimmed).
	PartitionBy string `json:"partitionBy,omitempty"`
}

// FlappingWindow is the flapping recipe's gate on healthcheck.system_health_changed
// (with filter trigger.payload.newStatus != "healthy").
func FlappingWindow() WindowConfig {
	return WindowConfig{Count: 3, Minutes: 60, Refire: RefireOnce}
}

// FlappingFilter is the filter expression of the flapping recipe.
const FlappingFilter = `trigger.payload.newStatus != "healthy"`

// Validate checks the bounds (see ParseWindowConfig) of an already-decoded config.
func (w WindowConfig) Validate() error {
	var errs []FieldError
	if w.Count < MinWindowCount || w.Count > MaxWindowCount {
		errs = append(errs, FieldError{"count", fmt.Sprintf("must be an integer between %d and %d", MinWindowCount, MaxWindowCount)})
	}
	if w.Minutes < MinWindowMinutes || w.Minutes > MaxWindowMinutes {
		errs = append(errs, FieldError{"minutes", fmt.Sprintf("must be an integer between %d and %d", MinWindowMinutes, MaxWindowMinutes)})
	}
	if w.Refire != "" && w.Refire != RefireEvery && w.Refire != RefireOnce {
		errs = append(errs, FieldError{"refire", fmt.Sprintf("must be %q or %q", RefireEvery, RefireOnce)})
	}
	return newValidationError(errs)
}

// ParseWindowConfig parses and validates a window block (WG-6): count is an
// integer 1–1000 and minutes an integer 1–1440 (both required); refire is
// "every" (default when omitted) or "once"; partitionBy, when present, is
// trimmed and must not be empty. Unknown keys are ignored. Errors are a
// wrapped *ValidationError.
func ParseWindowConfig(raw []byte) (WindowConfig, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		if err == nil {
			err = fmt.Errorf("window must be an object")
		}
		return WindowConfig{}, fmt.Errorf("health: parse window: %w", err)
	}
	var errs []FieldError
	readInt := func(key string, lo, hi int) int {
		v, ok := m[key]
		if !ok || v == nil {
			errs = append(errs, FieldError{key, "required"})
			return 0
		}
		n, isNum := v.(json.Number)
		f, err := n.Float64()
		if !isNum || err != nil || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
			errs = append(errs, FieldError{key, fmt.Sprintf("must be an integer between %d and %d", lo, hi)})
			return 0
		}
		return int(f)
	}
	w := WindowConfig{Refire: RefireEvery}
	w.Count = readInt("count", MinWindowCount, MaxWindowCount)
	w.Minutes = readInt("minutes", MinWindowMinutes, MaxWindowMinutes)
	if v, ok := m["refire"]; ok && v != nil {
		s, isStr := v.(string)
		if !isStr || (s != RefireEvery && s != RefireOnce) {
			errs = append(errs, FieldError{"refire", fmt.Sprintf("must be %q or %q", RefireEvery, RefireOnce)})
		} else {
			w.Refire = s
		}
	}
	if v, ok := m["partitionBy"]; ok && v != nil {
		s, isStr := v.(string)
		if !isStr {
			errs = append(errs, FieldError{"partitionBy", "must be a string"})
		} else if s = strings.TrimSpace(s); s == "" {
			errs = append(errs, FieldError{"partitionBy", "must not be empty"})
		} else {
			w.PartitionBy = s
		}
	}
	if err := newValidationError(errs); err != nil {
		return WindowConfig{}, fmt.Errorf("health: parse window: %w", err)
	}
	return w, nil
}

// WindowCount is the number of occurrences the gate counts for a new
// occurrence at now: the new one plus every prior occurrence with
// occurredAt ≥ now − minutes (no upper bound, as in the reference query).
func WindowCount(prior []time.Time, now time.Time, minutes int) int {
	from := now.Add(-time.Duration(minutes) * time.Minute)
	n := 1
	for _, t := range prior {
		if !t.Before(from) {
			n++
		}
	}
	return n
}

// GateDecision decides whether a qualifying occurrence at now fires (§8.4).
// prior are the occurrence times already recorded for the same (automation,
// trigger, partition key), the new one not included. refire "every" (or "")
// fires when the count reaches w.Count or more; "once" only when it equals
// w.Count exactly (the crossing edge). An invalid config never fires.
func GateDecision(prior []time.Time, now time.Time, w WindowConfig) bool {
	if w.Validate() != nil {
		return false
	}
	c := WindowCount(prior, now, w.Minutes)
	if w.Refire == RefireOnce {
		return c == w.Count
	}
	return c >= w.Count
}

// PartitionKey picks the window partition key of an occurrence: without a
// partitionBy evaluation (evaluated nil) or when it failed (evalErr != nil)
// the trigger's built-in context key; otherwise the value coerced to a
// trimmed string the way JavaScript's String() does, falling back to the
// built-in key when that is empty (never a global key).
func PartitionKey(evaluated any, evalErr error, builtin string) string {
	if evalErr != nil || evaluated == nil {
		return builtin
	}
	s := strings.TrimSpace(jsString(evaluated))
	if s == "" {
		return builtin
	}
	return s
}

// jsString approximates JavaScript's String(v) for JSON-like values.
func jsString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case json.Number:
		if f, err := t.Float64(); err == nil {
			return jsNumber(f)
		}
		return t.String()
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			if e != nil {
				parts[i] = jsString(e)
			}
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(t, ",")
	case map[string]any:
		return "[object Object]"
	case fmt.Stringer:
		return t.String()
	}
	if f, ok := toFloat(v); ok {
		return jsNumber(f)
	}
	switch t := v.(type) {
	case float64:
		if math.IsNaN(t) {
			return "NaN"
		}
		if math.IsInf(t, 1) {
			return "Infinity"
		}
		return "-Infinity"
	case float32:
		return jsString(float64(t))
	}
	return fmt.Sprint(v)
}

func jsNumber(f float64) string {
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	// Go writes 1e+21 like JavaScript; small exponents differ only in padding.
	return strings.Replace(s, "e-0", "e-", 1)
}

package health

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// ThresholdMode selects the evaluation algorithm of a check (§2.2).
type ThresholdMode string

// Threshold modes.
const (
	ModeConsecutive ThresholdMode = "consecutive"
	ModeWindow      ThresholdMode = "window"
)

// Threshold defaults and bounds (§2.2, §18).
const (
	DefaultHealthyMinSuccess           = 1
	DefaultConsecutiveDegradedMinFail  = 2
	DefaultConsecutiveUnhealthyMinFail = 5
	DefaultWindowSize                  = 10
	DefaultWindowDegradedMinFail       = 3
	DefaultWindowUnhealthyMinFail      = 7
	MinWindowSize                      = 3
	MaxWindowSize                      = 100
	ThresholdsRecordVersion            = 1
)

// SuccessThreshold is the healthy level of consecutive mode.
type SuccessThreshold struct {
	// MinSuccessCount is the leading success streak that counts as healthy (≥ 1).
	MinSuccessCount int `json:"minSuccessCount"`
}

// FailureThreshold is the degraded or unhealthy level of either mode.
type FailureThreshold struct {
	// MinFailureCount is the number of failures from which the level applies (≥ 1).
	MinFailureCount int `json:"minFailureCount"`
}

// Thresholds is a check's state threshold configuration, a union discriminated by Mode:
//
//	{"mode":"consecutive","healthy":{"minSuccessCount":1},"degraded":{"minFailureCount":2},"unhealthy":{"minFailureCount":5}}
//	{"mode":"window","windowSize":10,"degraded":{"minFailureCount":3},"unhealthy":{"minFailureCount":7}}
//
// Its JSON form carries only the fields of its mode (see MarshalJSON).
// Zero fields mean "use the default" (see WithDefaults).
type Thresholds struct {
	// Mode is consecutive or window ("" means consecutive once defaulted).
	Mode ThresholdMode `json:"mode"`
	// WindowSize is the number of newest runs considered in window mode (3–100).
	WindowSize int `json:"windowSize,omitempty"`
	// Healthy is the success threshold of consecutive mode.
	Healthy SuccessThreshold `json:"healthy"`
	// Degraded is the failure count from which the check is degraded.
	Degraded FailureThreshold `json:"degraded"`
	// Unhealthy is the failure count from which the check is unhealthy.
	Unhealthy FailureThreshold `json:"unhealthy"`
}

// DefaultThresholds returns the thresholds used when an assignment has none:
// consecutive {healthy 1, degraded 2, unhealthy 5}.
func DefaultThresholds() Thresholds {
	return Thresholds{
		Mode:      ModeConsecutive,
		Healthy:   SuccessThreshold{MinSuccessCount: DefaultHealthyMinSuccess},
		Degraded:  FailureThreshold{MinFailureCount: DefaultConsecutiveDegradedMinFail},
		Unhealthy: FailureThreshold{MinFailureCount: DefaultConsecutiveUnhealthyMinFail},
	}
}

// DefaultWindowThresholds returns the window-mode schema defaults
// {windowSize 10, degraded 3, unhealthy 7}.
func DefaultWindowThresholds() Thresholds {
	return Thresholds{
		Mode:       ModeWindow,
		WindowSize: DefaultWindowSize,
		Degraded:   FailureThreshold{MinFailureCount: DefaultWindowDegradedMinFail},
		Unhealthy:  FailureThreshold{MinFailureCount: DefaultWindowUnhealthyMinFail},
	}
}

// WithDefaults fills zero fields with the defaults of the mode (an empty mode
// becomes consecutive) and clears the fields that do not belong to the mode.
// Non-zero values, even out-of-bounds ones, are kept (Validate reports them).
func (t Thresholds) WithDefaults() Thresholds {
	if t.Mode == "" {
		t.Mode = ModeConsecutive
	}
	switch t.Mode {
	case ModeWindow:
		d := DefaultWindowThresholds()
		if t.WindowSize == 0 {
			t.WindowSize = d.WindowSize
		}
		if t.Degraded.MinFailureCount == 0 {
			t.Degraded = d.Degraded
		}
		if t.Unhealthy.MinFailureCount == 0 {
			t.Unhealthy = d.Unhealthy
		}
		t.Healthy = SuccessThreshold{}
	case ModeConsecutive:
		d := DefaultThresholds()
		if t.Healthy.MinSuccessCount == 0 {
			t.Healthy = d.Healthy
		}
		if t.Degraded.MinFailureCount == 0 {
			t.Degraded = d.Degraded
		}
		if t.Unhealthy.MinFailureCount == 0 {
			t.Unhealthy = d.Unhealthy
		}
		t.WindowSize = 0
	}
	return t
}

// MarshalJSON writes only the fields of the mode, in the reference's shape.
func (t Thresholds) MarshalJSON() ([]byte, error) {
	if t.Mode == ModeWindow {
		return json.Marshal(struct {
			Mode       ThresholdMode    `json:"mode"`
			WindowSize int              `json:"windowSize"`
			Degraded   FailureThreshold `json:"degraded"`
			Unhealthy  FailureThreshold `json:"unhealthy"`
		}{t.Mode, t.WindowSize, t.Degraded, t.Unhealthy})
	}
	return json.Marshal(struct {
		Mode      ThresholdMode    `json:"mode"`
		Healthy   SuccessThreshold `json:"healthy"`
		Degraded  FailureThreshold `json:"degraded"`
		Unhealthy FailureThreshold `json:"unhealthy"`
	}{t.Mode, t.Healthy, t.Degraded, t.Unhealthy})
}

// UnmarshalJSON parses bare thresholds with the same rules as ParseThresholds
// (defaults applied, field errors returned as *ValidationError).
func (t *Thresholds) UnmarshalJSON(raw []byte) error {
	v, err := parseBareThresholds(raw)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// FieldError is one field-level validation problem. Field is a dotted path
// such as "degraded.minFailureCount".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// String renders "field: message".
func (e FieldError) String() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// ValidationError lists the field errors of an invalid input. Functions of
// this package return it as *ValidationError; errors.As works with both a
// *ValidationError and a ValidationError target.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

// Error joins the field errors.
func (e ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.String()
	}
	return "validation failed: " + strings.Join(parts, "; ")
}

// As lets errors.As fill a ValidationError (value) target from a *ValidationError.
func (e *ValidationError) As(target any) bool {
	if p, ok := target.(*ValidationError); ok && e != nil {
		*p = *e
		return true
	}
	return false
}

func newValidationError(errs []FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return &ValidationError{Errors: errs}
}

// Validate checks the bounds of the thresholds (after WithDefaults): mode is
// consecutive or window; windowSize 3–100 in window mode; every count ≥ 1.
// err is a *ValidationError listing the field errors, nil when valid.
//
// warnings flag configurations the reference accepts although a level can
// never be reached: degraded ≥ unhealthy (unhealthy is checked first, so the
// degraded level is unreachable) and, in window mode, a failure count above
// the window size. Warnings are returned even when err is nil.
func (t Thresholds) Validate() (warnings []FieldError, err error) {
	t = t.WithDefaults()
	var errs []FieldError
	switch t.Mode {
	case ModeConsecutive, ModeWindow:
	default:
		errs = append(errs, FieldError{"mode", fmt.Sprintf("must be %q or %q", ModeConsecutive, ModeWindow)})
		return nil, newValidationError(errs)
	}
	if t.Mode == ModeWindow && (t.WindowSize < MinWindowSize || t.WindowSize > MaxWindowSize) {
		errs = append(errs, FieldError{"windowSize", fmt.Sprintf("must be an integer between %d and %d", MinWindowSize, MaxWindowSize)})
	}
	if t.Mode == ModeConsecutive && t.Healthy.MinSuccessCount < 1 {
		errs = append(errs, FieldError{"healthy.minSuccessCount", "must be an integer ≥ 1"})
	}
	if t.Degraded.MinFailureCount < 1 {
		errs = append(errs, FieldError{"degraded.minFailureCount", "must be an integer ≥ 1"})
	}
	if t.Unhealthy.MinFailureCount < 1 {
		errs = append(errs, FieldError{"unhealthy.minFailureCount", "must be an integer ≥ 1"})
	}
	if t.Degraded.MinFailureCount >= 1 && t.Unhealthy.MinFailureCount >= 1 &&
		t.Degraded.MinFailureCount >= t.Unhealthy.MinFailureCount {
		warnings = append(warnings, FieldError{"degraded.minFailureCount", fmt.Sprintf(
			"degraded level is unreachable: degraded.minFailureCount (%d) ≥ unhealthy.minFailureCount (%d), so the check goes straight to unhealthy",
			t.Degraded.MinFailureCount, t.Unhealthy.MinFailureCount)})
	}
	if t.Mode == ModeWindow && t.WindowSize >= MinWindowSize && t.WindowSize <= MaxWindowSize {
		if t.Degraded.MinFailureCount > t.WindowSize {
			warnings = append(warnings, FieldError{"degraded.minFailureCount", fmt.Sprintf(
				"degraded level is unreachable: %d failures never fit in a window of %d runs", t.Degraded.MinFailureCount, t.WindowSize)})
		}
		if t.Unhealthy.MinFailureCount > t.WindowSize {
			warnings = append(warnings, FieldError{"unhealthy.minFailureCount", fmt.Sprintf(
				"unhealthy level is unreachable: %d failures never fit in a window of %d runs", t.Unhealthy.MinFailureCount, t.WindowSize)})
		}
	}
	return warnings, newValidationError(errs)
}

// ParseThresholds parses stored or submitted thresholds. It accepts bare
// thresholds and the versioned-record envelope {"version":1,"data":{…}}
// (migratedAt/originalVersion ignored). null, empty input, or an envelope
// whose data is null yield DefaultThresholds. Missing fields take the
// defaults of the mode; fields of the other mode and unknown keys are
// dropped. A missing or unknown mode, non-integer or out-of-bounds numbers
// give a *ValidationError (wrapped).
func ParseThresholds(raw []byte) (Thresholds, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return DefaultThresholds(), nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return Thresholds{}, fmt.Errorf("health: parse thresholds: %w", err)
	}
	_, hasMode := probe["mode"]
	data, hasData := probe["data"]
	if _, hasVersion := probe["version"]; hasVersion && hasData && !hasMode {
		var version float64
		if err := json.Unmarshal(probe["version"], &version); err != nil || version != ThresholdsRecordVersion {
			return Thresholds{}, fmt.Errorf("health: parse thresholds: %w",
				newValidationError([]FieldError{{"version", fmt.Sprintf("unsupported thresholds record version %s", string(probe["version"]))}}))
		}
		data = bytes.TrimSpace(data)
		if len(data) == 0 || bytes.Equal(data, []byte("null")) {
			return DefaultThresholds(), nil
		}
		raw = data
	}
	t, err := parseBareThresholds(raw)
	if err != nil {
		return Thresholds{}, fmt.Errorf("health: parse thresholds: %w", err)
	}
	return t, nil
}

// MarshalThresholdsRecord wraps thresholds in the versioned-record envelope
// {"version":1,"data":…} used for system_health_checks.state_thresholds.
func MarshalThresholdsRecord(t Thresholds) ([]byte, error) {
	return json.Marshal(struct {
		Version int        `json:"version"`
		Data    Thresholds `json:"data"`
	}{ThresholdsRecordVersion, t.WithDefaults()})
}

// GitOpsThresholds builds the thresholds of a GitOps System.healthchecks
// entry (§12.2): when either threshold is given, consecutive
// {healthy 1, degraded = degraded ?? 2, unhealthy = unhealthy ?? 5}; else nil (defaults).
func GitOpsThresholds(degraded, unhealthy *int) *Thresholds {
	if degraded == nil && unhealthy == nil {
		return nil
	}
	t := DefaultThresholds()
	if degraded != nil {
		t.Degraded.MinFailureCount = *degraded
	}
	if unhealthy != nil {
		t.Unhealthy.MinFailureCount = *unhealthy
	}
	return &t
}

func parseBareThresholds(raw []byte) (Thresholds, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Thresholds{}, fmt.Errorf("thresholds must be a JSON object: %w", err)
	}
	if m == nil {
		return DefaultThresholds(), nil
	}
	var errs []FieldError
	var t Thresholds
	switch mode := m["mode"].(type) {
	case string:
		t.Mode = ThresholdMode(mode)
		if t.Mode != ModeConsecutive && t.Mode != ModeWindow {
			errs = append(errs, FieldError{"mode", fmt.Sprintf("must be %q or %q", ModeConsecutive, ModeWindow)})
			return Thresholds{}, newValidationError(errs)
		}
	case nil:
		errs = append(errs, FieldError{"mode", fmt.Sprintf("required: %q or %q", ModeConsecutive, ModeWindow)})
		return Thresholds{}, newValidationError(errs)
	default:
		errs = append(errs, FieldError{"mode", "must be a string"})
		return Thresholds{}, newValidationError(errs)
	}
	readInt := func(parent, key string) int {
		var v any
		field := key
		if parent != "" {
			field = parent + "." + key
			obj, present := m[parent]
			if !present || obj == nil {
				return 0
			}
			om, ok := obj.(map[string]any)
			if !ok {
				errs = append(errs, FieldError{parent, "must be an object"})
				return 0
			}
			v = om[key]
		} else {
			v = m[key]
		}
		if v == nil {
			return 0
		}
		n, ok := v.(json.Number)
		if !ok {
			errs = append(errs, FieldError{field, "must be an integer"})
			return 0
		}
		f, err := n.Float64()
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1e9 {
			errs = append(errs, FieldError{field, "must be an integer"})
			return 0
		}
		if f < 1 {
			// 0 would silently become the default: reject explicitly.
			msg := "must be an integer ≥ 1"
			if field == "windowSize" {
				msg = fmt.Sprintf("must be an integer between %d and %d", MinWindowSize, MaxWindowSize)
			}
			errs = append(errs, FieldError{field, msg})
			return 0
		}
		return int(f)
	}
	if t.Mode == ModeWindow {
		t.WindowSize = readInt("", "windowSize")
	} else {
		t.Healthy.MinSuccessCount = readInt("healthy", "minSuccessCount")
	}
	t.Degraded.MinFailureCount = readInt("degraded", "minFailureCount")
	t.Unhealthy.MinFailureCount = readInt("unhealthy", "minFailureCount")
	t = t.WithDefaults()
	if _, err := t.Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			errs = append(errs, ve.Errors...)
		}
	}
	if err := newValidationError(dedupeFieldErrors(errs)); err != nil {
		return Thresholds{}, err
	}
	return t, nil
}

func dedupeFieldErrors(errs []FieldError) []FieldError {
	seen := map[string]bool{}
	out := errs[:0:0]
	for _, e := range errs {
		if seen[e.Field] {
			continue
		}
		seen[e.Field] = true
		out = append(out, e)
	}
	return out
}

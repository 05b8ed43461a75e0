package automation

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// The trigger events an automation may listen to: the four of the reference (§8.2, in its
// registration order) and checkflow's flapping events.
const (
	EventSystemDegraded      = health.EventSystemDegraded
	EventSystemHealthy       = health.EventSystemHealthy
	EventSystemHealthChanged = health.EventSystemHealthChanged
	EventCheckFailed         = health.EventCheckFailed
	EventFlappingStarted     = health.EventFlappingStarted
	EventFlappingStopped     = health.EventFlappingStopped
)

// FieldType is the type of a payload field, as the CEL type checker sees it.
type FieldType string

// Payload field types.
const (
	// TypeString is a CEL string.
	TypeString FieldType = "string"
	// TypeStatus is a CEL string holding "healthy", "degraded" or "unhealthy".
	TypeStatus FieldType = "status"
	// TypeTimestamp is a CEL string holding an RFC 3339 time (use timestamp(…) to compare).
	TypeTimestamp FieldType = "timestamp"
	// TypeInt is a CEL int.
	TypeInt FieldType = "int"
	// TypeDouble is a CEL double.
	TypeDouble FieldType = "double"
	// TypeMap is a CEL map(string, dyn): a JSON object of any shape (a run's collector results).
	TypeMap FieldType = "map"
)

// PayloadField is one field of a trigger event's payload.
type PayloadField struct {
	// Name is the JSON name, also the CEL field name (trigger.payload.<Name>).
	Name string `json:"name"`
	// Type is the field's type.
	Type FieldType `json:"type"`
	// Optional fields may be absent: test them with has(trigger.payload.<Name>) before use;
	// reading an absent field is an evaluation error.
	Optional bool `json:"optional,omitempty"`
}

// EventDefinition describes one trigger event: its payload schema and context key.
type EventDefinition struct {
	// Event is the qualified event type, e.g. "healthcheck.system_degraded".
	Event string `json:"event"`
	// Name is the display name ("System Health Degraded").
	Name string `json:"name"`
	// Fields is the payload schema, in a stable order.
	Fields []PayloadField `json:"fields"`
	// ContextKeyLabel is the UI hint for the built-in context key (the payload's systemId).
	ContextKeyLabel string `json:"contextKeyLabel"`
}

// Events returns the trigger events in order: system_degraded, system_healthy,
// system_health_changed, check_failed (reference §8.2, AU-1), then flapping_started and
// flapping_stopped (checkflow). Every call returns new slices.
//
// The payload schemas are the reference's (§8.2): system_healthy has no newStatus (checkflow's
// payload carries it anyway, but a filter may not rely on it), systemName is optional and never
// set at 1.5.0, latencyMs and result of check_failed are absent for catastrophic runs. The
// flapping events carry health.FlapPayload.
func Events() []EventDefinition {
	str := func(n string) PayloadField { return PayloadField{Name: n, Type: TypeString} }
	opt := func(f PayloadField) PayloadField { f.Optional = true; return f }
	status := func(n string) PayloadField { return PayloadField{Name: n, Type: TypeStatus} }
	integer := func(n string) PayloadField { return PayloadField{Name: n, Type: TypeInt} }
	double := func(n string) PayloadField { return PayloadField{Name: n, Type: TypeDouble} }
	ts := PayloadField{Name: "timestamp", Type: TypeTimestamp}
	systemChange := func() []PayloadField {
		return []PayloadField{str("systemId"), opt(str("systemName")), status("previousStatus"), status("newStatus"),
			integer("healthyChecks"), integer("totalChecks"), ts}
	}
	flapping := func() []PayloadField {
		return []PayloadField{str("systemId"), opt(str("configurationId")), status("status"),
			double("percentStateChange"), double("startThreshold"), double("stopThreshold"), ts}
	}
	return []EventDefinition{
		{EventSystemDegraded, "System Health Degraded", systemChange(), "system"},
		{EventSystemHealthy, "System Health Restored", []PayloadField{str("systemId"), opt(str("systemName")),
			status("previousStatus"), integer("healthyChecks"), integer("totalChecks"), ts}, "system"},
		{EventSystemHealthChanged, "System Health Changed", systemChange(), "system"},
		{EventCheckFailed, "Health Check Failed", []PayloadField{str("systemId"), str("configurationId"), status("status"),
			opt(integer("latencyMs")), opt(PayloadField{Name: "result", Type: TypeMap}), ts}, "system"},
		{EventFlappingStarted, "System Started Flapping", flapping(), "system"},
		{EventFlappingStopped, "System Stopped Flapping", flapping(), "system"},
	}
}

// IsTrigger reports whether event is one of the trigger events (Events), without building
// their definitions: the outbox dispatcher asks it for every event, hooks included.
func IsTrigger(event string) bool {
	switch event {
	case EventSystemDegraded, EventSystemHealthy, EventSystemHealthChanged, EventCheckFailed, EventFlappingStarted, EventFlappingStopped:
		return true
	}
	return false
}

// LookupEvent returns the definition of a trigger event.
func LookupEvent(event string) (EventDefinition, bool) {
	for _, d := range Events() {
		if d.Event == event {
			return d, true
		}
	}
	return EventDefinition{}, false
}

// EventTypes lists the qualified event types in the order of Events.
func EventTypes() []string {
	defs := Events()
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.Event
	}
	return out
}

// Field returns the payload field called name.
func (d EventDefinition) Field(name string) (PayloadField, bool) {
	for _, f := range d.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return PayloadField{}, false
}

// FieldNames lists the payload's field names, sorted.
func (d EventDefinition) FieldNames() []string {
	out := make([]string, len(d.Fields))
	for i, f := range d.Fields {
		out[i] = f.Name
	}
	sort.Strings(out)
	return out
}

// ContextKey is the built-in context key of a payload: its systemId (reference §8.2; every
// event here is per system). It is the window partition when an automation has no partitionBy.
func ContextKey(payload map[string]any) string { return health.TriggerContextKey(payload) }

// ValidatePayload checks a payload against the event's schema (the :test endpoint's sample,
// AU-2): every required field present and not null, every present field of its type (an int
// is an integral number, a status one of the three statuses, a timestamp RFC 3339, a map a
// JSON object). Fields outside the schema are allowed and ignored, as the reference's schemas
// strip them. Errors are a *ValidationError naming "payload.<field>".
func (d EventDefinition) ValidatePayload(payload map[string]any) error {
	var errs fieldErrs
	for _, f := range d.Fields {
		field := "payload." + f.Name
		v, ok := payload[f.Name]
		if !ok || v == nil {
			if !f.Optional {
				errs.add(field, "is required")
			}
			continue
		}
		if _, err := convertField(f, v); err != nil {
			errs.add(field, "%s", err.Error())
		}
	}
	return errs.err()
}

// convertField converts a payload value to the Go value CEL sees for the field's type: string,
// int64, float64 or map[string]any (with json.Number values converted, recursively).
func convertField(f PayloadField, v any) (any, error) {
	switch f.Type {
	case TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("must be a string")
	case TypeStatus:
		if s, ok := v.(string); ok && health.Status(s).Valid() {
			return s, nil
		}
		return nil, fmt.Errorf("must be healthy, degraded or unhealthy")
	case TypeTimestamp:
		if s, ok := v.(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return s, nil
			}
		}
		return nil, fmt.Errorf("must be an RFC 3339 timestamp string")
	case TypeInt:
		if n, ok := toInt64(v); ok {
			return n, nil
		}
		return nil, fmt.Errorf("must be an integer")
	case TypeDouble:
		if x, ok := toFloat64(v); ok {
			return x, nil
		}
		return nil, fmt.Errorf("must be a number")
	case TypeMap:
		if m, ok := v.(map[string]any); ok {
			return normalizeJSON(m), nil
		}
		return nil, fmt.Errorf("must be an object")
	}
	return nil, fmt.Errorf("has an unknown type %q", f.Type)
}

// toInt64 accepts Go integers, integral float64 and integral json.Number.
func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint:
		if uint64(n) <= math.MaxInt64 {
			return int64(n), true
		}
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), true
		}
	case float32:
		return toInt64(float64(n))
	case float64:
		if n == math.Trunc(n) && n >= math.MinInt64 && n < math.MaxInt64 {
			return int64(n), true
		}
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		if f, err := n.Float64(); err == nil {
			return toInt64(f)
		}
	}
	return 0, false
}

// toFloat64 accepts every Go number and json.Number (finite values only).
func toFloat64(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case json.Number:
		x, err := n.Float64()
		if err != nil {
			return 0, false
		}
		f = x
	default:
		i, ok := toInt64(v)
		if !ok {
			return 0, false
		}
		f = float64(i)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// normalizeJSON returns v with every json.Number replaced by int64 (integral) or float64, in
// maps and lists at any depth. A value holding no json.Number is returned as it is (no copy);
// otherwise the containers on the way are copied, so the input is never modified.
func normalizeJSON(v any) any {
	if !hasNumber(v) {
		return v
	}
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalizeJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalizeJSON(e)
		}
		return out
	}
	return v
}

// hasNumber reports whether v is or contains a json.Number.
func hasNumber(v any) bool {
	switch t := v.(type) {
	case json.Number:
		return true
	case map[string]any:
		for _, e := range t {
			if hasNumber(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if hasNumber(e) {
				return true
			}
		}
	}
	return false
}

package health

import (
	"encoding/json"
	"sort"
	"time"
)

// Trigger event ids (qualified trigger ids, §4.3, §8.2).
const (
	EventSystemDegraded      = "healthcheck.system_degraded"
	EventSystemHealthy       = "healthcheck.system_healthy"
	EventSystemHealthChanged = "healthcheck.system_health_changed"
	EventCheckFailed         = "healthcheck.check_failed"
)

// Hook ids emitted by the plugin (§8.1).
const (
	HookCheckCompleted    = "healthcheck.check.completed"
	HookCheckFailed       = "healthcheck.check.failed"
	HookAssignmentChanged = "healthcheck.assignment.changed"
)

// TriggerPluginID is the plugin id that qualifies trigger ids ("healthcheck.<triggerId>").
const TriggerPluginID = "healthcheck"

// EntityKind is the kind id of the health entity (§4.1).
const EntityKind = "health"

// View field names, as they appear in Change.ChangedFields.
const (
	FieldHealthyChecks = "healthyChecks"
	FieldStatus        = "status"
	FieldTotalChecks   = "totalChecks"
)

// TriggerDefinition describes one automation trigger registered by the plugin (§8.2).
type TriggerDefinition struct {
	// ID is the local trigger id, e.g. "system_degraded".
	ID string `json:"id"`
	// QualifiedID is "healthcheck." + ID, the event type.
	QualifiedID string `json:"qualifiedId"`
	// Name is the display name.
	Name string `json:"name"`
	// Source says what produces the event: "entity" (view deriver) or the hook id.
	Source string `json:"source"`
	// ContextKeyLabel is the UI hint for the built-in context key ("system").
	ContextKeyLabel string `json:"contextKeyLabel"`
}

// TriggerDefinitions returns the four triggers in registration order:
// system_degraded, system_healthy, system_health_changed, check_failed.
func TriggerDefinitions() []TriggerDefinition {
	return []TriggerDefinition{
		{"system_degraded", EventSystemDegraded, "System Health Degraded", "entity", "system"},
		{"system_healthy", EventSystemHealthy, "System Health Restored", "entity", "system"},
		{"system_health_changed", EventSystemHealthChanged, "System Health Changed", "entity", "system"},
		{"check_failed", EventCheckFailed, "Health Check Failed", HookCheckFailed, "system"},
	}
}

// Change is a structural diff of two views (§4.2). Prev or Next is nil for
// a create or a tombstone.
type Change struct {
	Prev *View `json:"prev"`
	Next *View `json:"next"`
	// ChangedFields lists the changed view fields, sorted.
	ChangedFields []string `json:"changedFields"`
	// Delta maps each changed field to its next value (nil when Next is nil).
	Delta map[string]any `json:"delta,omitempty"`
	// OccurredAt is the time of the change.
	OccurredAt time.Time `json:"occurredAt"`
}

// DiffViews compares two views field by field. It returns false when no
// field changed (diff suppression: both nil, or equal views). A nil side
// makes every field of the other side changed.
func DiffViews(prev, next *View, occurredAt time.Time) (Change, bool) {
	var fields []string
	switch {
	case prev == nil && next == nil:
		return Change{}, false
	case prev == nil || next == nil:
		fields = []string{FieldHealthyChecks, FieldStatus, FieldTotalChecks}
	default:
		if prev.Status != next.Status {
			fields = append(fields, FieldStatus)
		}
		if prev.HealthyChecks != next.HealthyChecks {
			fields = append(fields, FieldHealthyChecks)
		}
		if prev.TotalChecks != next.TotalChecks {
			fields = append(fields, FieldTotalChecks)
		}
	}
	if len(fields) == 0 {
		return Change{}, false
	}
	sort.Strings(fields)
	c := Change{Prev: cloneView(prev), Next: cloneView(next), ChangedFields: fields, OccurredAt: occurredAt}
	if next != nil {
		c.Delta = make(map[string]any, len(fields))
		for _, f := range fields {
			switch f {
			case FieldStatus:
				c.Delta[f] = string(next.Status)
			case FieldHealthyChecks:
				c.Delta[f] = next.HealthyChecks
			case FieldTotalChecks:
				c.Delta[f] = next.TotalChecks
			}
		}
	}
	return c, true
}

func cloneView(v *View) *View {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}

// TriggerEvent is one derived automation trigger event or hook. Payload is
// a JSON-able map: strings are plain strings (statuses too), counts are ints.
type TriggerEvent struct {
	Type    string         `json:"type"`
	Payload map[string]any `json:"payload"`
}

// FormatTimestamp renders a time the way event payloads carry it: RFC 3339
// with nanoseconds, in UTC.
func FormatTimestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// SystemHealthPayload is the payload of the three system trigger events
// (toPayload, §4.3). systemName is never populated at 1.5.0.
func SystemHealthPayload(systemID string, prev, next *View, occurredAt time.Time) map[string]any {
	p := map[string]any{
		"systemId":      systemID,
		"healthyChecks": 0,
		"totalChecks":   0,
		"timestamp":     FormatTimestamp(occurredAt),
	}
	if prev != nil {
		p["previousStatus"] = string(prev.Status)
	}
	if next != nil {
		p["newStatus"] = string(next.Status)
		p["healthyChecks"] = next.HealthyChecks
		p["totalChecks"] = next.TotalChecks
	}
	return p
}

// DeriveEvents returns the trigger events of a view change in the
// reference's order (§4.3):
//   - either side nil (create/tombstone) or same status → none;
//   - next healthy → [system_healthy, system_health_changed];
//   - prev healthy → [system_degraded, system_health_changed];
//   - degraded ↔ unhealthy → [system_health_changed].
//
// Every event carries SystemHealthPayload.
func DeriveEvents(prev, next *View, systemID string, occurredAt time.Time) []TriggerEvent {
	if prev == nil || next == nil || prev.Status == next.Status {
		return nil
	}
	var types []string
	switch {
	case next.Status == Healthy:
		types = []string{EventSystemHealthy, EventSystemHealthChanged}
	case prev.Status == Healthy:
		types = []string{EventSystemDegraded, EventSystemHealthChanged}
	default:
		types = []string{EventSystemHealthChanged}
	}
	out := make([]TriggerEvent, len(types))
	for i, t := range types {
		out[i] = TriggerEvent{Type: t, Payload: SystemHealthPayload(systemID, prev, next, occurredAt)}
	}
	return out
}

// HealthChangeClass is the result of ClassifyHealthChange (§4.4).
type HealthChangeClass struct {
	SystemID       string  `json:"systemId"`
	PreviousStatus *Status `json:"previousStatus"`
	NewStatus      *Status `json:"newStatus"`
	// Degraded: both present, prev healthy, next not healthy.
	Degraded bool `json:"degraded"`
	// Recovered: both present, next healthy, prev not healthy.
	Recovered bool `json:"recovered"`
}

// ClassifyHealthChange classifies a view change for other consumers (SLO,
// dependencies): statuses are nil for an absent side; create and tombstone
// are neither degraded nor recovered.
func ClassifyHealthChange(systemID string, prev, next *View) HealthChangeClass {
	c := HealthChangeClass{SystemID: systemID}
	if prev != nil {
		s := prev.Status
		c.PreviousStatus = &s
	}
	if next != nil {
		s := next.Status
		c.NewStatus = &s
	}
	if prev != nil && next != nil {
		c.Degraded = prev.Status == Healthy && next.Status != Healthy
		c.Recovered = next.Status == Healthy && prev.Status != Healthy
	}
	return c
}

// CheckRun describes one finished run for the check hooks (§8.1).
type CheckRun struct {
	SystemID        string
	ConfigurationID string
	Status          Status
	// LatencyMs is absent for catastrophic failures.
	LatencyMs *int
	// Result is the collector results map (metadata.collectors); nil when absent.
	Result map[string]any
	// At is the run time.
	At time.Time
	// RawResult is the collector results as JSON, used when Result is nil: the payload carries
	// it as it is (a probe session does not decode every quiet run's results to encode them
	// again).
	RawResult json.RawMessage
}

// Payload is the check hook/trigger payload {systemId, configurationId,
// status, latencyMs?, result?, timestamp}.
func (r CheckRun) Payload() map[string]any {
	p := map[string]any{
		"systemId":        r.SystemID,
		"configurationId": r.ConfigurationID,
		"status":          string(r.Status),
		"timestamp":       FormatTimestamp(r.At),
	}
	if r.LatencyMs != nil {
		p["latencyMs"] = *r.LatencyMs
	}
	switch {
	case r.Result != nil:
		p["result"] = copyMap(r.Result)
	case len(r.RawResult) > 0 && string(r.RawResult) != "null":
		p["result"] = r.RawResult
	}
	return p
}

// CheckRunEvents returns the hooks of a run ([check.completed] plus
// check.failed when the status is not healthy) and the trigger events
// ([check_failed] when not healthy). All carry the same payload.
func CheckRunEvents(r CheckRun) (hooks, triggers []TriggerEvent) {
	hooks = []TriggerEvent{{Type: HookCheckCompleted, Payload: r.Payload()}}
	if r.Status != Healthy {
		hooks = append(hooks, TriggerEvent{Type: HookCheckFailed, Payload: r.Payload()})
		triggers = []TriggerEvent{{Type: EventCheckFailed, Payload: r.Payload()}}
	}
	return hooks, triggers
}

// AssignmentChangedPayload is the payload of healthcheck.assignment.changed.
func AssignmentChangedPayload(systemID, configurationID string) map[string]any {
	return map[string]any{"systemId": systemID, "configurationId": configurationID}
}

// TriggerContextKey returns the built-in context key of every health
// trigger payload: its systemId ("" when absent).
func TriggerContextKey(payload map[string]any) string {
	s, _ := payload["systemId"].(string)
	return s
}

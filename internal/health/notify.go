package health

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// TransitionKind classifies an aggregate status transition (§7).
type TransitionKind string

// Transition kinds.
const (
	TransitionNone         TransitionKind = "none"
	TransitionEscalation   TransitionKind = "escalation"
	TransitionDeescalation TransitionKind = "deescalation"
	TransitionRecovery     TransitionKind = "recovery"
)

// ClassifyTransition: equal → none; next healthy → recovery; more severe →
// escalation; otherwise deescalation.
func ClassifyTransition(prev, next Status) TransitionKind {
	switch {
	case prev == next:
		return TransitionNone
	case next == Healthy:
		return TransitionRecovery
	case next.Severity() > prev.Severity():
		return TransitionEscalation
	default:
		return TransitionDeescalation
	}
}

// NotificationPolicy is the per-assignment (or platform default) policy (§7).
// At 1.5.0 it has this single key; legacy keys are dropped on read.
type NotificationPolicy struct {
	SuppressDeEscalations bool `json:"suppressDeEscalations"`
}

// NotificationDefaultsConfigID is the platform config document holding the
// default NotificationPolicy.
const NotificationDefaultsConfigID = "healthcheck.notification-defaults"

// ShouldNotify: none → false; deescalation with suppression → false; else true.
func ShouldNotify(kind TransitionKind, p NotificationPolicy) bool {
	switch kind {
	case TransitionNone:
		return false
	case TransitionDeescalation:
		return !p.SuppressDeEscalations
	default:
		return true
	}
}

// ParseNotificationPolicy parses a stored policy: unknown (legacy) keys are
// dropped, a missing suppressDeEscalations is false. A {"version":…,"data":…}
// config envelope is unwrapped. null or empty input gives (zero, false, nil):
// ok reports whether a policy was present.
func ParseNotificationPolicy(raw []byte) (p NotificationPolicy, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return NotificationPolicy{}, false, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return NotificationPolicy{}, false, fmt.Errorf("health: parse notification policy: %w", err)
	}
	if m == nil {
		return NotificationPolicy{}, false, nil
	}
	if data, hasData := m["data"]; hasData {
		if _, hasVersion := m["version"]; hasVersion {
			if _, hasKey := m["suppressDeEscalations"]; !hasKey {
				return ParseNotificationPolicy(data)
			}
		}
	}
	if v, has := m["suppressDeEscalations"]; has && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		if err := json.Unmarshal(v, &p.SuppressDeEscalations); err != nil {
			return NotificationPolicy{}, false, fmt.Errorf("health: parse notification policy: %w",
				&ValidationError{Errors: []FieldError{{"suppressDeEscalations", "must be a boolean"}}})
		}
	}
	return p, true, nil
}

// ResolveNotificationPolicy picks the policy for the check that just ran
// (§7 step 2, SNP-1…6):
//   - an assignment row with a non-null policy → that policy (legacy keys
//     ignored, missing key → false);
//   - otherwise (no row, or a NULL policy) → the platform default when set;
//   - otherwise the compile-time default {suppressDeEscalations: false}.
//
// A policy that fails to parse resolves to the compile-time default, as the
// reference's load-failure path does.
func ResolveNotificationPolicy(assignmentPolicy []byte, hasAssignmentRow bool, platformDefault []byte) NotificationPolicy {
	if hasAssignmentRow {
		p, ok, err := ParseNotificationPolicy(assignmentPolicy)
		if err != nil {
			return NotificationPolicy{}
		}
		if ok {
			return p
		}
	}
	p, ok, err := ParseNotificationPolicy(platformDefault)
	if err != nil || !ok {
		return NotificationPolicy{}
	}
	return p
}

// Notification importances.
const (
	ImportanceInfo     = "info"
	ImportanceWarning  = "warning"
	ImportanceCritical = "critical"
)

// Notification is the content sent to a system's subscribers (§7 step 6–7).
type Notification struct {
	Title       string `json:"title"`
	Body        string `json:"body"`
	Importance  string `json:"importance"`
	ActionLabel string `json:"actionLabel"`
	ActionURL   string `json:"actionUrl"`
	CollapseKey string `json:"collapseKey"`
}

// CollapseKey is the notification collapse key of a system.
func CollapseKey(systemID string) string { return "healthcheck.system-health." + systemID }

// BuildNotification renders the notification of prev → next for a system
// (the content depends only on next).
// systemName falls back to systemID; systemURL is the catalog system-detail
// URL (failing variants add the filter=failing query parameter):
//   - recovery (next healthy) → "System health restored: <name>", info, "View System";
//   - next unhealthy → "System health critical: <name>", critical, "View failing checks";
//   - otherwise (degraded) → "System health degraded: <name>", warning, "View failing checks".
func BuildNotification(systemID, systemName string, prev, next Status, systemURL string) Notification {
	name := systemName
	if name == "" {
		name = systemID
	}
	failingURL := systemURL + "?filter=failing"
	if strings.Contains(systemURL, "?") {
		failingURL = systemURL + "&filter=failing"
	}
	n := Notification{CollapseKey: CollapseKey(systemID)}
	switch next {
	case Healthy:
		n.Title = "System health restored: " + name
		n.Body = "All health checks for **" + name + "** are now passing. The system has returned to normal operation."
		n.Importance = ImportanceInfo
		n.ActionLabel = "View System"
		n.ActionURL = systemURL
	case Unhealthy:
		n.Title = "System health critical: " + name
		n.Body = "Health checks indicate **" + name + "** is unhealthy and may be down."
		n.Importance = ImportanceCritical
		n.ActionLabel = "View failing checks"
		n.ActionURL = failingURL
	default:
		n.Title = "System health degraded: " + name
		n.Body = "Some health checks for **" + name + "** are failing. The system may be experiencing issues."
		n.Importance = ImportanceWarning
		n.ActionLabel = "View failing checks"
		n.ActionURL = failingURL
	}
	return n
}

// BuildFlappingNotification is the message of a system that started flapping (started) or
// stopped flapping, then naming its current status (checkflow, beyond the reference; issue 13):
// while a system flaps, its transitions are not notified one by one.
func BuildFlappingNotification(systemID, systemName string, started bool, status Status, percent float64, systemURL string) Notification {
	name := systemName
	if name == "" {
		name = systemID
	}
	n := Notification{CollapseKey: CollapseKey(systemID), ActionLabel: "View System", ActionURL: systemURL}
	if started {
		n.Title = "System flapping: " + name
		n.Body = fmt.Sprintf("**%s** keeps changing status (%.0f %% state change over its last %d evaluations). "+
			"Its status changes are not notified one by one until it settles.", name, percent, FlapHistorySize)
		n.Importance = ImportanceWarning
		return n
	}
	n.Title = "System stopped flapping: " + name + " (now " + string(status) + ")"
	n.Body = fmt.Sprintf("**%s** has settled and is now %s.", name, status)
	switch status {
	case Healthy:
		n.Importance = ImportanceInfo
	case Unhealthy:
		n.Importance = ImportanceCritical
	default:
		n.Importance = ImportanceWarning
	}
	return n
}

// Package manifest is checkflow's configuration as code: YAML manifests (kinds System and
// Healthcheck, reference §12, and checkflow's NotificationChannel, MaintenanceWindow and
// Automation, see kinds.go) decoded strictly into a normalized model, the same model built
// from the server's state, a pure plan (create / update with changed fields / delete /
// unchanged) between the two, and the export of a model back to manifests.
//
// A manifest document:
//
//	apiVersion: checkflow.io/v1alpha1
//	kind: Healthcheck
//	metadata:
//	  name: api-health            # the check's name on the server (its identity)
//	spec:
//	  strategy: http
//	  intervalSeconds: 30
//	  config: {}
//	  collectors:
//	    - collectorId: request
//	      config: {url: "https://api.example.com/health"}
//	      assertions:
//	        - {field: responseTimeMs, operator: lessThan, value: 300}
//	---
//	apiVersion: checkflow.io/v1alpha1
//	kind: System
//	metadata:
//	  name: payments              # the system id
//	  title: Payments             # its display name (default: the id)
//	  labels: {team: payments}
//	spec:
//	  description: Card payments
//	  healthchecks:
//	    - ref: {kind: Healthcheck, name: api-health}
//	      degradedThreshold: 3
//	      unhealthyThreshold: 5
//
// Secrets are never written in a manifest: a config value `{secretRef: NAME}` is read from the
// environment of apply, `{secretFile: path}` from a file (relative to the manifest). Plans show
// them as "(secret)" and exports write references, never values.
package manifest

import (
	"fmt"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
)

// APIVersion is the apiVersion manifests are written with; LegacyAPIVersion (the reference's)
// is accepted too.
const (
	APIVersion       = "checkflow.io/v1alpha1"
	LegacyAPIVersion = "checkstack.io/v1alpha1"
)

// Kind names a manifest kind.
type Kind string

// The supported kinds (kinds.go documents the last three).
const (
	KindHealthcheck         Kind = "Healthcheck"
	KindSystem              Kind = "System"
	KindNotificationChannel Kind = "NotificationChannel"
	KindMaintenanceWindow   Kind = "MaintenanceWindow"
	KindAutomation          Kind = "Automation"
)

// Kinds lists the supported kinds in apply order (an object is written after the objects it
// references; deletes go the other way).
func Kinds() []Kind {
	return []Kind{KindHealthcheck, KindSystem, KindNotificationChannel, KindMaintenanceWindow, KindAutomation}
}

// Pos is where something was written: file, line and column (1-based).
type Pos struct {
	File   string
	Line   int
	Column int
}

// String renders "file:line:column" (or "" for a position-less value, e.g. from the server).
func (p Pos) String() string {
	if p.File == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// State is a normalized configuration: the desired one (decoded manifests) or the current one
// (read from the server). Both sides of a plan use it, so comparing them is comparing values.
type State struct {
	// Checks by name.
	Checks map[string]*Check
	// Systems by id.
	Systems map[string]*System
	// Channels by name (kind NotificationChannel).
	Channels map[string]*Channel
	// Windows by title (kind MaintenanceWindow).
	Windows map[string]*Window
	// Automations by name.
	Automations map[string]*Automation
	// ExternalSystems are the system references of channels, maintenance windows and
	// automations that name no System manifest: the system must then exist on the server
	// (CheckExternalRefs). Desired state only.
	ExternalSystems []Ref
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Checks: map[string]*Check{}, Systems: map[string]*System{}, Channels: map[string]*Channel{},
		Windows: map[string]*Window{}, Automations: map[string]*Automation{}}
}

// Check is a health check configuration (kind Healthcheck).
type Check struct {
	// Name identifies the check (metadata.name; the name on the server).
	Name            string
	Strategy        string
	IntervalSeconds int
	Paused          bool
	// Config is the strategy config: JSON-like values (map[string]any, []any, string, float64,
	// bool, nil) whose leaves may be *Secret.
	Config map[string]any
	// Collectors are keyed by collectorId (at most one instance per collector, reference §12.1).
	Collectors []Collector
	// ID is the server id (current state only).
	ID string
	// Pos is where the document was written (desired state only).
	Pos Pos
}

// Collector is one collector of a check.
type Collector struct {
	CollectorID string
	// Config has the same value types as Check.Config.
	Config     map[string]any
	Assertions []checks.Assertion
}

// System is a system with, optionally, the checks assigned to it (System.healthchecks).
type System struct {
	// ID is the system id (metadata.name).
	ID          string
	Name        string
	Description string
	Labels      map[string]string
	// ManageHealthchecks is true when the manifest has a healthchecks key: the assignments are
	// then exactly Healthchecks (an empty list removes every assignment). Without the key the
	// system's assignments are left alone.
	ManageHealthchecks bool
	// Healthchecks are sorted by check name.
	Healthchecks []Assignment
	Pos          Pos
}

// Assignment assigns a check to a system.
type Assignment struct {
	// Check is the check's name.
	Check   string
	Enabled bool
	// Thresholds nil = the defaults.
	Thresholds *health.Thresholds
	// NotificationPolicy nil = inherit the platform defaults.
	NotificationPolicy *health.NotificationPolicy
	Locations          []string
	// Quorum is how many locations must fail for a run to fail (1 to the number of locations,
	// with at least 2 locations); nil = a majority of the locations (the server's null).
	Quorum *int
	Pos    Pos
	// field is the path of the ref in its manifest (error messages).
	field string
}

// Secret is a config value given by reference. Its value is never printed: String and the
// plan render "(secret)".
type Secret struct {
	// Ref names an environment variable (secretRef).
	Ref string
	// File is a file path (secretFile).
	File string
	// Masked marks a secret read from the server ("****"): its value is unknown.
	Masked bool
	value  string
}

// Value returns the resolved secret value ("" for a masked one).
func (s *Secret) Value() string { return s.value }

// String never shows the value.
func (s *Secret) String() string { return "(secret)" }

// GoString never shows the value either.
func (s *Secret) GoString() string { return "(secret)" }

// MaskedValue is how the API shows a secret config value; sending it back keeps the stored one.
const MaskedValue = "****"

package workflows

import (
	"encoding/json"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// Names of the automation workflow (issue 13; design.md §3): one long-lived workflow per
// automation owns its gate — the occurrences it records, its cooldowns — so that its decisions
// are serialized without locks and survive crashes.
const (
	// AutomationWorkflow is the workflow type; its id is AutomationWorkflowID(id).
	AutomationWorkflow = "Automation"
	// SignalAutomationEvent hands the workflow one matched trigger event (an AutomationEvent);
	// the outbox dispatcher sends it with start.
	SignalAutomationEvent = "automation-event"
	// SignalAutomationChanged tells the workflow that its automation was changed or deleted (no
	// payload: it reloads).
	SignalAutomationChanged = "automation-changed"

	// ActivityLoadAutomation returns an AutomationConfig (local activity).
	ActivityLoadAutomation = "LoadAutomation"
	// ActivityRecordOccurrence records an occurrence and returns the partition's prior ones in
	// the window (local activity; idempotent by event key).
	ActivityRecordOccurrence = "RecordAutomationOccurrence"
	// ActivityRunAutomationAction runs one action of a fire, exactly once by its key.
	ActivityRunAutomationAction = "RunAutomationAction"
)

// AutomationWorkflowID is the workflow id of an automation.
func AutomationWorkflowID(automationID string) string { return "automation/" + automationID }

// AutomationInput starts (or continues) an automation's workflow.
type AutomationInput struct {
	AutomationID string           `json:"automationId"`
	State        *AutomationState `json:"state,omitempty"`
}

// AutomationState is carried across continue-as-new.
type AutomationState struct {
	Cooldowns health.Cooldowns `json:"cooldowns"`
	// Fires counts fires over the workflow's life; LastFires are the newest few (UI details).
	Fires     int64            `json:"fires"`
	LastFires []AutomationFire `json:"lastFires,omitempty"`
	// Pending are received events not yet processed.
	Pending []AutomationEvent `json:"pending,omitempty"`
	// Seen are the newest processed event keys (redeliveries are dropped), oldest first.
	Seen []string `json:"seen,omitempty"`
}

// AutomationEvent is one trigger event that matched the automation's filter, as the dispatcher
// evaluated it (CEL runs in the dispatcher, never in workflow code).
type AutomationEvent struct {
	// Key is the outbox event's idempotency key.
	Key  string `json:"key"`
	Type string `json:"type"`
	// Payload is the event's payload as stored (JSON object).
	Payload json.RawMessage `json:"payload"`
	// At is when the event happened (the outbox row's created_at): the gate's now.
	At time.Time `json:"at"`
	// PartitionKey is the window's partition (partitionBy, else the system id).
	PartitionKey string `json:"partitionKey"`
	// Revision is the automation's revision the dispatcher matched with.
	Revision int64 `json:"revision"`
}

// AutomationConfig is what the workflow needs of an automation (ActivityLoadAutomation).
type AutomationConfig struct {
	Found           bool                 `json:"found"`
	ID              string               `json:"id"`
	Name            string               `json:"name"`
	Revision        int64                `json:"revision"`
	Enabled         bool                 `json:"enabled"`
	Window          *health.WindowConfig `json:"window,omitempty"`
	CooldownSeconds int                  `json:"cooldownSeconds"`
	Actions         []AutomationAction   `json:"actions"`
}

// AutomationAction is one action of an automation.
type AutomationAction struct {
	Type   string          `json:"type"`
	Config json.RawMessage `json:"config"`
}

// RecordOccurrenceRequest records an occurrence (ActivityRecordOccurrence).
type RecordOccurrenceRequest struct {
	AutomationID string    `json:"automationId"`
	EventKey     string    `json:"eventKey"`
	PartitionKey string    `json:"partitionKey"`
	At           time.Time `json:"at"`
	// Since is the window's start; Limit how many of the newest prior occurrences to return.
	Since time.Time `json:"since"`
	Limit int       `json:"limit"`
}

// RecordOccurrenceResponse is the partition's prior occurrences in the window (this one
// excluded); Inserted is false when the event was recorded before (a redelivery).
type RecordOccurrenceResponse struct {
	Inserted bool        `json:"inserted"`
	Prior    []time.Time `json:"prior"`
}

// RunAutomationActionRequest runs one action of a fire (ActivityRunAutomationAction).
type RunAutomationActionRequest struct {
	AutomationID string           `json:"automationId"`
	Revision     int64            `json:"revision"`
	Index        int              `json:"index"`
	Action       AutomationAction `json:"action"`
	Event        AutomationEvent  `json:"event"`
	FiredAt      time.Time        `json:"firedAt"`
	// Key is health.AutomationActionKey(event key, automation id, index).
	Key string `json:"key"`
}

// AutomationFire is one fire, as the UI details and the state remember it.
type AutomationFire struct {
	EventKey     string    `json:"eventKey"`
	PartitionKey string    `json:"partitionKey"`
	At           time.Time `json:"at"`
	Outcomes     []string  `json:"outcomes"`
}

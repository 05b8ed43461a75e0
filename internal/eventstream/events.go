// Package eventstream turns the outbox (health_events) into the live event stream of
// GET /api/v1/stream: one shared poller per process reads new outbox rows by id and fans them
// out to subscribers, each with a bounded buffer. Every event is delivered in id order, once,
// and only once every lower id is final — so a client resuming after the last id it saw gets
// exactly the rest, with no gap and no duplicate.
package eventstream

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// Stream event names (the SSE "event:" field).
const (
	// EventRunCompleted: a check of a system completed a run (outbox healthcheck.check.completed).
	EventRunCompleted = "run.completed"
	// EventStatusChanged: a system's evaluated status changed (healthcheck.system_health_changed).
	EventStatusChanged = "system.status_changed"
	// EventMaintenanceStarted and EventMaintenanceEnded: a maintenance window started or ended
	// for a system (outbox maintenance.started / maintenance.ended).
	EventMaintenanceStarted = "maintenance.started"
	EventMaintenanceEnded   = "maintenance.ended"
	// EventReset: sent first when the events after the client's Last-Event-ID were partly
	// pruned from the outbox (or the id is unknown); the client should reload its state.
	EventReset = "reset"
)

// Outbox types of the maintenance edges, as activities.Notifier.MaintenanceEdge writes them.
const (
	OutboxMaintenanceStarted = "maintenance.started"
	OutboxMaintenanceEnded   = "maintenance.ended"
)

// OutboxTypes lists the outbox event types the stream carries.
func OutboxTypes() []string {
	return []string{health.HookCheckCompleted, health.EventSystemHealthChanged, OutboxMaintenanceStarted, OutboxMaintenanceEnded}
}

// streamEvent maps an outbox type to its stream event name and the payload fields the stream
// shows (in this order; other fields are dropped — a run's result needs details:read).
func streamEvent(outboxType string) (name string, fields []string) {
	switch outboxType {
	case health.HookCheckCompleted:
		return EventRunCompleted, []string{"systemId", "configurationId", "status", "latencyMs", "timestamp"}
	case health.EventSystemHealthChanged:
		return EventStatusChanged, []string{"systemId", "previousStatus", "newStatus", "healthyChecks", "totalChecks", "timestamp"}
	case OutboxMaintenanceStarted:
		return EventMaintenanceStarted, []string{"systemId", "maintenanceId", "timestamp"}
	case OutboxMaintenanceEnded:
		return EventMaintenanceEnded, []string{"systemId", "maintenanceId", "timestamp"}
	}
	return "", nil
}

// Event is one stream event. It is immutable once built and shared by every subscriber.
type Event struct {
	// ID is the outbox row id (the SSE "id:").
	ID int64
	// Name is the SSE event name (EventRunCompleted …).
	Name     string
	SystemID string
	// Data is the JSON object sent as the SSE data.
	Data  []byte
	frame []byte
}

// Frame is the event as an SSE frame: "id: …\nevent: …\ndata: …\n\n".
func (e Event) Frame() []byte {
	if e.frame != nil {
		return e.frame
	}
	return frame(e.ID, e.Name, e.Data)
}

func frame(id int64, name string, data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(data) + len(name) + 40)
	b.WriteString("id: ")
	b.WriteString(strconv.FormatInt(id, 10))
	b.WriteString("\nevent: ")
	b.WriteString(name)
	b.WriteString("\ndata: ")
	b.Write(data) // compact JSON: no newline inside
	b.WriteString("\n\n")
	return b.Bytes()
}

// FromRow builds the stream event of an outbox row; false for a type the stream does not carry.
// The data holds the type's public fields only (systemId always, from the row when the payload
// lacks it); a payload that is not a JSON object yields {"systemId": …}.
func FromRow(r store.StreamRow) (Event, bool) {
	name, fields := streamEvent(r.Type)
	if name == "" {
		return Event{}, false
	}
	var payload map[string]json.RawMessage
	_ = json.Unmarshal(r.Payload, &payload) // a broken payload keeps the systemId only
	if _, ok := payload["systemId"]; !ok {
		sys, _ := json.Marshal(r.SystemID)
		if payload == nil {
			payload = map[string]json.RawMessage{}
		}
		payload["systemId"] = sys
	}
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, f := range fields {
		v, ok := payload[f]
		if !ok {
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(strconv.Quote(f))
		b.WriteByte(':')
		b.Write(compact.Bytes())
	}
	b.WriteByte('}')
	e := Event{ID: r.ID, Name: name, SystemID: r.SystemID, Data: b.Bytes()}
	e.frame = frame(e.ID, e.Name, e.Data)
	return e, true
}

// ResetFrame is the SSE frame of a reset: the events after afterID were pruned (or afterID is
// unknown); the stream goes on after resumeAfter.
func ResetFrame(afterID, resumeAfter int64, reason string) []byte {
	data, _ := json.Marshal(map[string]any{"lastEventId": afterID, "resumeAfter": resumeAfter, "reason": reason})
	var b bytes.Buffer
	b.WriteString("event: " + EventReset + "\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return b.Bytes()
}

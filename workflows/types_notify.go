package workflows

import (
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// Public names of the notification workflows (design.md §3: "one per maintenance window"; the
// per-system notifier serializes what a system's subscribers are told). Never rename them.
const (
	// NotifierWorkflow decides and delivers the notifications of one system.
	NotifierWorkflow = "SystemNotifier"
	// SignalNotifyTransition hands the notifier a system transition (a NotifyTransition).
	SignalNotifyTransition = "transition"
	// SignalNotifyCheckFailed hands the notifier a failed run (a NotifyCheckFailed).
	SignalNotifyCheckFailed = "check-failed"
	// SignalNotifyMaintenance tells the notifier a maintenance window of its system started or
	// ended (a NotifyMaintenance).
	SignalNotifyMaintenance = "maintenance"
	// SignalNotifyFlapping tells the notifier its system started or stopped flapping (a
	// NotifyFlapping).
	SignalNotifyFlapping = "flapping"

	// MaintenanceWorkflow runs one maintenance window: a timer to its start and one to its end.
	MaintenanceWorkflow = "MaintenanceWindow"
	// SignalMaintenanceChanged tells a window's workflow that the window was created, changed or
	// deleted in PostgreSQL (no payload: it reloads).
	SignalMaintenanceChanged = "maintenance-changed"
)

// NotifierWorkflowID is the notifier's workflow id for a system.
func NotifierWorkflowID(systemID string) string { return "notify/" + systemID }

// MaintenanceWorkflowID is the workflow id of a maintenance window.
func MaintenanceWorkflowID(windowID string) string { return "maintenance/" + windowID }

// MaintenanceInput starts a window's workflow.
type MaintenanceInput struct {
	WindowID string `json:"windowId"`
}

// Activities of the notifier and the maintenance windows.
const (
	ActivityPlanTransition     = "PlanTransitionNotification"
	ActivityPlanCheckFailed    = "PlanCheckFailedNotification"
	ActivityPlanReminders      = "PlanReminders"
	ActivityPlanMaintenanceEnd = "PlanMaintenanceEnd"
	ActivityDeliver            = "DeliverNotification"
	ActivityFailDelivery       = "FailDelivery"
	ActivityLoadMaintenance    = "LoadMaintenance"
	ActivityMaintenanceEdge    = "MaintenanceEdge"
	ActivityPlanFlapping       = "PlanFlappingNotification"
)

// ErrTypeDeliveryRejected marks a delivery that no retry can fix (the receiver refused it, the
// channel was deleted or its config cannot be opened).
const ErrTypeDeliveryRejected = "DeliveryRejected"

// ErrTypeDeliveryFailed marks a failed delivery attempt that a later attempt may fix.
const ErrTypeDeliveryFailed = "DeliveryFailed"

// NotifyTransition is a system transition handed to the notifier (from the outbox event
// healthcheck.system_health_changed).
type NotifyTransition struct {
	// EventKey is the outbox event's idempotency key: delivery ids are "<EventKey>:<channelId>".
	EventKey string        `json:"eventKey"`
	Seq      int64         `json:"seq"`
	From     health.Status `json:"from"`
	To       health.Status `json:"to"`
	At       time.Time     `json:"at"`
}

// NotifyCheckFailed is a failed run handed to the notifier (outbox trigger
// healthcheck.check_failed), sent only when some channel subscribes to check_failed.
type NotifyCheckFailed struct {
	EventKey        string        `json:"eventKey"`
	Seq             int64         `json:"seq"`
	ConfigurationID string        `json:"configurationId"`
	Status          health.Status `json:"status"`
	At              time.Time     `json:"at"`
}

// NotifyFlapping says the system started (Started) or stopped flapping; Status is its evaluated
// status then.
type NotifyFlapping struct {
	EventKey string        `json:"eventKey"`
	Seq      int64         `json:"seq"`
	Started  bool          `json:"started"`
	Status   health.Status `json:"status"`
	Percent  float64       `json:"percent"`
	At       time.Time     `json:"at"`
}

// PlanFlappingRequest asks for the deliveries of a flapping start or stop.
type PlanFlappingRequest struct {
	SystemID string         `json:"systemId"`
	Flapping NotifyFlapping `json:"flapping"`
}

// NotifyMaintenance says a maintenance window of the system started or ended.
type NotifyMaintenance struct {
	WindowID string    `json:"windowId"`
	Started  bool      `json:"started"`
	At       time.Time `json:"at"`
}

// NotifierOptions tune the notifier; zero values take the defaults.
type NotifierOptions struct {
	// GiveUpAfter bounds the retries of one delivery (default 24 h); then it is failed.
	GiveUpAfter time.Duration `json:"giveUpAfter,omitempty"`
	// MaxRetryInterval caps the exponential backoff between attempts (default 10 min).
	MaxRetryInterval time.Duration `json:"maxRetryInterval,omitempty"`
	// IdleTimeout is how long a notifier with nothing to do waits for more before it ends
	// (default 10 min); the next event starts it again.
	IdleTimeout time.Duration `json:"idleTimeout,omitempty"`
}

// NotifierInput starts (or continues) a system's notifier.
type NotifierInput struct {
	SystemID string          `json:"systemId"`
	Options  NotifierOptions `json:"options"`
	// State is carried across continue-as-new.
	State *NotifierState `json:"state,omitempty"`
}

// NotifierState is what a notifier remembers between events.
type NotifierState struct {
	// LastSeq is the highest system seq handled (transitions and failed runs): a repeat is
	// dropped.
	LastSeq int64 `json:"lastSeq"`
	// Status is the system's status as of the last transition ("" unknown).
	Status health.Status `json:"status,omitempty"`
	// DownSince is when the system left healthy; DownSeq the seq of that transition.
	DownSince *time.Time `json:"downSince,omitempty"`
	DownSeq   int64      `json:"downSeq,omitempty"`
	// InMaintenance is set between a window's start and end signals.
	InMaintenance bool `json:"inMaintenance,omitempty"`
	// Flapping is set between the system's flapping start and stop: its transitions are not
	// notified one by one (and it has no reminders); FlapSeq is the seq of the last flapping
	// input handled.
	Flapping bool  `json:"flapping,omitempty"`
	FlapSeq  int64 `json:"flapSeq,omitempty"`
	// Reminders are the channels reminding while the system is down, by channel id.
	Reminders []Reminder `json:"reminders,omitempty"`
	// Queue holds inputs not yet handled (carried across continue-as-new).
	Queue []NotifyInput `json:"queue,omitempty"`
}

// Reminder is one channel's reminder cadence while a system is down.
type Reminder struct {
	ChannelID    string    `json:"channelId"`
	EverySeconds int       `json:"everySeconds"`
	NextAt       time.Time `json:"nextAt"`
	// Count is how many reminders were planned in this down period.
	Count int `json:"count"`
}

// NotifyInput is one queued input of the notifier (exactly one field set).
type NotifyInput struct {
	Transition  *NotifyTransition  `json:"transition,omitempty"`
	CheckFailed *NotifyCheckFailed `json:"checkFailed,omitempty"`
	Maintenance *NotifyMaintenance `json:"maintenance,omitempty"`
	Flapping    *NotifyFlapping    `json:"flapping,omitempty"`
}

// PlannedDelivery is a delivery row written by a plan activity, to be sent.
type PlannedDelivery struct {
	ID        string `json:"id"`
	ChannelID string `json:"channelId"`
}

// ReminderChannel is a channel that reminds every EverySeconds while the system is down.
type ReminderChannel struct {
	ChannelID    string `json:"channelId"`
	EverySeconds int    `json:"everySeconds"`
}

// PlanTransitionRequest asks which notifications a transition causes.
type PlanTransitionRequest struct {
	SystemID   string           `json:"systemId"`
	Transition NotifyTransition `json:"transition"`
}

// PlanResponse is what a plan activity decided.
type PlanResponse struct {
	// Deliveries were recorded (pending) and are to be sent, in order.
	Deliveries []PlannedDelivery `json:"deliveries,omitempty"`
	// Suppressed says why nothing is sent ("policy", "maintenance", "unchanged", "none").
	Suppressed string `json:"suppressed,omitempty"`
	// InMaintenance: a window covers the system.
	InMaintenance bool `json:"inMaintenance,omitempty"`
	// Status is the system's status the plan is about ("" when not known).
	Status health.Status `json:"status,omitempty"`
	// Reminders are the channels that remind while the system is down.
	Reminders []ReminderChannel `json:"reminders,omitempty"`
}

// PlanCheckFailedRequest asks which channels hear of a failed run.
type PlanCheckFailedRequest struct {
	SystemID    string            `json:"systemId"`
	CheckFailed NotifyCheckFailed `json:"checkFailed"`
}

// DueReminder is one reminder to plan.
type DueReminder struct {
	ChannelID string `json:"channelId"`
	Count     int    `json:"count"`
}

// PlanRemindersRequest asks for the reminders due now.
type PlanRemindersRequest struct {
	SystemID  string        `json:"systemId"`
	Status    health.Status `json:"status"`
	DownSince time.Time     `json:"downSince"`
	DownSeq   int64         `json:"downSeq"`
	At        time.Time     `json:"at"`
	Due       []DueReminder `json:"due"`
}

// PlanMaintenanceEndRequest asks what to tell subscribers when a window ended.
type PlanMaintenanceEndRequest struct {
	SystemID string    `json:"systemId"`
	WindowID string    `json:"windowId"`
	At       time.Time `json:"at"`
}

// DeliverRequest sends one recorded delivery.
type DeliverRequest struct {
	DeliveryID string `json:"deliveryId"`
}

// FailDeliveryRequest records that a delivery was given up.
type FailDeliveryRequest struct {
	DeliveryID string `json:"deliveryId"`
	Reason     string `json:"reason"`
}

// MaintenanceInfo is a window as its workflow sees it.
type MaintenanceInfo struct {
	Found     bool       `json:"found"`
	SystemIDs []string   `json:"systemIds,omitempty"`
	StartsAt  time.Time  `json:"startsAt"`
	EndsAt    time.Time  `json:"endsAt"`
	StartedAt *time.Time `json:"startedAt,omitempty"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
}

// MaintenanceEdgeRequest records a window's start or end for some of its systems and tells
// their notifiers. Final marks the window itself as ended (or started) in PostgreSQL.
type MaintenanceEdgeRequest struct {
	WindowID  string    `json:"windowId"`
	Started   bool      `json:"started"`
	SystemIDs []string  `json:"systemIds"`
	At        time.Time `json:"at"`
	Final     bool      `json:"final"`
}

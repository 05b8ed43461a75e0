package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/metrics"
	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// Events raised by the notification side (design.md §3, issue 15's live stream).
const (
	EventChannelFailing   = "notification.channel_failing"
	EventMaintenanceStart = "maintenance.started"
	EventMaintenanceEnd   = "maintenance.ended"
)

// DefaultFailingAfter is how many failed attempts in a row mark a channel failing.
const DefaultFailingAfter = 3

// Notifier holds the activities of the SystemNotifier and MaintenanceWindow workflows: plan
// (decide and record deliveries), deliver (send one, with the channel's secrets opened only
// here), and the maintenance edges.
type Notifier struct {
	Store    *store.Store
	Box      *secretbox.Box
	Temporal client.Client
	// TaskQueue is where notifiers run (the main task queue).
	TaskQueue string
	// NotifierOptions are given to the notifiers this worker starts.
	NotifierOptions workflows.NotifierOptions
	Limiter         *notify.Limiter
	// Channel are the channels' options (HTTP client, SMTP TLS config).
	Channel notify.Options
	Logger  *slog.Logger
	// Metrics (optional) counts the delivery attempts by channel type and outcome.
	Metrics *metrics.Registry
	// FailingAfter is how many failed attempts in a row mark a channel failing (default
	// DefaultFailingAfter).
	FailingAfter int
	// BaseURL is the public URL of the API/status page; messages link to
	// <BaseURL>/status/<systemId> when it is set.
	BaseURL string
}

// kindEvent maps a transition kind to the event name channels subscribe to.
func kindEvent(k health.TransitionKind) string {
	switch k {
	case health.TransitionEscalation:
		return notify.EventEscalation
	case health.TransitionDeescalation:
		return notify.EventDeEscalation
	case health.TransitionRecovery:
		return notify.EventRecovery
	}
	return ""
}

// PlanTransition decides what a system transition tells subscribers (reference §7: classify,
// resolve the policy of the check that ran, maintenance suppression) and records one pending
// delivery per subscribed channel.
func (a *Notifier) PlanTransition(ctx context.Context, req workflows.PlanTransitionRequest) (workflows.PlanResponse, error) {
	t := req.Transition
	resp := workflows.PlanResponse{Status: t.To}
	kind := health.ClassifyTransition(t.From, t.To)
	if kind == health.TransitionNone {
		resp.Suppressed = "none"
		return resp, nil
	}
	if quiet, err := a.quiet(ctx, req.SystemID, t.At, &resp); quiet || err != nil {
		return resp, err
	}
	var err error
	if resp.Reminders, err = a.reminderChannels(ctx, req.SystemID); err != nil {
		return resp, err
	}
	configID, err := a.Store.TransitionConfiguration(ctx, req.SystemID, t.Seq)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return resp, fmt.Errorf("transition of %s seq %d: %w", req.SystemID, t.Seq, err)
	}
	policy, err := a.Store.NotificationPolicyFor(ctx, req.SystemID, configID)
	if err != nil {
		// The reference's load-failure path: warn and notify (suppressDeEscalations false).
		a.Logger.WarnContext(ctx, "notification policy unavailable; notifying", "systemId", req.SystemID, "error", err)
		policy = health.NotificationPolicy{}
	}
	if !health.ShouldNotify(kind, policy) {
		resp.Suppressed = "policy"
		a.Logger.DebugContext(ctx, "notification suppressed by policy", "systemId", req.SystemID, "kind", kind)
		return resp, nil
	}
	ds, err := a.record(ctx, req.SystemID, t.EventKey, kindEvent(kind), t.From, t.To, t.At)
	if err != nil {
		return resp, err
	}
	if err := a.Store.SetLastNotified(ctx, req.SystemID, t.To, t.At); err != nil {
		return resp, fmt.Errorf("last notified of %s: %w", req.SystemID, err)
	}
	resp.Deliveries = ds
	return resp, nil
}

// PlanFlapping records the deliveries of a system's flapping start or stop: to the channels
// subscribed to escalations (the notifications flapping stands for), unless a maintenance window
// or quiet hours keep the system quiet. A stop also returns the reminding channels.
func (a *Notifier) PlanFlapping(ctx context.Context, req workflows.PlanFlappingRequest) (workflows.PlanResponse, error) {
	f := req.Flapping
	resp := workflows.PlanResponse{Status: f.Status}
	if quiet, err := a.quiet(ctx, req.SystemID, f.At, &resp); quiet || err != nil {
		return resp, err
	}
	if !f.Started {
		var err error
		if resp.Reminders, err = a.reminderChannels(ctx, req.SystemID); err != nil {
			return resp, err
		}
	}
	chans, err := a.Store.SubscribedChannels(ctx, req.SystemID, notify.EventEscalation)
	if err != nil {
		return resp, fmt.Errorf("channels of %s: %w", req.SystemID, err)
	}
	if len(chans) == 0 {
		return resp, nil
	}
	name := a.systemName(ctx, req.SystemID)
	checks, err := a.checks(ctx, req.SystemID)
	if err != nil {
		return resp, err
	}
	n := health.BuildFlappingNotification(req.SystemID, name, f.Started, f.Status, f.Percent, a.systemURL(req.SystemID))
	msg := notify.Message{
		Event: notify.EventFlapping, System: notify.SystemRef{ID: req.SystemID, Name: name}, Status: string(f.Status),
		OccurredAt: f.At.UTC(), Title: n.Title, Body: n.Body, Importance: n.Importance, Checks: checks, URL: a.systemURL(req.SystemID),
	}
	if resp.Deliveries, err = a.createDeliveries(ctx, req.SystemID, f.EventKey, chans, msg); err != nil {
		return resp, err
	}
	return resp, nil
}

// PlanCheckFailed records deliveries of a failed run to the channels subscribed to check_failed.
func (a *Notifier) PlanCheckFailed(ctx context.Context, req workflows.PlanCheckFailedRequest) (workflows.PlanResponse, error) {
	f := req.CheckFailed
	resp := workflows.PlanResponse{}
	chans, err := a.Store.SubscribedChannels(ctx, req.SystemID, notify.EventCheckFailed)
	if err != nil || len(chans) == 0 {
		return resp, err
	}
	if quiet, err := a.quiet(ctx, req.SystemID, f.At, &resp); quiet || err != nil {
		return resp, err
	}
	name := a.systemName(ctx, req.SystemID)
	checks, err := a.checks(ctx, req.SystemID)
	if err != nil {
		return resp, err
	}
	checkName := f.ConfigurationID
	for _, c := range checks {
		if c.ID == f.ConfigurationID {
			checkName = c.Name
		}
	}
	msg := notify.Message{
		Event: notify.EventCheckFailed, System: notify.SystemRef{ID: req.SystemID, Name: name},
		Status: string(f.Status), OccurredAt: f.At.UTC(),
		Title:      fmt.Sprintf("Check failed: %s (%s)", checkName, name),
		Body:       fmt.Sprintf("The check **%s** of **%s** failed (%s).", checkName, name, f.Status),
		Importance: health.ImportanceWarning, Checks: checks, URL: a.systemURL(req.SystemID),
	}
	resp.Deliveries, err = a.createDeliveries(ctx, req.SystemID, f.EventKey, chans, msg)
	return resp, err
}

// PlanReminders records the reminders that are due for a system that stays down.
func (a *Notifier) PlanReminders(ctx context.Context, req workflows.PlanRemindersRequest) (workflows.PlanResponse, error) {
	resp := workflows.PlanResponse{Status: req.Status}
	if quiet, err := a.quiet(ctx, req.SystemID, req.At, &resp); quiet || err != nil {
		return resp, err
	}
	name := a.systemName(ctx, req.SystemID)
	checks, err := a.checks(ctx, req.SystemID)
	if err != nil {
		return resp, err
	}
	downFor := req.At.Sub(req.DownSince).Truncate(time.Second)
	var ins []store.DeliveryInput
	for _, due := range req.Due {
		ch, err := a.Store.GetChannel(ctx, due.ChannelID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return resp, fmt.Errorf("channel %s: %w", due.ChannelID, err)
		}
		if !ch.Enabled || ch.RemindEverySeconds == nil || !subscribes(ch, req.SystemID) {
			continue
		}
		resp.Reminders = append(resp.Reminders, workflows.ReminderChannel{ChannelID: ch.ID, EverySeconds: *ch.RemindEverySeconds})
		n := health.BuildNotification(req.SystemID, name, req.Status, req.Status, a.systemURL(req.SystemID))
		msg := notify.Message{
			ID:    fmt.Sprintf("%s:%d:reminder:%d:%s", req.SystemID, req.DownSeq, due.Count, ch.ID),
			Event: notify.EventReminder, System: notify.SystemRef{ID: req.SystemID, Name: name},
			PreviousStatus: string(req.Status), Status: string(req.Status), OccurredAt: req.At.UTC(),
			Title: fmt.Sprintf("Still %s for %s: %s", req.Status, downFor, name),
			Body:  n.Body, Importance: n.Importance, Checks: checks,
			DownForSeconds: int64(downFor / time.Second), URL: a.systemURL(req.SystemID),
		}
		payload, err := json.Marshal(msg)
		if err != nil {
			return resp, fmt.Errorf("encode reminder: %w", err)
		}
		ins = append(ins, store.DeliveryInput{ID: msg.ID, ChannelID: ch.ID, SystemID: req.SystemID, Event: notify.EventReminder, Payload: payload})
		resp.Deliveries = append(resp.Deliveries, workflows.PlannedDelivery{ID: msg.ID, ChannelID: ch.ID})
	}
	if _, err := a.Store.CreateDeliveries(ctx, ins); err != nil {
		return resp, fmt.Errorf("record reminders: %w", err)
	}
	return resp, nil
}

// PlanMaintenanceEnd tells subscribers, once, where a system stands after a maintenance window:
// only when its status differs from what they were last told.
func (a *Notifier) PlanMaintenanceEnd(ctx context.Context, req workflows.PlanMaintenanceEndRequest) (workflows.PlanResponse, error) {
	resp := workflows.PlanResponse{}
	if quiet, err := a.quiet(ctx, req.SystemID, req.At, &resp); quiet || err != nil {
		return resp, err // another window may still cover it
	}
	view, err := a.Store.GetView(ctx, req.SystemID)
	if errors.Is(err, store.ErrNotFound) {
		resp.Suppressed = "none" // no checks, no status
		return resp, nil
	}
	if err != nil {
		return resp, fmt.Errorf("view of %s: %w", req.SystemID, err)
	}
	resp.Status = view.Status
	if resp.Reminders, err = a.reminderChannels(ctx, req.SystemID); err != nil {
		return resp, err
	}
	last, ok, err := a.Store.LastNotified(ctx, req.SystemID)
	if err != nil {
		return resp, fmt.Errorf("last notified of %s: %w", req.SystemID, err)
	}
	if !ok {
		last = health.Healthy // a system starts healthy (design.md invariant 5)
	}
	kind := health.ClassifyTransition(last, view.Status)
	if kind == health.TransitionNone {
		resp.Suppressed = "unchanged"
		return resp, nil
	}
	policy, err := a.Store.NotificationPolicyFor(ctx, req.SystemID, "")
	if err != nil {
		policy = health.NotificationPolicy{}
	}
	if !health.ShouldNotify(kind, policy) {
		resp.Suppressed = "policy"
		return resp, nil
	}
	key := "maintenance/" + req.WindowID + ":end:" + req.SystemID
	if resp.Deliveries, err = a.record(ctx, req.SystemID, key, kindEvent(kind), last, view.Status, req.At); err != nil {
		return resp, err
	}
	if err := a.Store.SetLastNotified(ctx, req.SystemID, view.Status, req.At); err != nil {
		return resp, fmt.Errorf("last notified of %s: %w", req.SystemID, err)
	}
	return resp, nil
}

// quiet reports whether a maintenance window covers the system at `at`; then resp says so and
// nothing is to be sent.
func (a *Notifier) quiet(ctx context.Context, systemID string, at time.Time, resp *workflows.PlanResponse) (bool, error) {
	in, err := a.Store.InMaintenance(ctx, systemID, at)
	if err != nil {
		return false, fmt.Errorf("maintenance of %s: %w", systemID, err)
	}
	if in {
		resp.InMaintenance, resp.Suppressed = true, "maintenance"
		a.Logger.DebugContext(ctx, "notification suppressed by maintenance", "systemId", systemID)
	}
	return in, nil
}

// record builds the message of a status change and records it for every channel subscribed to
// the event.
func (a *Notifier) record(ctx context.Context, systemID, eventKey, event string, from, to health.Status, at time.Time) ([]workflows.PlannedDelivery, error) {
	chans, err := a.Store.SubscribedChannels(ctx, systemID, event)
	if err != nil {
		return nil, fmt.Errorf("channels of %s: %w", systemID, err)
	}
	if len(chans) == 0 {
		return nil, nil
	}
	name := a.systemName(ctx, systemID)
	checks, err := a.checks(ctx, systemID)
	if err != nil {
		return nil, err
	}
	n := health.BuildNotification(systemID, name, from, to, a.systemURL(systemID))
	msg := notify.Message{
		Event: event, System: notify.SystemRef{ID: systemID, Name: name},
		PreviousStatus: string(from), Status: string(to), OccurredAt: at.UTC(),
		Title: n.Title, Body: n.Body, Importance: n.Importance, Checks: checks, URL: a.systemURL(systemID),
	}
	return a.createDeliveries(ctx, systemID, eventKey, chans, msg)
}

// createDeliveries records msg for each channel under the delivery id "<eventKey>:<channelId>".
func (a *Notifier) createDeliveries(ctx context.Context, systemID, eventKey string, chans []store.Channel, msg notify.Message) ([]workflows.PlannedDelivery, error) {
	var ins []store.DeliveryInput
	var out []workflows.PlannedDelivery
	for _, ch := range chans {
		m := msg
		m.ID = eventKey + ":" + ch.ID
		payload, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode notification: %w", err)
		}
		ins = append(ins, store.DeliveryInput{ID: m.ID, ChannelID: ch.ID, SystemID: systemID, Event: m.Event, Payload: payload})
		out = append(out, workflows.PlannedDelivery{ID: m.ID, ChannelID: ch.ID})
	}
	if _, err := a.Store.CreateDeliveries(ctx, ins); err != nil {
		return nil, fmt.Errorf("record deliveries: %w", err)
	}
	return out, nil
}

func (a *Notifier) reminderChannels(ctx context.Context, systemID string) ([]workflows.ReminderChannel, error) {
	chans, err := a.Store.SubscribedChannels(ctx, systemID, "")
	if err != nil {
		return nil, fmt.Errorf("channels of %s: %w", systemID, err)
	}
	var out []workflows.ReminderChannel
	for _, ch := range chans {
		if ch.RemindEverySeconds != nil && *ch.RemindEverySeconds > 0 {
			out = append(out, workflows.ReminderChannel{ChannelID: ch.ID, EverySeconds: *ch.RemindEverySeconds})
		}
	}
	return out, nil
}

func subscribes(ch store.Channel, systemID string) bool {
	return slices.Contains(ch.Systems, "*") || slices.Contains(ch.Systems, systemID)
}

func (a *Notifier) systemName(ctx context.Context, systemID string) string {
	if sys, err := a.Store.GetSystem(ctx, systemID); err == nil && sys.Name != "" {
		return sys.Name
	}
	return systemID
}

func (a *Notifier) systemURL(systemID string) string {
	if a.BaseURL == "" {
		return ""
	}
	return strings.TrimRight(a.BaseURL, "/") + "/status/" + systemID
}

func (a *Notifier) checks(ctx context.Context, systemID string) ([]notify.CheckRef, error) {
	cs, err := a.Store.CheckStatuses(ctx, systemID)
	if err != nil {
		return nil, fmt.Errorf("checks of %s: %w", systemID, err)
	}
	out := make([]notify.CheckRef, 0, len(cs))
	for _, c := range cs {
		ref := notify.CheckRef{ID: c.ConfigurationID, Name: c.Name}
		if c.Status != nil {
			ref.Status = string(*c.Status)
		}
		out = append(out, ref)
	}
	return out, nil
}

// Deliver sends one recorded delivery. A delivery already sent is not sent again (a retried or
// replayed activity); a failure is recorded on the delivery and the channel, and a channel that
// keeps failing raises notification.channel_failing once.
func (a *Notifier) Deliver(ctx context.Context, req workflows.DeliverRequest) error {
	d, err := a.Store.GetDelivery(ctx, req.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError("delivery "+req.DeliveryID+" no longer exists", workflows.ErrTypeDeliveryRejected, nil)
	}
	if err != nil {
		return fmt.Errorf("delivery %s: %w", req.DeliveryID, err)
	}
	if d.Status != store.DeliveryPending {
		return nil
	}
	ch, err := a.Store.GetChannel(ctx, d.ChannelID)
	if errors.Is(err, store.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError("the channel was deleted", workflows.ErrTypeDeliveryRejected, nil)
	}
	if err != nil {
		return fmt.Errorf("channel %s: %w", d.ChannelID, err)
	}
	if !ch.Enabled {
		return temporal.NewNonRetryableApplicationError("the channel is disabled", workflows.ErrTypeDeliveryRejected, nil)
	}
	c, err := a.channel(ch)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeDeliveryRejected, nil)
	}
	var msg notify.Message
	if err := json.Unmarshal(d.Payload, &msg); err != nil {
		return temporal.NewNonRetryableApplicationError("stored notification is not readable: "+err.Error(), workflows.ErrTypeDeliveryRejected, nil)
	}
	if _, err := a.Store.StartDeliveryAttempt(ctx, d.ID, time.Now().UTC()); err != nil {
		return fmt.Errorf("count attempt of %s: %w", d.ID, err)
	}
	if err := a.Limiter.Wait(ctx, ch.ID, ch.Type); err != nil {
		return fmt.Errorf("rate limit of channel %s: %w", ch.ID, err)
	}
	sendErr := c.Send(ctx, msg)
	now := time.Now().UTC()
	attempt := activity.GetInfo(ctx).Attempt
	if sendErr == nil {
		a.Metrics.ObserveDelivery(ch.Type, metrics.DeliverySent)
		if _, err := a.Store.MarkDeliverySent(ctx, d.ID, now); err != nil {
			return fmt.Errorf("mark %s sent: %w", d.ID, err)
		}
		if err := a.Store.RecordChannelSuccess(ctx, ch.ID, now); err != nil {
			a.Logger.WarnContext(ctx, "record channel success", "channelId", ch.ID, "error", err)
		}
		a.Logger.InfoContext(ctx, "notification sent", "deliveryId", d.ID, "channel", ch.Name, "type", ch.Type, "event", d.Event, "attempt", attempt)
		return nil
	}
	reason := sendErr.Error()
	retryable := notify.Retryable(sendErr)
	if retryable {
		a.Metrics.ObserveDelivery(ch.Type, metrics.DeliveryFailed)
	} else {
		a.Metrics.ObserveDelivery(ch.Type, metrics.DeliveryRejected)
	}
	if err := a.Store.RecordDeliveryError(ctx, d.ID, reason, now, !retryable); err != nil {
		a.Logger.WarnContext(ctx, "record delivery error", "deliveryId", d.ID, "error", err)
	}
	a.channelFailed(ctx, ch, d, reason, now)
	a.Logger.InfoContext(ctx, "notification attempt failed", "deliveryId", d.ID, "channel", ch.Name, "type", ch.Type, "attempt", attempt, "retryable", retryable, "error", reason)
	if !retryable {
		return temporal.NewNonRetryableApplicationError(reason, workflows.ErrTypeDeliveryRejected, nil)
	}
	return temporal.NewApplicationErrorWithOptions(reason, workflows.ErrTypeDeliveryFailed, temporal.ApplicationErrorOptions{NextRetryDelay: notify.RetryAfter(sendErr)})
}

// channelFailed counts a failed attempt on the channel; the attempt that makes it failing
// raises notification.channel_failing (once per failing episode).
func (a *Notifier) channelFailed(ctx context.Context, ch store.Channel, d store.Delivery, reason string, at time.Time) {
	threshold := a.FailingAfter
	if threshold <= 0 {
		threshold = DefaultFailingAfter
	}
	became, err := a.Store.RecordChannelFailure(ctx, ch.ID, reason, at, threshold)
	if err != nil {
		a.Logger.WarnContext(ctx, "record channel failure", "channelId", ch.ID, "error", err)
		return
	}
	if !became {
		return
	}
	a.Logger.WarnContext(ctx, "notification channel failing", "channelId", ch.ID, "channel", ch.Name, "type", ch.Type, "error", reason)
	if d.SystemID == nil {
		return
	}
	payload := map[string]any{"channelId": ch.ID, "channelName": ch.Name, "channelType": ch.Type,
		"systemId": *d.SystemID, "lastError": reason, "failingSince": health.FormatTimestamp(at)}
	key := EventChannelFailing + ":" + ch.ID + ":" + health.FormatTimestamp(at)
	if _, err := a.Store.InsertEvent(ctx, *d.SystemID, EventChannelFailing, key, payload); err != nil {
		a.Logger.WarnContext(ctx, "record channel failing event", "channelId", ch.ID, "error", err)
	}
}

// channel builds a stored channel with its secrets opened.
func (a *Notifier) channel(ch store.Channel) (notify.Channel, error) {
	cfg := ch.Config
	if a.Box != nil {
		opened, err := a.Box.OpenJSON(cfg)
		if err != nil {
			return nil, fmt.Errorf("open the channel's secrets: %w", err)
		}
		cfg = notify.SecretsFromText(ch.Type, opened)
	} else if strings.Contains(string(cfg), secretbox.Prefix) {
		return nil, secretbox.ErrNoKey
	}
	return notify.New(ch.Type, cfg, a.Channel)
}

// FailDelivery records a delivery that was given up.
func (a *Notifier) FailDelivery(ctx context.Context, req workflows.FailDeliveryRequest) error {
	if err := a.Store.RecordDeliveryError(ctx, req.DeliveryID, req.Reason, time.Now().UTC(), true); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("fail delivery %s: %w", req.DeliveryID, err)
	}
	a.Logger.WarnContext(ctx, "notification given up", "deliveryId", req.DeliveryID, "reason", req.Reason)
	return nil
}

// LoadMaintenance reads a window for its workflow.
func (a *Notifier) LoadMaintenance(ctx context.Context, windowID string) (workflows.MaintenanceInfo, error) {
	w, err := a.Store.GetMaintenance(ctx, windowID)
	if errors.Is(err, store.ErrNotFound) {
		return workflows.MaintenanceInfo{}, nil
	}
	if err != nil {
		return workflows.MaintenanceInfo{}, fmt.Errorf("maintenance %s: %w", windowID, err)
	}
	return workflows.MaintenanceInfo{Found: true, SystemIDs: w.SystemIDs, StartsAt: w.StartsAt, EndsAt: w.EndsAt,
		StartedAt: w.StartedAt, EndedAt: w.EndedAt}, nil
}

// MaintenanceEdge records a window's start or end for its systems (an outbox event each) and
// tells their notifiers.
func (a *Notifier) MaintenanceEdge(ctx context.Context, req workflows.MaintenanceEdgeRequest) error {
	edge, typ := "ended", EventMaintenanceEnd
	if req.Started {
		edge, typ = "started", EventMaintenanceStart
	}
	for i, sys := range req.SystemIDs {
		activity.RecordHeartbeat(ctx, i)
		payload := map[string]any{"systemId": sys, "maintenanceId": req.WindowID, "timestamp": health.FormatTimestamp(req.At)}
		key := "maintenance/" + req.WindowID + ":" + edge + ":" + sys + ":" + health.FormatTimestamp(req.At)
		if _, err := a.Store.InsertEvent(ctx, sys, typ, key, payload); err != nil {
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrValidation) {
				continue // a system deleted since the window was written
			}
			return fmt.Errorf("record %s of %s: %w", typ, sys, err)
		}
		sig := workflows.NotifyMaintenance{WindowID: req.WindowID, Started: req.Started, At: req.At}
		if err := SignalNotifier(ctx, a.Temporal, a.TaskQueue, a.NotifierOptions, sys, workflows.SignalNotifyMaintenance, sig); err != nil {
			return err
		}
		// The system's entity reloads and learns of the window (heartbeat checks do not fail
		// while it lasts); a system without a running entity has no checks to tell.
		err := a.Temporal.SignalWorkflow(ctx, workflows.SystemWorkflowID(sys), "", workflows.SignalConfigChanged, nil)
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			return fmt.Errorf("tell the entity of %s about maintenance: %w", sys, err)
		}
	}
	if req.Final {
		if err := a.Store.MarkMaintenanceEdge(ctx, req.WindowID, edge, req.At); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("mark maintenance %s %s: %w", req.WindowID, edge, err)
		}
	}
	a.Logger.InfoContext(ctx, "maintenance "+edge, "maintenanceId", req.WindowID, "systems", len(req.SystemIDs))
	return nil
}

// SignalNotifier hands a system's notifier an input, starting the notifier when it is not
// running.
func SignalNotifier(ctx context.Context, c client.Client, taskQueue string, opts workflows.NotifierOptions, systemID, signal string, arg any) error {
	if taskQueue == "" {
		taskQueue = workflows.TaskQueue
	}
	_, err := c.SignalWithStartWorkflow(ctx, workflows.NotifierWorkflowID(systemID), signal, arg, client.StartWorkflowOptions{
		ID:                    workflows.NotifierWorkflowID(systemID),
		TaskQueue:             taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword("CheckflowSystemId").ValueSet(systemID)),
	}, workflows.NotifierWorkflow, workflows.NotifierInput{SystemID: systemID, Options: opts})
	if err != nil {
		return fmt.Errorf("signal notifier of %s: %w", systemID, err)
	}
	return nil
}

// NotifyConsumer hands the outbox events that may notify someone to the system's notifier:
// every transition (system_health_changed), and failed runs when some channel subscribes to
// check_failed. The notifier drops a transition handed over twice.
type NotifyConsumer struct {
	Store     *store.Store
	Temporal  client.Client
	TaskQueue string
	Options   workflows.NotifierOptions
}

// Consume implements Consumer.
func (c NotifyConsumer) Consume(ctx context.Context, ev store.Event) error {
	var p struct {
		PreviousStatus  health.Status `json:"previousStatus"`
		NewStatus       health.Status `json:"newStatus"`
		Status          health.Status `json:"status"`
		ConfigurationID string        `json:"configurationId"`
		Timestamp       time.Time     `json:"timestamp"`
	}
	switch ev.Type {
	case health.EventSystemHealthChanged:
		if err := json.Unmarshal(ev.Payload, &p); err != nil || p.PreviousStatus == "" || p.NewStatus == "" {
			return nil // not a transition between two statuses: nothing to tell
		}
		t := workflows.NotifyTransition{EventKey: ev.IdempotencyKey, Seq: ev.Seq, From: p.PreviousStatus, To: p.NewStatus, At: orCreated(p.Timestamp, ev)}
		return SignalNotifier(ctx, c.Temporal, c.TaskQueue, c.Options, ev.SystemID, workflows.SignalNotifyTransition, t)
	case health.EventFlappingStarted, health.EventFlappingStopped:
		var fp struct {
			ConfigurationID    string        `json:"configurationId"`
			Status             health.Status `json:"status"`
			PercentStateChange float64       `json:"percentStateChange"`
			Timestamp          time.Time     `json:"timestamp"`
		}
		if err := json.Unmarshal(ev.Payload, &fp); err != nil || fp.ConfigurationID != "" {
			return nil // a check's flapping: the system's notifications follow the system's
		}
		f := workflows.NotifyFlapping{EventKey: ev.IdempotencyKey, Seq: ev.Seq, Started: ev.Type == health.EventFlappingStarted,
			Status: fp.Status, Percent: fp.PercentStateChange, At: orCreated(fp.Timestamp, ev)}
		return SignalNotifier(ctx, c.Temporal, c.TaskQueue, c.Options, ev.SystemID, workflows.SignalNotifyFlapping, f)
	case health.EventCheckFailed:
		chans, err := c.Store.SubscribedChannels(ctx, ev.SystemID, notify.EventCheckFailed)
		if err != nil {
			return fmt.Errorf("check_failed subscribers of %s: %w", ev.SystemID, err)
		}
		if len(chans) == 0 || json.Unmarshal(ev.Payload, &p) != nil {
			return nil
		}
		f := workflows.NotifyCheckFailed{EventKey: ev.IdempotencyKey, Seq: ev.Seq, ConfigurationID: p.ConfigurationID, Status: p.Status, At: orCreated(p.Timestamp, ev)}
		return SignalNotifier(ctx, c.Temporal, c.TaskQueue, c.Options, ev.SystemID, workflows.SignalNotifyCheckFailed, f)
	}
	return nil
}

func orCreated(t time.Time, ev store.Event) time.Time {
	if t.IsZero() {
		return ev.CreatedAt
	}
	return t
}

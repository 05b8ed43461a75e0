package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// ErrTypeAutomationAction marks an action that cannot succeed by retrying (a check or channel
// that no longer exists, a rejected config).
const ErrTypeAutomationAction = "AutomationActionRejected"

// AutomationEntities is what actions need of the entities (entityclient.Client).
type AutomationEntities interface {
	RunCheck(ctx context.Context, systemID, updateID string, req workflows.RunCheckRequest) (workflows.RunCheckResponse, error)
	ConfigChanged(ctx context.Context, systemID string) error
}

// Automations holds the automation workflow's activities: loading an automation, recording
// its occurrences and running its actions exactly once by key.
type Automations struct {
	Store    *store.Store
	Box      *secretbox.Box
	Entities AutomationEntities
	// Notifier builds notification channels (secrets opened) and rate-limits them.
	Notifier *Notifier
	// HTTPClient sends webhook actions (default: 10 s timeout).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// LoadAutomation reads an automation for its workflow (Found false when it was deleted).
func (a *Automations) LoadAutomation(ctx context.Context, id string) (workflows.AutomationConfig, error) {
	au, err := a.Store.GetAutomation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return workflows.AutomationConfig{ID: id}, nil
	}
	if err != nil {
		return workflows.AutomationConfig{}, fmt.Errorf("load automation %s: %w", id, err)
	}
	cfg := workflows.AutomationConfig{Found: true, ID: au.ID, Name: au.Name, Revision: au.Revision, Enabled: au.Enabled,
		Window: au.Trigger.Window, CooldownSeconds: au.CooldownSeconds}
	for _, act := range au.Actions {
		cfg.Actions = append(cfg.Actions, workflows.AutomationAction{Type: string(act.Type), Config: act.Config})
	}
	return cfg, nil
}

// RecordOccurrence records a matched event as an occurrence of its partition (idempotent by
// event key) and returns the partition's prior occurrences in the window.
func (a *Automations) RecordOccurrence(ctx context.Context, req workflows.RecordOccurrenceRequest) (workflows.RecordOccurrenceResponse, error) {
	inserted, prior, err := a.Store.RecordOccurrence(ctx, store.Occurrence{AutomationID: req.AutomationID, PartitionKey: req.PartitionKey,
		EventKey: req.EventKey, At: req.At}, req.Since, req.Limit)
	if err != nil {
		return workflows.RecordOccurrenceResponse{}, fmt.Errorf("record occurrence: %w", err)
	}
	return workflows.RecordOccurrenceResponse{Inserted: inserted, Prior: prior}, nil
}

// RunAutomationAction runs one action of a fire once: its outcome is recorded under its key
// (health.AutomationActionKey) and an action whose outcome is already recorded is not run again.
// The key also travels with the action (the run-now update id, the webhook's
// X-Checkflow-Delivery), so a retry after the action ran but before its outcome was recorded is
// recognised by the receiver.
func (a *Automations) RunAutomationAction(ctx context.Context, req workflows.RunAutomationActionRequest) error {
	in := store.FireInput{AutomationID: req.AutomationID, EventKey: req.Event.Key, EventType: req.Event.Type,
		PartitionKey: req.Event.PartitionKey, ActionIndex: req.Index, ActionType: automation.ActionType(req.Action.Type), FiredAt: req.FiredAt}
	f, _, err := a.Store.RecordFire(ctx, in)
	if err != nil {
		return fmt.Errorf("record fire %s: %w", req.Key, err)
	}
	if f.Outcome != store.FirePending && f.Outcome != "" {
		return nil // ran before (its outcome is recorded)
	}
	// Heartbeat while the action runs (a lost worker is noticed within the heartbeat timeout).
	hbCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	result, runErr := a.run(ctx, req)
	outcome, detail := store.FireSucceeded, ""
	if runErr != nil {
		var appErr *temporal.ApplicationError
		info := activity.GetInfo(ctx)
		lastAttempt := info.RetryPolicy != nil && info.RetryPolicy.MaximumAttempts > 0 && info.Attempt >= info.RetryPolicy.MaximumAttempts
		if (!errors.As(runErr, &appErr) || !appErr.NonRetryable()) && !lastAttempt {
			return runErr // retried by Temporal; the outcome is recorded by the last attempt
		}
		outcome, detail = store.FireFailed, runErr.Error()
	}
	if _, _, err := a.Store.RecordFireOutcome(ctx, in, outcome, detail, result, time.Now().UTC()); err != nil {
		return fmt.Errorf("record outcome of %s: %w", req.Key, err)
	}
	a.logger().InfoContext(ctx, "automation action ran", "automationId", req.AutomationID, "key", req.Key, "type", req.Action.Type, "outcome", string(outcome))
	return runErr
}

func (a *Automations) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

func rejected(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeAutomationAction, nil)
}

// run performs the action and returns its result document (the reference's artifact).
func (a *Automations) run(ctx context.Context, req workflows.RunAutomationActionRequest) (json.RawMessage, error) {
	act := automation.Action{Type: automation.ActionType(req.Action.Type), Config: req.Action.Config}
	payload, err := automation.DecodePayload(req.Event.Payload)
	if err != nil {
		return nil, rejected("the event's payload is not readable: %v", err)
	}
	ev := automation.Event{Key: req.Event.Key, Type: req.Event.Type, Payload: payload, At: req.Event.At}
	switch act.Type {
	case automation.ActionRunCheck:
		c, err := act.RunCheckConfig()
		if err != nil {
			return nil, rejected("%v", err)
		}
		resp, err := a.Entities.RunCheck(ctx, c.SystemID, req.Key, workflows.RunCheckRequest{ConfigurationID: c.ConfigurationID, Force: true})
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			return nil, rejected("run check %s of %s: %v", c.ConfigurationID, c.SystemID, err)
		}
		if err != nil {
			return nil, fmt.Errorf("run check %s of %s: %w", c.ConfigurationID, c.SystemID, err)
		}
		return json.Marshal(map[string]any{"systemId": c.SystemID, "configurationId": c.ConfigurationID, "runId": resp.Run.ID, "status": resp.Run.Status})
	case automation.ActionSetAssignmentEnabled:
		c, err := act.SetAssignmentEnabledConfig()
		if err != nil {
			return nil, rejected("%v", err)
		}
		if _, err := a.Store.SetAssignmentEnabled(ctx, c.SystemID, c.ConfigurationID, c.Enabled); errors.Is(err, store.ErrNotFound) {
			return nil, rejected("%s", automation.AssignmentNotFoundMessage(c.SystemID, c.ConfigurationID))
		} else if err != nil {
			return nil, fmt.Errorf("set assignment enabled: %w", err)
		}
		if err := a.Entities.ConfigChanged(ctx, c.SystemID); err != nil {
			return nil, fmt.Errorf("signal the entity of %s: %w", c.SystemID, err)
		}
		return json.Marshal(automation.AssignmentArtifact{SystemID: c.SystemID, ConfigurationID: c.ConfigurationID, Enabled: &c.Enabled})
	case automation.ActionWebhook:
		return nil, a.webhook(ctx, act, req, ev)
	case automation.ActionNotify:
		return nil, a.notify(ctx, act, req, ev)
	}
	return nil, rejected("unknown action type %q", req.Action.Type)
}

func (a *Automations) webhook(ctx context.Context, act automation.Action, req workflows.RunAutomationActionRequest, ev automation.Event) error {
	opened, err := a.Box.OpenJSON(act.Config)
	if err != nil {
		return rejected("open the webhook's secret: %v", err)
	}
	act.Config = opened
	c, err := act.WebhookConfig()
	if err != nil {
		return rejected("%v", err)
	}
	body, err := automation.WebhookBody(req.AutomationID, ev, req.FiredAt)
	if err != nil {
		return rejected("%v", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return rejected("webhook request: %v", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("User-Agent", "checkflow-automation")
	hreq.Header.Set(notify.HeaderDelivery, req.Key)
	if c.Secret != "" {
		hreq.Header.Set(notify.HeaderSignature, notify.Sign(c.Secret, body))
	}
	client := a.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return fmt.Errorf("webhook: %s", strings.ReplaceAll(err.Error(), c.URL, "<url>"))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	default:
		return rejected("webhook answered %d", resp.StatusCode)
	}
}

func (a *Automations) notify(ctx context.Context, act automation.Action, req workflows.RunAutomationActionRequest, ev automation.Event) error {
	c, err := act.NotifyConfig()
	if err != nil {
		return rejected("%v", err)
	}
	title, body, err := c.Render(automation.TemplateData{AutomationID: req.AutomationID, Event: ev.Type, EventKey: ev.Key,
		Payload: ev.Payload, PartitionKey: req.Event.PartitionKey, FiredAt: req.FiredAt})
	if err != nil {
		return rejected("%v", err)
	}
	if a.Notifier == nil {
		return rejected("no notification channels on this worker")
	}
	ch, err := a.Store.GetChannel(ctx, c.ChannelID)
	if errors.Is(err, store.ErrNotFound) {
		return rejected("notification channel %s no longer exists", c.ChannelID)
	} else if err != nil {
		return fmt.Errorf("channel %s: %w", c.ChannelID, err)
	}
	if !ch.Enabled {
		return rejected("notification channel %s is disabled", c.ChannelID)
	}
	sender, err := a.Notifier.channel(ch)
	if err != nil {
		return rejected("%v", err)
	}
	systemID, _ := ev.Payload["systemId"].(string)
	msg := notify.Message{ID: req.Key, Event: ev.Type, System: notify.SystemRef{ID: systemID, Name: a.Notifier.systemName(ctx, systemID)},
		OccurredAt: ev.At, Title: title, Body: body, Importance: health.ImportanceInfo}
	if s, ok := ev.Payload["newStatus"].(string); ok {
		msg.Status = s
	}
	if s, ok := ev.Payload["previousStatus"].(string); ok {
		msg.PreviousStatus = s
	}
	if a.Notifier.Limiter != nil {
		if err := a.Notifier.Limiter.Wait(ctx, ch.ID, ch.Type); err != nil {
			return fmt.Errorf("rate limit of channel %s: %w", ch.ID, err)
		}
	}
	if err := sender.Send(ctx, msg); err != nil {
		if notify.Retryable(err) {
			return fmt.Errorf("notify %s: %w", ch.Name, err)
		}
		return rejected("notify %s: %v", ch.Name, err)
	}
	return nil
}

// AutomationConsumer routes outbox trigger events to the automations that match them: it
// evaluates each enabled automation's filter and partition (CEL, compiled once per revision)
// and signals the matches to their workflows. Events of types no automation can trigger on
// (hooks) cost a map lookup.
type AutomationConsumer struct {
	Store    *store.Store
	Compiler *automation.Compiler
	// Signal hands a match to the automation's workflow (entityclient.Client.AutomationEvent).
	Signal func(ctx context.Context, automationID string, ev workflows.AutomationEvent) error
	Logger *slog.Logger

	mu    sync.Mutex
	cache map[string]compiledAutomation
}

type compiledAutomation struct {
	revision int64
	a        *automation.Automation
}

// Consume implements Consumer.
func (c *AutomationConsumer) Consume(ctx context.Context, ev store.Event) error {
	if !automation.IsTrigger(ev.Type) {
		return nil
	}
	list, err := c.Store.EnabledAutomations(ctx, ev.Type)
	if err != nil {
		return fmt.Errorf("automations of %s: %w", ev.Type, err)
	}
	if len(list) == 0 {
		return nil
	}
	payload, err := automation.DecodePayload(ev.Payload)
	if err != nil {
		return nil // not an object: nothing can match
	}
	aev := automation.Event{Key: ev.IdempotencyKey, Type: ev.Type, Payload: payload, At: ev.CreatedAt}
	for _, au := range list {
		compiled, err := c.compiled(au)
		if err != nil {
			c.log().WarnContext(ctx, "automation does not compile; skipped", "automationId", au.ID, "error", err)
			continue
		}
		m, err := compiled.Match(aev)
		if err != nil {
			c.log().WarnContext(ctx, "automation filter failed; the event does not count", "automationId", au.ID, "event", ev.IdempotencyKey, "error", err)
			continue
		}
		if !m.Matched {
			continue
		}
		out := workflows.AutomationEvent{Key: ev.IdempotencyKey, Type: ev.Type, Payload: ev.Payload, At: ev.CreatedAt,
			PartitionKey: m.PartitionKey, Revision: au.Revision}
		if err := c.Signal(ctx, au.ID, out); err != nil {
			return fmt.Errorf("signal automation %s: %w", au.ID, err)
		}
	}
	return nil
}

func (c *AutomationConsumer) compiled(au store.Automation) (*automation.Automation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cache[au.ID]; ok && e.revision == au.Revision {
		return e.a, nil
	}
	a, err := c.Compiler.Compile(au.Spec)
	if err != nil {
		return nil, err
	}
	if c.cache == nil {
		c.cache = map[string]compiledAutomation{}
	}
	c.cache[au.ID] = compiledAutomation{revision: au.Revision, a: a}
	return a, nil
}

func (c *AutomationConsumer) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

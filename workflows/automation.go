package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

const (
	// automationSeenRing bounds the event keys an automation remembers to drop redeliveries.
	automationSeenRing = 1024
	// automationLastFires is how many fires the UI details show.
	automationLastFires = 10
	// automationContinueAfter: continue as new after this many processed events.
	automationContinueAfter = 500
)

// saAutomationID is the automation workflow's search attribute.
var saAutomationID = temporal.NewSearchAttributeKeyKeyword("CheckflowAutomationId")

// automationRun is the Automation workflow's state and logic (single-threaded).
type automationRun struct {
	id        string
	st        AutomationState
	cfg       AutomationConfig
	processed int
	logger    log.Logger
}

// Automation is the workflow of one automation (id automation/<automationId>). The outbox
// dispatcher evaluates each trigger event's filter and partition (CEL runs there) and signals
// the matches here with start; the workflow records each as an occurrence, decides the window
// gate and the cooldown (health.DecideGate) and runs the actions of a fire as activities keyed
// by health.AutomationActionKey, so that a crash between decision and action runs the action
// once. One workflow per automation serializes its gate without locks. It ends when its
// automation is deleted, or disabled with nothing left to process.
func Automation(ctx workflow.Context, in AutomationInput) error {
	a := &automationRun{id: in.AutomationID, logger: log.With(workflow.GetLogger(ctx), "automationId", in.AutomationID)}
	if in.State != nil {
		a.st = *in.State
	}
	events := workflow.GetSignalChannel(ctx, SignalAutomationEvent)
	changed := workflow.GetSignalChannel(ctx, SignalAutomationChanged)
	if err := workflow.UpsertTypedSearchAttributes(ctx, saAutomationID.ValueSet(a.id)); err != nil {
		a.logger.Warn("upsert search attributes", "error", err)
	}
	if err := a.load(ctx); err != nil {
		return err
	}
	pending := a.st.Pending
	a.st.Pending = nil
	for {
		reload := false
		for changed.ReceiveAsync(nil) {
			reload = true
		}
		for {
			var ev AutomationEvent
			if !events.ReceiveAsync(&ev) {
				break
			}
			pending = append(pending, ev)
		}
		if reload {
			if err := a.load(ctx); err != nil {
				return err
			}
		}
		if !a.cfg.Found {
			a.logger.Info("automation deleted; workflow ends", "dropped", len(pending))
			return nil
		}
		if len(pending) > 0 {
			ev := pending[0]
			pending = pending[1:]
			if err := a.process(ctx, ev); err != nil {
				return err
			}
			continue
		}
		if !a.cfg.Enabled {
			a.logger.Info("automation disabled; workflow ends")
			return nil
		}
		if a.processed >= automationContinueAfter || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			state := a.st
			state.Pending = pending
			return workflow.NewContinueAsNewError(ctx, AutomationWorkflow, AutomationInput{AutomationID: a.id, State: &state})
		}
		if err := workflow.Await(ctx, func() bool { return events.Len() > 0 || changed.Len() > 0 }); err != nil {
			return err
		}
	}
}

func automationStorageOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
}

// load reads the automation's configuration.
func (a *automationRun) load(ctx workflow.Context) error {
	var cfg AutomationConfig
	if err := workflow.ExecuteLocalActivity(automationStorageOptions(ctx), ActivityLoadAutomation, a.id).Get(ctx, &cfg); err != nil {
		return fmt.Errorf("load automation %s: %w", a.id, err)
	}
	a.cfg = cfg
	a.details(ctx)
	return nil
}

// process takes one matched event through the gate and, when it fires, runs the actions.
func (a *automationRun) process(ctx workflow.Context, ev AutomationEvent) error {
	a.processed++
	for _, k := range a.st.Seen {
		if k == ev.Key {
			return nil // a redelivery of an event processed before
		}
	}
	a.st.Seen = append(a.st.Seen, ev.Key)
	if len(a.st.Seen) > automationSeenRing {
		a.st.Seen = append([]string(nil), a.st.Seen[len(a.st.Seen)-automationSeenRing:]...)
	}
	if ev.Revision > a.cfg.Revision {
		if err := a.load(ctx); err != nil {
			return err
		}
		if !a.cfg.Found {
			return nil
		}
	}
	if !a.cfg.Enabled {
		return nil
	}
	var prior []time.Time
	if w := a.cfg.Window; w != nil {
		req := RecordOccurrenceRequest{AutomationID: a.id, EventKey: ev.Key, PartitionKey: ev.PartitionKey, At: ev.At,
			Since: ev.At.Add(-time.Duration(w.Minutes) * time.Minute), Limit: w.Count}
		var resp RecordOccurrenceResponse
		if err := workflow.ExecuteLocalActivity(automationStorageOptions(ctx), ActivityRecordOccurrence, req).Get(ctx, &resp); err != nil {
			return fmt.Errorf("record occurrence of %s: %w", ev.Key, err)
		}
		prior = resp.Prior
	}
	d := health.DecideGate(health.GateInput{Window: a.cfg.Window, CooldownSeconds: a.cfg.CooldownSeconds, Now: ev.At,
		Prior: prior, LastFire: a.st.Cooldowns.Last(ev.PartitionKey)})
	a.st.Cooldowns.Prune(ev.At, a.cfg.CooldownSeconds)
	if !d.Fire {
		a.logger.Debug("automation gate did not fire", "event", ev.Key, "reason", string(d.Reason), "count", d.Count)
		return nil
	}
	a.st.Cooldowns.Record(ev.PartitionKey, ev.At)
	firedAt := workflow.Now(ctx)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// An action may wait for a probe (run_check): heartbeats tell a lost worker within 10 s
		// (fires are rare, so their heartbeats cost little).
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
	futures := make([]workflow.Future, len(a.cfg.Actions))
	for i, act := range a.cfg.Actions {
		futures[i] = workflow.ExecuteActivity(actx, ActivityRunAutomationAction, RunAutomationActionRequest{
			AutomationID: a.id, Revision: a.cfg.Revision, Index: i, Action: act, Event: ev, FiredAt: firedAt,
			Key: health.AutomationActionKey(ev.Key, a.id, i)})
	}
	fire := AutomationFire{EventKey: ev.Key, PartitionKey: ev.PartitionKey, At: firedAt}
	for i, f := range futures {
		outcome := "succeeded"
		if err := f.Get(ctx, nil); err != nil {
			outcome = "failed: " + err.Error()
			a.logger.Warn("automation action failed", "event", ev.Key, "action", i, "type", a.cfg.Actions[i].Type, "error", err)
		}
		fire.Outcomes = append(fire.Outcomes, a.cfg.Actions[i].Type+" "+outcome)
	}
	a.logger.Info("automation fired", "event", ev.Key, "partition", ev.PartitionKey, "count", d.Count, "actions", len(futures))
	a.st.Fires++
	a.st.LastFires = append(a.st.LastFires, fire)
	if len(a.st.LastFires) > automationLastFires {
		a.st.LastFires = append([]AutomationFire(nil), a.st.LastFires[len(a.st.LastFires)-automationLastFires:]...)
	}
	a.details(ctx)
	return nil
}

// details is what the Temporal UI shows of the automation: its name and its last fires.
func (a *automationRun) details(ctx workflow.Context) {
	var b strings.Builder
	state := "enabled"
	switch {
	case !a.cfg.Found:
		state = "deleted"
	case !a.cfg.Enabled:
		state = "disabled"
	}
	fmt.Fprintf(&b, "**%s** — %s, revision %d, %d fire(s)\n\n", mdEscape(a.cfg.Name), state, a.cfg.Revision, a.st.Fires)
	if len(a.st.LastFires) > 0 {
		b.WriteString("| Fired | Event | Partition | Outcomes |\n|---|---|---|---|\n")
		for i := len(a.st.LastFires) - 1; i >= 0; i-- {
			f := a.st.LastFires[i]
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", f.At.UTC().Format(time.RFC3339), mdEscape(f.EventKey), mdEscape(f.PartitionKey), mdEscape(strings.Join(f.Outcomes, "; ")))
		}
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

// The SystemHealth entity's emit step: the outbox dispatcher and the events of a run.

package workflows

import (
	"bytes"
	"encoding/json"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

// dispatchEvery bounds how long hooks (check.completed/failed) may wait in the outbox when no
// trigger event calls the dispatcher earlier.
const dispatchEvery = 30 * time.Second

// dispatchHeartbeat is the dispatcher activity's heartbeat timeout.
const dispatchHeartbeat = 10 * time.Second

// dispatch hands the outbox to the consumers in the background; the loop does not wait. Trigger
// events go out at once; the per-run hooks ride along with them or go out at least every
// dispatchEvery, so a healthy system costs one dispatcher call per 30 s, not one per run. One
// dispatcher runs at a time per system; a request while one runs makes it run once more.
func (e *entity) dispatch(ctx workflow.Context, events []Event, now time.Time) {
	if len(events) == 0 {
		return
	}
	urgent := false
	for _, ev := range events {
		if ev.Type != health.HookCheckCompleted && ev.Type != health.HookCheckFailed {
			urgent = true
		}
	}
	if !urgent && now.Sub(e.lastDispatch) < dispatchEvery {
		return
	}
	if e.dispatchInFlight > 0 {
		e.dispatchAgain = true
		return
	}
	e.dispatchInFlight++
	workflow.Go(ctx, func(ctx workflow.Context) {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute,
			// A dispatcher lost with a crashed worker is retried after 10 s, not a minute (the
			// events wait meanwhile, and so does a continue-as-new).
			HeartbeatTimeout: dispatchHeartbeat,
			RetryPolicy:      &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
		})
		for {
			e.dispatchAgain = false
			e.lastDispatch = workflow.Now(ctx)
			if err := workflow.ExecuteActivity(actx, ActivityDispatchEvents, DispatchRequest{SystemID: e.systemID}).Get(ctx, nil); err != nil {
				e.logger.Error("dispatch failed", "error", err)
			}
			if !e.dispatchAgain {
				break
			}
		}
		e.dispatchInFlight--
	})
}

func toEvents(evs []health.TriggerEvent, discriminator string) []Event {
	out := make([]Event, 0, len(evs))
	for _, ev := range evs {
		out = append(out, Event{Type: ev.Type, Discriminator: discriminator, Payload: ev.Payload})
	}
	return out
}

// checkRunEvents are the hooks check.completed (+ check.failed) and the check_failed trigger of
// one run.
func checkRunEvents(systemID string, r CheckResult) []Event {
	// The collectors' results travel as JSON: only an object is a result (as before, when they
	// were decoded into a map).
	var collectors json.RawMessage
	var parsed struct {
		Metadata struct {
			Collectors json.RawMessage `json:"collectors"`
		} `json:"metadata"`
	}
	if len(r.Result) > 0 && json.Unmarshal(r.Result, &parsed) == nil {
		if c := bytes.TrimSpace(parsed.Metadata.Collectors); len(c) > 0 && c[0] == '{' {
			collectors = c
		}
	}
	hooks, triggers := health.CheckRunEvents(health.CheckRun{
		SystemID: systemID, ConfigurationID: r.ConfigurationID, Status: r.Status,
		LatencyMs: r.LatencyMs, RawResult: collectors, At: r.ExecutedAt,
	})
	return append(toEvents(hooks, r.ConfigurationID), toEvents(triggers, r.ConfigurationID)...)
}

package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// Consumer receives outbox events (notifications and automations plug in here). Consume must be
// idempotent by the event's idempotency key: an event can be handed over more than once.
type Consumer interface {
	Consume(ctx context.Context, ev store.Event) error
}

// Hooks observe the entity's activities (metrics, benchmarks). Nil functions are skipped.
type Hooks struct {
	// ProbeStarted is called when a probe activity starts.
	ProbeStarted func(item workflows.ProbeItem, at time.Time)
	// Persisted is called after a persist committed (applied) or found it done before.
	Persisted func(req workflows.PersistRequest, applied bool, at time.Time)
}

// Entity holds the SystemHealth entity's database activities.
type Entity struct {
	Store     *store.Store
	Consumers []Consumer
	Logger    *slog.Logger
	Hooks     Hooks
}

// LoadSystem reads a system's enabled checks, their recent statuses, the stored view and seq.
func (a *Entity) LoadSystem(ctx context.Context, req workflows.LoadSystemRequest) (workflows.LoadedSystem, error) {
	st, err := a.Store.Load(ctx, req.SystemID)
	if errors.Is(err, store.ErrNotFound) {
		// A deleted system has no checks: the entity ends (without writing: its rows are gone).
		return workflows.LoadedSystem{SystemID: req.SystemID, Deleted: true}, nil
	}
	if err != nil {
		return workflows.LoadedSystem{}, fmt.Errorf("load %s: %w", req.SystemID, err)
	}
	out := workflows.LoadedSystem{SystemID: st.SystemID, SystemName: st.SystemID, View: st.View, Seq: st.Seq, FlapThresholds: st.FlapThresholds,
		InMaintenance: st.InMaintenance}
	if sys, err := a.Store.GetSystem(ctx, req.SystemID); err == nil && sys.Name != "" {
		out.SystemName = sys.Name
	}
	for _, c := range st.Checks {
		th := c.Thresholds
		out.Checks = append(out.Checks, workflows.LoadedCheck{
			Assignment: workflows.Assignment{
				ConfigurationID: c.ConfigurationID,
				Name:            c.Configuration.Name,
				StrategyID:      c.Configuration.StrategyID,
				Config:          c.Configuration.Config,
				Collectors:      c.Configuration.Collectors,
				IntervalSeconds: c.Configuration.IntervalSeconds,
				Paused:          c.Configuration.Paused,
				Thresholds:      &th,
				Locations:       c.Locations,
				Quorum:          c.QuorumValue(),
			},
			Recent:    c.RecentStatuses,
			LastRunAt: c.LastRunAt,
		})
	}
	return out, nil
}

// PersistSystem writes one processed item in one transaction (idempotent by run id, fenced by
// seq). Input the store rejects is not retried.
func (a *Entity) PersistSystem(ctx context.Context, req workflows.PersistRequest) (workflows.PersistResponse, error) {
	in := store.PersistInput{SystemID: req.SystemID, Seq: req.Seq, At: req.At, View: req.View}
	for _, r := range req.Runs {
		in.Runs = append(in.Runs, store.RunRecord{
			ID: r.ID, ConfigurationID: r.ConfigurationID, Status: r.Status, LatencyMs: r.LatencyMs,
			Result: r.Result, SourceID: r.SourceID, SourceLabel: r.SourceLabel, Timestamp: r.ExecutedAt,
		})
	}
	for _, c := range req.Checks {
		in.Checks = append(in.Checks, store.CheckState{ConfigurationID: c.ConfigurationID, Status: c.Status, RunsConsidered: c.RunsConsidered})
	}
	if t := req.Transition; t != nil {
		in.Transition = &store.TransitionRecord{ConfigurationID: t.ConfigurationID, From: t.From, To: t.To}
	}
	for _, ev := range req.Events {
		in.Events = append(in.Events, store.EventRecord{Type: ev.Type, Discriminator: ev.Discriminator, Payload: ev.Payload})
	}
	applied, err := a.Store.Persist(ctx, in)
	if nf := (*store.NotFoundError)(nil); errors.As(err, &nf) && nf.Entity == "System" {
		// The system was deleted meanwhile: nothing can be stored for it any more.
		return workflows.PersistResponse{}, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeSystemGone, err)
	}
	if errors.Is(err, store.ErrValidation) || errors.Is(err, store.ErrNotFound) {
		return workflows.PersistResponse{}, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypePersistRejected, err)
	}
	if err != nil {
		return workflows.PersistResponse{}, fmt.Errorf("persist %s seq %d: %w", req.SystemID, req.Seq, err)
	}
	if a.Hooks.Persisted != nil {
		a.Hooks.Persisted(req, applied, time.Now())
	}
	resp := workflows.PersistResponse{Applied: applied}
	if !applied {
		// Stored before, perhaps from other probe answers (a local activity re-run after a
		// crash): tell the entity what is stored.
		for _, r := range req.Runs {
			run, err := a.Store.GetRun(ctx, r.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return workflows.PersistResponse{}, fmt.Errorf("read stored run %s: %w", r.ID, err)
			}
			var body struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(run.Result, &body)
			resp.Stored = append(resp.Stored, workflows.StoredRun{ID: run.ID, Status: run.Status,
				ExecutedAt: run.Timestamp, LatencyMs: run.LatencyMs, Message: body.Message})
		}
	}
	return resp, nil
}

// DispatchEvents hands the system's undelivered outbox events to every consumer, in order, and
// marks them delivered. A failing consumer fails the activity; Temporal retries it with backoff
// and the events stay undelivered until it succeeds.
func (a *Entity) DispatchEvents(ctx context.Context, req workflows.DispatchRequest) error {
	// A worker lost mid-dispatch is noticed within the heartbeat timeout, not the activity's
	// whole timeout (the SDK throttles the calls).
	return a.dispatch(ctx, req.SystemID, func(id int64) { activity.RecordHeartbeat(ctx, id) })
}

// dispatch hands the system's undelivered events to the consumers; beat (optional) is called
// before each event.
func (a *Entity) dispatch(ctx context.Context, systemID string, beat func(id int64)) error {
	req := workflows.DispatchRequest{SystemID: systemID}
	for {
		evs, err := a.Store.ListUndelivered(ctx, req.SystemID, 100)
		if err != nil {
			return fmt.Errorf("list undelivered events: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		ids := make([]int64, 0, len(evs))
		for _, ev := range evs {
			if beat != nil {
				beat(ev.ID)
			}
			for _, c := range a.Consumers {
				if err := c.Consume(ctx, ev); err != nil {
					return fmt.Errorf("consume event %s: %w", ev.IdempotencyKey, err)
				}
			}
			ids = append(ids, ev.ID)
		}
		if _, err := a.Store.MarkDelivered(ctx, ids, time.Now().UTC()); err != nil {
			return fmt.Errorf("mark delivered: %w", err)
		}
		if len(evs) < 100 {
			return nil
		}
	}
}

// LogConsumer writes every event to the log at DEBUG (one line per run would drown the INFO log).
type LogConsumer struct{ Logger *slog.Logger }

// Consume logs the event.
func (l LogConsumer) Consume(ctx context.Context, ev store.Event) error {
	l.Logger.DebugContext(ctx, "event", "type", ev.Type, "systemId", ev.SystemID, "key", ev.IdempotencyKey)
	return nil
}

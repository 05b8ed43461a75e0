package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

const (
	// A round of attempts is a local activity with one quick retry; it holds the workflow task (no
	// probe starts meanwhile), so it is kept short and the wait between rounds is a timer during
	// which the cadence goes on. An attempt may take storageAttemptMax (a slow commit under load).
	storageRoundTimeout  = 15 * time.Second
	storageAttemptMax    = 10 * time.Second
	storageRoundAttempts = 2
	storageRetryFirst    = time.Second
	storageRetryMax      = 30 * time.Second
	// defaultMaxPendingRuns and maxPendingBytes bound the results waiting in the entity while
	// PostgreSQL is away; beyond either the entity stops starting probes until the backlog drains.
	defaultMaxPendingRuns = 1000
	maxPendingBytes       = 16 << 20
	// stepDatedByRunsAfter: a step processed this long after its newest run ended is dated by that
	// run (a backlog after an outage), not by when it was processed.
	stepDatedByRunsAfter = 5 * time.Second
	// ErrTypePersistRejected is the ApplicationError type of a write the store refused as invalid.
	ErrTypePersistRejected = "PersistRejected"
	// ErrTypeSystemGone is the ApplicationError type of a write for a system that no longer exists.
	ErrTypeSystemGone = "SystemNotFound"
)

// persistItem stores one processed item: until stored (durable) or in one attempt (version 0).
func (e *entity) persistItem(ctx workflow.Context, req PersistRequest) (PersistResponse, error) {
	if !e.durable {
		return e.persist(ctx, req)
	}
	return e.persistUntilStored(ctx, req)
}

// probeResultID is the run id of the next probe: "<systemId>:p<N>", or "<systemId>:p<epoch>.<N>"
// for entities started with an epoch (changePersistUntilStored ≥ 1).
func (e *entity) probeResultID() string {
	return health.ProbeRunID(e.systemID, e.st.ProbeEpoch, e.st.ProbeSeq)
}

// probeEpoch is the first 8 characters of the workflow run id that began the entity's lifetime.
func probeEpoch(runID string) string {
	s := strings.ReplaceAll(runID, "-", "")
	return s[:min(8, len(s))]
}

func storageRoundOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: storageRoundTimeout,
		StartToCloseTimeout:    storageAttemptMax,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaximumInterval: 2 * time.Second,
			MaximumAttempts: storageRoundAttempts},
	})
}

// persistUntilStored writes req and returns once PostgreSQL has it. Retryable failures (the
// database is away, overloaded, restarting) are retried without limit; the only errors returned
// are cancellation and a rejection that persists even without the run details.
func (e *entity) persistUntilStored(ctx workflow.Context, req PersistRequest) (PersistResponse, error) {
	stripped := 0 // how far the request was reduced after rejections
	for round := 1; ; round++ {
		var resp PersistResponse
		fut := workflow.ExecuteLocalActivity(storageRoundOptions(ctx), ActivityPersistSystem, req)
		if err := e.awaitWithCadence(ctx, fut.IsReady); err != nil {
			return resp, err
		}
		err := fut.Get(ctx, &resp)
		if err == nil {
			e.storageUp(ctx, "write")
			return resp, nil
		}
		if temporal.IsCanceledError(err) {
			return resp, err
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			if appErr.Type() == ErrTypeSystemGone {
				e.logger.Info("system no longer exists; nothing stored", "seq", req.Seq)
				e.storageUp(ctx, "write")
				return PersistResponse{Applied: true}, nil
			}
			switch {
			case stripped == 0 && len(req.Runs) > 0:
				e.logger.Warn("the store rejected the runs; storing them without their details",
					"seq", req.Seq, "error", appErr.Error())
				req = withoutRunDetails(req, appErr.Error())
			case stripped == 1 && len(req.Runs) > 0:
				// E.g. a check deleted between its probe and this write: keep the evaluation, the
				// transition and the events.
				e.logger.Warn("the store rejected the runs again; storing the evaluation without them",
					"seq", req.Seq, "error", appErr.Error())
				req.Runs = nil
			default:
				return resp, fmt.Errorf("persist seq %d rejected: %w", req.Seq, err)
			}
			stripped++
			continue
		}
		if err := e.storageDown(ctx, "write", round, err); err != nil {
			return resp, err
		}
	}
}

// loadUntilLoaded reads the system's configuration, retrying like persistUntilStored.
func (e *entity) loadUntilLoaded(ctx workflow.Context) (LoadedSystem, error) {
	for round := 1; ; round++ {
		var loaded LoadedSystem
		fut := workflow.ExecuteLocalActivity(storageRoundOptions(ctx), ActivityLoadSystem, LoadSystemRequest{SystemID: e.systemID})
		if err := e.awaitWithCadence(ctx, fut.IsReady); err != nil {
			return loaded, err
		}
		err := fut.Get(ctx, &loaded)
		if err == nil {
			e.storageUp(ctx, "load")
			return loaded, nil
		}
		if temporal.IsCanceledError(err) {
			return loaded, err
		}
		if err := e.storageDown(ctx, "load", round, err); err != nil {
			return loaded, err
		}
	}
}

// storageDown records a failed round and waits before the next one, probing meanwhile. The first
// failed round of an outage is an ERROR (an operator should act: the database is unreachable);
// later rounds are quiet until it recovers.
func (e *entity) storageDown(ctx workflow.Context, what string, round int, err error) error {
	if e.storageDownSince.IsZero() {
		e.storageDownSince = workflow.Now(ctx)
		e.logger.Error("PostgreSQL is unavailable; results wait in the entity until it is back",
			"operation", what, "pendingRuns", e.pendingRuns(), "error", rootMessage(err))
		e.afterApply(ctx)
	}
	wait := storageRetryFirst << min(round-1, 5)
	wait = min(wait, storageRetryMax)
	timer := workflow.NewTimer(ctx, wait)
	return e.awaitWithCadence(ctx, timer.IsReady)
}

func (e *entity) storageUp(ctx workflow.Context, what string) {
	if e.storageDownSince.IsZero() {
		return
	}
	e.logger.Info("PostgreSQL is back; stored what waited", "operation", what,
		"downFor", workflow.Now(ctx).Sub(e.storageDownSince).String(), "pendingRuns", e.pendingRuns())
	e.storageDownSince = time.Time{}
}

// awaitWithCadence waits until ready while keeping the checks' cadence: due checks are probed
// and their results queued. When ready is already true or becomes true within the same workflow
// task (the usual write), the timer it set is dropped before it is ever sent to the server.
func (e *entity) awaitWithCadence(ctx workflow.Context, ready func() bool) error {
	for !ready() {
		if !e.finished {
			e.startDueProbes(ctx)
		}
		// A probe that returns frees its check for the next due time: look again then.
		inFlight := e.probesInFlight
		if err := e.awaitDueOr(ctx, func() bool { return ready() || e.probesInFlight != inFlight }); err != nil {
			return err
		}
	}
	return nil
}

// cadenceTimer is the entity's one timer for its earliest due check.
type cadenceTimer struct {
	at     time.Time
	fired  workflow.Future
	cancel workflow.CancelFunc
}

// awaitDueOr waits until wake holds or the earliest due check falls due. The timer for that due
// time is kept and reused by every wait until it fires, so a wait ended by an input (a probe
// result, a write, a signal) costs no timer command: workflow.AwaitWithTimeout (SDK 1.50) leaves
// its timer running (a TimerFired and an empty workflow task later), and a timer started and
// cancelled is still two history events.
func (e *entity) awaitDueOr(ctx workflow.Context, wake func() bool) error {
	if wake() {
		return nil
	}
	wait, ok := e.untilNextDue(ctx)
	if !ok || e.finished {
		// Nothing can start now (all due checks are being probed, or the backlog is full): a
		// returning probe or a write wakes the caller. A pending timer is left to fire.
		return workflow.Await(ctx, wake)
	}
	at := workflow.Now(ctx).Add(wait)
	if e.timer == nil || e.timer.fired.IsReady() || !e.timer.at.Equal(at) {
		if e.timer != nil && !e.timer.fired.IsReady() {
			e.timer.cancel()
		}
		tctx, cancel := workflow.WithCancel(ctx)
		e.timer = &cadenceTimer{at: at, fired: workflow.NewTimer(tctx, wait), cancel: cancel}
	}
	t := e.timer
	return workflow.Await(ctx, func() bool { return wake() || t.fired.IsReady() })
}

// pendingRuns counts the results waiting in the queue.
func (e *entity) pendingRuns() int {
	n := 0
	for _, it := range e.queue {
		n += len(it.results)
	}
	return n
}

// backlogFull tells whether the results waiting for the database reached the bound; the entity
// then starts no probe until they are stored (runs are skipped, not lost after being made).
func (e *entity) backlogFull() bool {
	if !e.durable {
		return false
	}
	limit := e.opts.MaxPendingRuns
	if limit <= 0 {
		limit = defaultMaxPendingRuns
	}
	n, size := 0, 0
	for _, it := range e.queue {
		for _, r := range it.results {
			n++
			size += len(r.Result) + len(r.Message)
		}
	}
	return n >= limit || size >= maxPendingBytes
}

// withoutRunDetails is req with each run's result document replaced by a note saying why: the
// status, latency, transition and events are kept.
func withoutRunDetails(req PersistRequest, reason string) PersistRequest {
	out := req
	out.Runs = make([]CheckResult, len(req.Runs))
	for i, r := range req.Runs {
		body, _ := json.Marshal(map[string]any{"status": r.Status, "message": "the run's details could not be stored",
			"metadata": map[string]any{"storeError": reason}})
		r.Result = body
		r.Message = "the run's details could not be stored"
		out.Runs[i] = r
	}
	return out
}

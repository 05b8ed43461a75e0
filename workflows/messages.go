// The SystemHealth entity's messages: the query, the signal readers (one per channel) and the
// run-check update. Handlers only record what arrived in the entity's FIFO queue; the loop
// processes it (systemhealth.go).

package workflows

import (
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

func (e *entity) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (EntityState, error) {
		s := e.snapshot()
		return s, nil
	}); err != nil {
		return fmt.Errorf("register query: %w", err)
	}
	e.resultsCh = workflow.GetSignalChannel(ctx, SignalCheckResult)
	e.configsCh = workflow.GetSignalChannel(ctx, SignalConfigChanged)
	e.lostCh = workflow.GetSignalChannel(ctx, SignalProbeSessionLost)
	if e.heartbeats {
		e.pingsCh = workflow.GetSignalChannel(ctx, SignalCheckResults)
	}
	if !e.signalsInLoop {
		// Before changeSignalsInLoop: a reader goroutine per channel.
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var r CheckResult
				e.resultsCh.Receive(ctx, &r)
				e.enqueueExternal(ctx, r)
			}
		})
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var ignored json.RawMessage
				e.configsCh.Receive(ctx, &ignored)
				e.queue = append(e.queue, item{config: true})
			}
		})
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var id string
				e.lostCh.Receive(ctx, &id)
				e.queue = append(e.queue, item{lost: id})
			}
		})
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateRunCheck, e.runCheck, workflow.UpdateHandlerOptions{
		Validator: e.validateRunCheck,
	})
}

// receiveSignals moves the signals delivered but not yet received into the queue, channel by
// channel in a fixed order (check results, configuration changes, lost sessions).
func (e *entity) receiveSignals(ctx workflow.Context) {
	for {
		var r CheckResult
		if !e.resultsCh.ReceiveAsync(&r) {
			break
		}
		e.enqueueExternal(ctx, r)
	}
	// Every batch of pings delivered so far is one item: one step, one write.
	var pings []CheckResult
	for e.pingsCh != nil {
		var rs []CheckResult
		if !e.pingsCh.ReceiveAsync(&rs) {
			break
		}
		pings = append(pings, rs...)
	}
	if len(pings) > 0 {
		e.receivePings(ctx, pings)
	}
	for {
		var ignored json.RawMessage
		if !e.configsCh.ReceiveAsync(&ignored) {
			break
		}
		e.queue = append(e.queue, item{config: true})
	}
	for {
		var id string
		if !e.lostCh.ReceiveAsync(&id) {
			break
		}
		e.queue = append(e.queue, item{lost: id})
	}
}

// signalsPending reports a signal waiting in its channel for the loop (changeSignalsInLoop).
func (e *entity) signalsPending() bool {
	return e.signalsInLoop && (e.resultsCh.Len() > 0 || e.configsCh.Len() > 0 || e.lostCh.Len() > 0 || (e.pingsCh != nil && e.pingsCh.Len() > 0))
}

// enqueueExternal validates a check-result signal; invalid ones are logged and dropped (a
// signal cannot answer with an error).
func (e *entity) enqueueExternal(ctx workflow.Context, r CheckResult) {
	if r.ID == "" || !r.Status.Valid() || r.ConfigurationID == "" {
		e.logger.Warn("dropping invalid check-result signal", "id", r.ID, "status", r.Status, "configurationId", r.ConfigurationID)
		return
	}
	if !health.RunOfSystem(e.systemID, r.ID) {
		r.ID = health.ExternalRunID(e.systemID, r.ID)
	}
	if r.ExecutedAt.IsZero() {
		r.ExecutedAt = workflow.Now(ctx)
	}
	e.queue = append(e.queue, item{results: []CheckResult{r}})
}

func (e *entity) findCheck(configurationID string) int {
	for i := range e.st.Checks {
		if e.st.Checks[i].ConfigurationID == configurationID {
			return i
		}
	}
	return -1
}

// validateRunCheck rejects what the entity knows to be wrong. A check it does not know yet is
// let through: the handler first applies any configuration change (the API writes the
// assignment, then signals, then may run at once) and decides then.
func (e *entity) validateRunCheck(ctx workflow.Context, req RunCheckRequest) error {
	if req.ConfigurationID == "" {
		return temporal.NewNonRetryableApplicationError("configurationId is required", ErrTypeCheckNotEnabled, nil)
	}
	if e.finished {
		return e.notEnabled(req.ConfigurationID)
	}
	if i := e.findCheck(req.ConfigurationID); i >= 0 && e.st.Checks[i].Paused && !req.Force {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("check %q is paused; set force to run it anyway", req.ConfigurationID), ErrTypeCheckPaused, nil)
	}
	return nil
}

func (e *entity) notEnabled(configurationID string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("check %q is not an enabled check of system %q", configurationID, e.systemID), ErrTypeCheckNotEnabled, nil)
}

// runCheck probes the check now, puts the result in the queue and returns once the loop has
// processed it. The update id makes the run id, so a retried request is stored once.
func (e *entity) runCheck(ctx workflow.Context, req RunCheckRequest) (RunCheckResponse, error) {
	if err := e.validateRunCheck(ctx, req); err != nil {
		return RunCheckResponse{}, err
	}
	if e.findCheck(req.ConfigurationID) < 0 {
		// Not known (yet): reload the configuration through the queue, then look again.
		w := &outcome{}
		e.queue = append(e.queue, item{config: true, waiter: w})
		if err := workflow.Await(ctx, func() bool { return w.ready }); err != nil {
			return RunCheckResponse{}, err
		}
		if err := e.validateRunCheck(ctx, req); err != nil {
			return RunCheckResponse{}, err
		}
		if e.findCheck(req.ConfigurationID) < 0 {
			return RunCheckResponse{}, e.notEnabled(req.ConfigurationID)
		}
	}
	c := e.st.Checks[e.findCheck(req.ConfigurationID)]
	location := ""
	if len(c.Locations) > 0 {
		location = c.Locations[0]
	}
	item0 := ProbeItem{ResultID: health.RunNowRunID(e.systemID, workflow.GetCurrentUpdateInfo(ctx).ID), DueAt: workflow.Now(ctx), Assignment: c.Assignment}
	e.probesInFlight++
	var res []CheckResult
	if e.quorumApplies(c) {
		res = e.probeQuorumNow(ctx, c, item0)
	} else {
		res = e.probe(ctx, location, []ProbeItem{item0})
	}
	e.probesInFlight--
	w := &outcome{}
	e.queue = append(e.queue, item{results: res, waiter: w})
	if err := workflow.Await(ctx, func() bool { return w.ready }); err != nil {
		return RunCheckResponse{}, err
	}
	return w.resp, w.err
}

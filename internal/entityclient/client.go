// Package entityclient starts and talks to SystemHealth entities from outside Temporal: the API
// (after a configuration write), the reconcile job and tests. Reads never come through here:
// they come from PostgreSQL (design.md invariant 6).
package entityclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/checkflow/checkflow/workflows"
)

// Client reaches the entities of one namespace and task queue.
type Client struct {
	Temporal client.Client
	// TaskQueue is the entities' task queue; default workflows.TaskQueue.
	TaskQueue string
	// Options are passed to entities this client starts.
	Options workflows.EntityOptions
	// AdmissionTimeout bounds how long RunCheck waits for Temporal to accept a run (the update
	// admitted and its validator run by the entity's worker); default DefaultAdmissionTimeout.
	AdmissionTimeout time.Duration
}

// DefaultAdmissionTimeout is how long RunCheck waits, at most, for the entity to accept a run:
// Temporal answering, the entity started if needed and a worker running its validator. It
// does not include the probe itself (bounded by the check's timeout and the caller's
// deadline).
const DefaultAdmissionTimeout = 15 * time.Second

// ErrNotAccepted is wrapped by RunCheck's error when Temporal did not accept the run: it was
// unreachable or busy until the admission timeout, no worker served the entity's task queue in
// time, or it refused to start or update the entity.
var ErrNotAccepted = errors.New("the run was not accepted in time")

// ErrNoResult is wrapped by RunCheck's error when the run was accepted but its result did not
// come before the caller's deadline.
var ErrNoResult = errors.New("the run's result did not come in time")

func (c *Client) startOptions(systemID string) client.StartWorkflowOptions {
	q := c.TaskQueue
	if q == "" {
		q = workflows.TaskQueue
	}
	return client.StartWorkflowOptions{
		ID:                       workflows.SystemWorkflowID(systemID),
		TaskQueue:                q,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword("CheckflowSystemId").ValueSet(systemID)),
		StaticSummary:            "health of system " + systemID,
		WorkflowTaskTimeout:      workflowTaskTimeout,
	}
}

// workflowTaskTimeout is how long a worker may take for one workflow task of an entity before
// the server gives the task to another worker. When a worker dies mid-task, the entity stands
// still that long (Temporal's default, 10 s, was most of the 11–12 s gaps after 1–3 s
// outages). An entity's tasks take milliseconds, or a probe batch's local activity, which the
// SDK keeps alive with a heartbeat task every 80 % of this timeout; 5 s leaves a wide margin
// on a loaded machine. Continue-as-new keeps the value.
const workflowTaskTimeout = 5 * time.Second

func (c *Client) input(systemID string) workflows.SystemHealthInput {
	return workflows.SystemHealthInput{SystemID: systemID, Options: c.Options}
}

// ConfigChanged tells the system's entity that its configuration changed, starting the entity
// if it is not running (signal-with-start).
func (c *Client) ConfigChanged(ctx context.Context, systemID string) error {
	_, err := c.Temporal.SignalWithStartWorkflow(ctx, workflows.SystemWorkflowID(systemID), workflows.SignalConfigChanged, nil,
		c.startOptions(systemID), workflows.SystemHealthWorkflow, c.input(systemID))
	if err != nil {
		return fmt.Errorf("signal entity of %s: %w", systemID, err)
	}
	return nil
}

// EnsureStarted starts the system's entity unless it is already running; it reports whether it
// started one.
func (c *Client) EnsureStarted(ctx context.Context, systemID string) (bool, error) {
	opts := c.startOptions(systemID)
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL
	// Without it the SDK hides the conflict and returns the running entity as if started.
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	_, err := c.Temporal.ExecuteWorkflow(ctx, opts, workflows.SystemHealthWorkflow, c.input(systemID))
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("start entity of %s: %w", systemID, err)
	}
	return true, nil
}

// SendResults delivers several external results (heartbeat pings) to the system's entity in
// one signal (with start).
//
// It signals the running entity, and signals with start only when none runs: a plain signal
// costs the Temporal server a fraction of a signal-with-start, and pings come often.
func (c *Client) SendResults(ctx context.Context, systemID string, rs []workflows.CheckResult) error {
	err := c.Temporal.SignalWorkflow(ctx, workflows.SystemWorkflowID(systemID), "", workflows.SignalCheckResults, rs)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		_, err = c.Temporal.SignalWithStartWorkflow(ctx, workflows.SystemWorkflowID(systemID), workflows.SignalCheckResults, rs,
			c.startOptions(systemID), workflows.SystemHealthWorkflow, c.input(systemID))
	}
	if err != nil {
		return fmt.Errorf("send results to entity of %s: %w", systemID, err)
	}
	return nil
}

// SendResult delivers an external result (push check, remote probe) to the system's entity.
func (c *Client) SendResult(ctx context.Context, systemID string, r workflows.CheckResult) error {
	_, err := c.Temporal.SignalWithStartWorkflow(ctx, workflows.SystemWorkflowID(systemID), workflows.SignalCheckResult, r,
		c.startOptions(systemID), workflows.SystemHealthWorkflow, c.input(systemID))
	if err != nil {
		return fmt.Errorf("send result to entity of %s: %w", systemID, err)
	}
	return nil
}

// RunCheck runs a check now through the entity (Update-with-Start) and waits for the result.
// updateID is the caller's idempotency key: a retry with the same id returns the same run.
//
// It waits in two bounded steps. First until the entity accepted the run, at most
// AdmissionTimeout (and the caller's deadline): the Temporal client retries unavailable
// servers and busy workflows (e.g. Temporal's limit of in-flight updates per workflow) with
// backoff until then, and a run the entity rejected because it was still starting is sent
// again (see notReady); the error wraps ErrNotAccepted. Then for the result until the caller's
// deadline (the error wraps ErrNoResult). Without a caller deadline the result is awaited as
// long as the caller's context lives.
func (c *Client) RunCheck(ctx context.Context, systemID, updateID string, req workflows.RunCheckRequest) (workflows.RunCheckResponse, error) {
	admission := c.AdmissionTimeout
	if admission <= 0 {
		admission = DefaultAdmissionTimeout
	}
	actx, cancel := context.WithTimeout(ctx, admission)
	defer cancel()
	wrap := func(err error) error {
		return fmt.Errorf("run check %s of %s: %w", req.ConfigurationID, systemID, err)
	}
	for backoff := notReadyBackoff; ; backoff = min(2*backoff, maxNotReadyBackoff) {
		start := c.Temporal.NewWithStartWorkflowOperation(c.startOptions(systemID), workflows.SystemHealthWorkflow, c.input(systemID))
		handle, err := c.Temporal.UpdateWithStartWorkflow(actx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: start,
			UpdateOptions: client.UpdateWorkflowOptions{
				UpdateID:     updateID,
				UpdateName:   workflows.UpdateRunCheck,
				Args:         []any{req},
				WaitForStage: client.WorkflowUpdateStageAccepted,
			},
		})
		if err != nil {
			// A rejection by the entity comes through the handle: any error here means Temporal
			// did not take the run (unreachable, busy past the admission timeout, refused).
			if ctx.Err() == nil {
				err = fmt.Errorf("%w (admission timeout %v): %w", ErrNotAccepted, admission, err)
			}
			return workflows.RunCheckResponse{}, wrap(err)
		}
		var resp workflows.RunCheckResponse
		err = handle.Get(ctx, &resp)
		if err == nil {
			return resp, nil
		}
		if notReady(err) {
			// Rejected updates leave no trace: the same update id can be sent again.
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
				continue
			case <-actx.Done():
				t.Stop()
				if ctx.Err() == nil {
					err = fmt.Errorf("%w (admission timeout %v; the entity was still starting): %w", ErrNotAccepted, admission, err)
				}
				return resp, wrap(err)
			}
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", ErrNoResult, err)
		}
		return resp, wrap(err)
	}
}

// Backoff between attempts of a run rejected by an entity that was still starting.
const (
	notReadyBackoff    = 25 * time.Millisecond
	maxNotReadyBackoff = time.Second
)

// notReady reports whether the entity rejected the run-check update because it had not
// registered its handler yet: an entity started by this Update-with-Start (or any first
// workflow task) loads its state from PostgreSQL before registering its handlers, and the
// Temporal SDK rejects updates delivered before that with "unknown update run-check".
func notReady(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && strings.HasPrefix(app.Message(), "unknown update "+workflows.UpdateRunCheck)
}

// State queries the entity's full state (for operators and tests, not for the API's reads).
func (c *Client) State(ctx context.Context, systemID string) (workflows.EntityState, error) {
	var st workflows.EntityState
	v, err := c.Temporal.QueryWorkflow(ctx, workflows.SystemWorkflowID(systemID), "", workflows.QueryState)
	if err != nil {
		return st, fmt.Errorf("query entity of %s: %w", systemID, err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode entity state: %w", err)
	}
	return st, nil
}

// Package entityclient starts and talks to SystemHealth entities from outside Temporal: the API
// (after a configuration write), the reconcile job and tests. Reads never come through here:
// they come from PostgreSQL (design.md invariant 6).
package entityclient

import (
	"context"
	"errors"
	"fmt"

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
}

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
	}
}

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
func (c *Client) RunCheck(ctx context.Context, systemID, updateID string, req workflows.RunCheckRequest) (workflows.RunCheckResponse, error) {
	opts := c.startOptions(systemID)
	start := c.Temporal.NewWithStartWorkflowOperation(opts, workflows.SystemHealthWorkflow, c.input(systemID))
	handle, err := c.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     updateID,
			UpdateName:   workflows.UpdateRunCheck,
			Args:         []any{req},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return workflows.RunCheckResponse{}, fmt.Errorf("run check %s of %s: %w", req.ConfigurationID, systemID, err)
	}
	var resp workflows.RunCheckResponse
	if err := handle.Get(ctx, &resp); err != nil {
		return resp, fmt.Errorf("run check %s of %s: %w", req.ConfigurationID, systemID, err)
	}
	return resp, nil
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

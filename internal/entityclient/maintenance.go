package entityclient

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/workflows"
)

// maintenanceStartOptions starts the workflow of a maintenance window on the client's task
// queue. A window whose workflow already ended (the window passed, or was deleted) may get a
// new run: the window was changed afterwards, and the new run reloads it from PostgreSQL.
func (c *Client) maintenanceStartOptions(windowID string) client.StartWorkflowOptions {
	q := c.TaskQueue
	if q == "" {
		q = workflows.TaskQueue
	}
	return client.StartWorkflowOptions{
		ID:                       workflows.MaintenanceWorkflowID(windowID),
		TaskQueue:                q,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            "maintenance window " + windowID,
	}
}

// MaintenanceChanged tells the workflow of a maintenance window that the window was created,
// changed or deleted in PostgreSQL, starting the workflow if it is not running
// (signal-with-start). The signal has no payload: the workflow reloads the window.
func (c *Client) MaintenanceChanged(ctx context.Context, windowID string) error {
	_, err := c.Temporal.SignalWithStartWorkflow(ctx, workflows.MaintenanceWorkflowID(windowID), workflows.SignalMaintenanceChanged, nil,
		c.maintenanceStartOptions(windowID), workflows.MaintenanceWorkflow, workflows.MaintenanceInput{WindowID: windowID})
	if err != nil {
		return fmt.Errorf("signal maintenance window %s: %w", windowID, err)
	}
	return nil
}

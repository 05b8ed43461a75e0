package entityclient

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/workflows"
)

func (c *Client) automationStartOptions(automationID string) client.StartWorkflowOptions {
	q := c.TaskQueue
	if q == "" {
		q = workflows.TaskQueue
	}
	return client.StartWorkflowOptions{
		ID:                       workflows.AutomationWorkflowID(automationID),
		TaskQueue:                q,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            "automation " + automationID,
	}
}

// AutomationChanged tells an automation's workflow that the automation was created, changed or
// deleted (signal-with-start; the workflow reloads it and ends when it is gone or disabled and
// idle).
func (c *Client) AutomationChanged(ctx context.Context, automationID string) error {
	_, err := c.Temporal.SignalWithStartWorkflow(ctx, workflows.AutomationWorkflowID(automationID), workflows.SignalAutomationChanged, nil,
		c.automationStartOptions(automationID), workflows.AutomationWorkflow, workflows.AutomationInput{AutomationID: automationID})
	if err != nil {
		return fmt.Errorf("signal automation %s: %w", automationID, err)
	}
	return nil
}

// AutomationEvent hands an automation's workflow one matched trigger event (signal-with-start).
func (c *Client) AutomationEvent(ctx context.Context, automationID string, ev workflows.AutomationEvent) error {
	_, err := c.Temporal.SignalWithStartWorkflow(ctx, workflows.AutomationWorkflowID(automationID), workflows.SignalAutomationEvent, ev,
		c.automationStartOptions(automationID), workflows.AutomationWorkflow, workflows.AutomationInput{AutomationID: automationID})
	if err != nil {
		return fmt.Errorf("signal automation %s: %w", automationID, err)
	}
	return nil
}

package activities

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// Reconciler starts missing entities and maintenance window workflows.
type Reconciler struct {
	Store    *store.Store
	Entities *entityclient.Client
}

// ReconcileEntities starts the entity of every system with ≥1 enabled check that has none
// running (starting an entity that runs already is a no-op).
//
// It tries every system rather than listing the running entities first: against the embedded
// server's SQLite visibility store, listing 1,000 running entities took 1–3 s on its single
// connection — seconds in which every entity's workflow task waited.
func (r *Reconciler) ReconcileEntities(ctx context.Context) (workflows.ReconcileResult, error) {
	ids, err := r.Store.ListSystemsWithEnabledChecks(ctx)
	if err != nil {
		return workflows.ReconcileResult{}, fmt.Errorf("list systems: %w", err)
	}
	res := workflows.ReconcileResult{Systems: len(ids)}
	for _, id := range ids {
		started, err := r.Entities.EnsureStarted(ctx, id)
		if err != nil {
			return res, err
		}
		if started {
			res.Started++
		}
		activity.RecordHeartbeat(ctx, res)
	}
	windows, err := r.Store.UnfinishedMaintenances(ctx)
	if err != nil {
		return res, fmt.Errorf("list maintenance windows: %w", err)
	}
	for _, id := range windows {
		started, err := r.ensureMaintenance(ctx, id)
		if err != nil {
			return res, err
		}
		if started {
			res.Maintenances++
		}
		activity.RecordHeartbeat(ctx, res)
	}
	return res, nil
}

// ensureMaintenance starts the workflow of a window whose end was not handled yet unless it
// runs (the API starts it on every write; this brings back one that was terminated or never
// started because Temporal was away when the window was written).
func (r *Reconciler) ensureMaintenance(ctx context.Context, windowID string) (bool, error) {
	q := r.Entities.TaskQueue
	if q == "" {
		q = workflows.TaskQueue
	}
	_, err := r.Entities.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.MaintenanceWorkflowID(windowID),
		TaskQueue:                q,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// Without it the SDK hides the conflict and returns the running workflow as if started.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            "maintenance window " + windowID,
	}, workflows.MaintenanceWorkflow, workflows.MaintenanceInput{WindowID: windowID})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("start maintenance window %s: %w", windowID, err)
	}
	return true, nil
}

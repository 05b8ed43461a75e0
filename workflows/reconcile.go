package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ReconcileWorkflow is the registered name of Reconcile; ReconcileScheduleID the schedule that
// starts it every few minutes.
const (
	ReconcileWorkflow          = "Reconcile"
	ReconcileScheduleID        = "checkflow-reconcile"
	ActivityReconcileEntities  = "ReconcileEntities"
	ReconcileInterval          = 5 * time.Minute
	reconcileActivityTimeout   = 2 * time.Minute
	reconcileActivityHeartbeat = 30 * time.Second
)

// ReconcileResult says what a reconcile pass did.
type ReconcileResult struct {
	Systems int `json:"systems"`
	Started int `json:"started"`
	// Maintenances counts maintenance window workflows started.
	Maintenances int `json:"maintenances,omitempty"`
}

// Reconcile makes sure every system with at least one enabled check has a running entity (a
// safety net behind the API's signal-with-start: entities that ended or were terminated come
// back). Entities of systems without enabled checks end by themselves.
func Reconcile(ctx workflow.Context) (ReconcileResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: reconcileActivityTimeout,
		HeartbeatTimeout:    reconcileActivityHeartbeat,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var res ReconcileResult
	err := workflow.ExecuteActivity(ctx, ActivityReconcileEntities).Get(ctx, &res)
	return res, err
}

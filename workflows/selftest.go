package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// SelfTestWorkflow is the registered name of SelfTest.
const SelfTestWorkflow = "SelfTest"

// ActivityDatabaseInfo is the registered name of the activity SelfTest calls.
const ActivityDatabaseInfo = "DatabaseInfo"

// DatabaseInfo is what the DatabaseInfo activity reports about the database it reached.
type DatabaseInfo struct {
	ServerVersion  string    `json:"serverVersion"`
	Database       string    `json:"database"`
	SchemaVersion  int32     `json:"schemaVersion"`
	DatabaseTimeUT time.Time `json:"databaseTime"`
}

// SelfTestResult is SelfTest's result: the worker's database as seen through an activity.
type SelfTestResult struct {
	Database  DatabaseInfo `json:"database"`
	StartedAt time.Time    `json:"startedAt"`
}

// SelfTest proves a deployment end to end: a workflow task runs, an activity on the same worker
// reaches PostgreSQL, and the result comes back through Temporal. `checkflow` runs it at start
// in dev mode; tests use it to prove the wiring.
func SelfTest(ctx workflow.Context) (SelfTestResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	res := SelfTestResult{StartedAt: workflow.Now(ctx)}
	err := workflow.ExecuteActivity(ctx, ActivityDatabaseInfo).Get(ctx, &res.Database)
	return res, err
}

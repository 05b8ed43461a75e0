package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// Reconciler starts missing entities.
type Reconciler struct {
	Store    *store.Store
	Entities *entityclient.Client
}

// ReconcileEntities starts the entity of every system with ≥1 enabled check that has none
// running (starting an entity that runs already is a no-op).
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
	return res, nil
}

package workflows

import (
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// MaintenanceWindow runs one maintenance window (workflow id maintenance/<windowId>): it sleeps
// on a durable timer until the window starts, tells the notifiers of its systems, sleeps until
// it ends and tells them again — on time, without polling. The API signals it (with start) on
// every create, update and delete; it then reloads the window and re-plans its timers.
func MaintenanceWindow(ctx workflow.Context, in MaintenanceInput) error {
	changed := workflow.GetSignalChannel(ctx, SignalMaintenanceChanged)
	drain := func() bool {
		got := false
		for changed.ReceiveAsync(nil) {
			got = true
		}
		return got
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	edge := func(started bool, systems []string, final bool) error {
		req := MaintenanceEdgeRequest{WindowID: in.WindowID, Started: started, SystemIDs: systems, At: workflow.Now(ctx), Final: final}
		return workflow.ExecuteActivity(actx, ActivityMaintenanceEdge, req).Get(ctx, nil)
	}
	// active are the systems told that the window started (and not yet that it ended).
	var active []string
	for {
		drain()
		var w MaintenanceInfo
		if err := workflow.ExecuteLocalActivity(lctx, ActivityLoadMaintenance, in.WindowID).Get(ctx, &w); err != nil {
			return err
		}
		now := workflow.Now(ctx)
		switch {
		case !w.Found || w.EndedAt != nil && len(active) == 0:
			// Deleted, or ended before this run: whoever started tells the end.
			if len(active) > 0 {
				return edge(false, active, false)
			}
			return nil
		case now.Before(w.StartsAt):
			if len(active) > 0 {
				// Moved into the future while it ran: it ends for now.
				if err := edge(false, active, false); err != nil {
					return err
				}
				active = nil
			}
			waitOrChanged(ctx, changed, w.StartsAt.Sub(now))
		case now.Before(w.EndsAt):
			var added, removed []string
			for _, id := range w.SystemIDs {
				if !slices.Contains(active, id) {
					added = append(added, id)
				}
			}
			for _, id := range active {
				if !slices.Contains(w.SystemIDs, id) {
					removed = append(removed, id)
				}
			}
			if len(removed) > 0 {
				if err := edge(false, removed, false); err != nil {
					return err
				}
			}
			if len(added) > 0 || w.StartedAt == nil {
				if err := edge(true, added, true); err != nil {
					return err
				}
			}
			active = slices.Clone(w.SystemIDs)
			waitOrChanged(ctx, changed, w.EndsAt.Sub(now))
		default:
			systems := slices.Clone(w.SystemIDs)
			for _, id := range active {
				if !slices.Contains(systems, id) {
					systems = append(systems, id)
				}
			}
			if err := edge(false, systems, true); err != nil {
				return err
			}
			if !drain() {
				return nil
			}
			active = nil
		}
	}
}

// waitOrChanged sleeps for d or until the window changes.
func waitOrChanged(ctx workflow.Context, changed workflow.ReceiveChannel, d time.Duration) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) {})
	sel.AddReceive(changed, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sel.Select(ctx)
}

package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// quorumApplies tells whether the check's runs are decided by a quorum of its locations.
func (e *entity) quorumApplies(c CheckState) bool { return false }

// startQuorumProbe probes the due check from each of its locations and queues one run decided
// by the quorum. It is called with the check's NextDue already advanced.
func (e *entity) startQuorumProbe(ctx workflow.Context, c *CheckState, due time.Time) {}

// probeQuorumNow probes the check now from each of its locations (run-now) and returns the one
// run decided by the quorum, with the id of item.
func (e *entity) probeQuorumNow(ctx workflow.Context, c CheckState, item ProbeItem) []CheckResult {
	return nil
}

// Multi-location quorum (changeQuorum): a check with two or more locations is probed from each
// of its locations every interval and stored as ONE run whose status the quorum decides
// (health.DecideQuorum); each location's own result is kept in the run's document under
// locations.<location>.
//
// Temporal cost of one quiet quorum run of an n-location check (measured in TestQuorumLocations,
// n = 3: 18–21 events, 2–3 workflow tasks): the cadence timer (TIMER_FIRED, TIMER_STARTED), n
// Probe activities (3n events: scheduled, started, completed), one PersistSystem local activity
// marker, and 3 events per workflow task — one for the timer plus one for each batch of
// completions that arrive together (1 to n). Billable actions: n activities, the timer and the
// local activities of the step (≈ n + 2). Before changeQuorum the same check also cost n
// activities per interval (one per location's batch) but stored n runs. A run that changes a
// status adds the DispatchEvents activity, as any run does. Quorum checks are not batched with
// other checks of the same location: each run is its own n activities.

package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

const (
	// quorumScheduleToStartMin and quorumScheduleToStartMax bound how long a location's probe
	// waits for a worker of its location (quorumScheduleToStart).
	quorumScheduleToStartMin = 2 * time.Second
	quorumScheduleToStartMax = time.Minute
)

// quorumScheduleToStart is the ScheduleToStart timeout of a location's probe: half the check's
// interval, at least 2 s and at most 1 minute. A location whose workers poll picks a probe up in
// milliseconds; one that has not within this bound has no worker (or none free) and is reported
// unavailable. Half an interval keeps the run decided before the next one falls due; the floor
// rides out a worker's reconnect; the ceiling reports absent workers of hourly checks within a
// minute.
func quorumScheduleToStart(intervalSeconds int) time.Duration {
	return min(max(time.Duration(intervalSeconds)*time.Second/2, quorumScheduleToStartMin), quorumScheduleToStartMax)
}

// quorumApplies tells whether the check's runs are decided by a quorum of its locations: from
// version 1 of changeQuorum on, for checks with at least two locations (a single location keeps
// a run per probe).
func (e *entity) quorumApplies(c CheckState) bool { return e.quorum && len(c.Locations) >= 2 }

// startQuorumProbe probes the due check from each of its locations and queues one run decided
// by the quorum. It is called with the check's NextDue already advanced.
func (e *entity) startQuorumProbe(ctx workflow.Context, c *CheckState, due time.Time) {
	e.st.ProbeSeq++
	it := ProbeItem{ResultID: e.probeResultID(), DueAt: due, Assignment: c.Assignment}
	n := len(c.Locations)
	c.InFlight += n
	e.probesInFlight += n
	futs := e.startLocationProbes(ctx, it)
	workflow.Go(ctx, func(ctx workflow.Context) {
		run := e.decideQuorum(ctx, it, futs)
		e.probesInFlight -= n
		if j := e.findCheck(it.Assignment.ConfigurationID); j >= 0 {
			e.st.Checks[j].InFlight = max(e.st.Checks[j].InFlight-n, 0)
		}
		e.queue = append(e.queue, item{results: []CheckResult{run}})
	})
}

// probeQuorumNow probes the check now from each of its locations (run-now) and returns the one
// run decided by the quorum, with the id of item.
func (e *entity) probeQuorumNow(ctx workflow.Context, c CheckState, item ProbeItem) []CheckResult {
	// The caller counts one probe in flight; the other locations' probes count too.
	extra := len(c.Locations) - 1
	e.probesInFlight += extra
	run := e.decideQuorum(ctx, item, e.startLocationProbes(ctx, item))
	e.probesInFlight -= extra
	return []CheckResult{run}
}

// startLocationProbes starts one Probe activity per location of the item's check, in the
// check's location order, each on its location's probe task queue.
func (e *entity) startLocationProbes(ctx workflow.Context, it ProbeItem) []workflow.Future {
	timeout := probeTimeout(it.Assignment.Config)
	toStart := quorumScheduleToStart(it.Assignment.IntervalSeconds)
	futs := make([]workflow.Future, len(it.Assignment.Locations))
	for i, loc := range it.Assignment.Locations {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:              e.probeTaskQueue() + "-" + loc,
			ScheduleToStartTimeout: toStart,
			StartToCloseTimeout:    timeout + 10*time.Second,
			ScheduleToCloseTimeout: 3*(timeout+10*time.Second+toStart) + time.Minute,
			RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
			Summary:                "quorum probe @" + loc,
		})
		req := ProbeRequest{SystemID: e.systemID, SystemName: e.st.SystemName, Location: loc, Probes: []ProbeItem{it}}
		futs[i] = workflow.ExecuteActivity(actx, ActivityProbe, req)
	}
	return futs
}

// decideQuorum waits for every location's probe (in location order: deterministic) and
// decides the run. A probe no worker of its location took within its ScheduleToStart timeout
// makes the location unavailable; any other failure of the activity is that location failing
// ("probe failed: …"), as for a check with one location.
func (e *entity) decideQuorum(ctx workflow.Context, it ProbeItem, futs []workflow.Future) CheckResult {
	locs := it.Assignment.Locations
	outcomes := make([]health.LocationOutcome, len(locs))
	var executedAt time.Time
	for i, fut := range futs {
		var res []CheckResult
		err := fut.Get(ctx, &res)
		if err == nil && len(res) != 1 {
			err = fmt.Errorf("probe returned %d results for 1 check", len(res))
		}
		o := health.LocationOutcome{Location: locs[i]}
		switch {
		case scheduleToStartTimeout(err):
			o.Unavailable = true
			o.Message = fmt.Sprintf("no probe worker of location %s took the run within %s (ScheduleToStart timeout); not counted as failing",
				locs[i], quorumScheduleToStart(it.Assignment.IntervalSeconds))
		case err != nil:
			o.Status, o.Message = health.Unhealthy, "probe failed: "+rootMessage(err)
		default:
			r := res[0]
			o.Status, o.LatencyMs, o.Message, o.Result = r.Status, r.LatencyMs, r.Message, r.Result
			if executedAt.IsZero() || r.ExecutedAt.Before(executedAt) {
				executedAt = r.ExecutedAt
			}
		}
		outcomes[i] = o
	}
	if executedAt.IsZero() {
		executedAt = workflow.Now(ctx)
	}
	d := health.DecideQuorum(outcomes, it.Assignment.Quorum)
	return CheckResult{
		ID: it.ResultID, ConfigurationID: it.Assignment.ConfigurationID, Status: d.Status,
		LatencyMs: d.LatencyMs, Message: d.Message, Result: d.Result, ExecutedAt: executedAt,
	}
}

// scheduleToStartTimeout tells whether an activity failed because no worker took it in time.
func scheduleToStartTimeout(err error) bool {
	var te *temporal.TimeoutError
	return errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START
}

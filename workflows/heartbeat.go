// The SystemHealth entity's heartbeat (push) checks (changeHeartbeat): no probe runs for them;
// the job they watch pings the API, the API hands the pings to the entity (SignalCheckResults),
// and the entity's own cadence timer is the deadline of the next ping. A deadline that passes
// without a ping is a failed run the entity produces itself, at the deadline, durable and exact
// (the timer is Temporal's), for periods of seconds or of weeks.

package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/heartbeat"
)

// isHeartbeat tells whether the entity treats the check as a heartbeat check.
func (e *entity) isHeartbeat(c CheckState) bool {
	return e.heartbeats && heartbeat.IsStrategy(c.StrategyID)
}

// heartbeatSchedule parses the check's configuration (validated by the API; a configuration
// stored before that is reported in the failed run).
func heartbeatSchedule(c CheckState) (heartbeat.Schedule, error) {
	return heartbeat.Parse(c.Config)
}

// heartbeatDue sets a heartbeat check's deadline when the entity loads it: a check it did not
// know, a changed schedule, or a check resumed from a pause waits one whole period (plus grace)
// from its last ping — or from now, when it never pinged or was paused, so that neither a new
// lifetime of the entity nor a pause produces a failure the job could not have avoided.
func (e *entity) heartbeatDue(c *CheckState, prev *CheckState, now time.Time) {
	if !e.isHeartbeat(*c) {
		return
	}
	if prev != nil && string(prev.Config) == string(c.Config) && prev.Paused == c.Paused && heartbeat.IsStrategy(prev.StrategyID) {
		c.StartedAt = prev.StartedAt
		return // the deadline carries on
	}
	sched, err := heartbeatSchedule(*c)
	if err != nil {
		c.NextDue = now
		return
	}
	from := now
	if c.LastRunAt != nil && (prev == nil || !prev.Paused) && c.LastRunAt.Before(now) {
		from = *c.LastRunAt
	}
	c.NextDue = sched.DeadlineAfterPing(from)
	if c.NextDue.Before(now) {
		// The deadline passed while no entity ran (or the schedule changed): a whole grace
		// from now before the first failure.
		c.NextDue = now.Add(sched.Grace())
	}
}

// receivePings takes a batch of ping results (SignalCheckResults): a start only moves the
// deadline; a success or failure is a run, processed as one item with the batch's other runs,
// and restarts the deadline from the ping.
func (e *entity) receivePings(ctx workflow.Context, rs []CheckResult) {
	var runs []CheckResult
	for _, r := range rs {
		if r.ID == "" || !r.Status.Valid() || r.ConfigurationID == "" {
			e.logger.Warn("dropping invalid ping", "id", r.ID, "status", r.Status, "configurationId", r.ConfigurationID)
			continue
		}
		if !health.RunOfSystem(e.systemID, r.ID) {
			r.ID = health.ExternalRunID(e.systemID, r.ID)
		}
		if r.ExecutedAt.IsZero() {
			r.ExecutedAt = workflow.Now(ctx)
		}
		i := e.findCheck(r.ConfigurationID)
		if i < 0 || !e.isHeartbeat(e.st.Checks[i]) || r.Ping == nil {
			runs = append(runs, r) // not a heartbeat here (any more): an ordinary external result
			continue
		}
		c := &e.st.Checks[i]
		sched, err := heartbeatSchedule(*c)
		if err != nil {
			runs = append(runs, r)
			continue
		}
		switch r.Ping.Kind {
		case heartbeat.Start:
			at := r.ExecutedAt
			c.StartedAt = &at
			if d := sched.DeadlineAfterStart(at); d.Before(c.NextDue) {
				c.NextDue = d
			}
			continue
		case heartbeat.Success:
			if c.StartedAt != nil && !r.ExecutedAt.Before(*c.StartedAt) && r.LatencyMs == nil {
				ms := int(r.ExecutedAt.Sub(*c.StartedAt).Milliseconds())
				r.LatencyMs = &ms
			}
		}
		c.StartedAt = nil
		c.NextDue = sched.DeadlineAfterPing(r.ExecutedAt)
		runs = append(runs, r)
	}
	if len(runs) > 0 {
		e.queue = append(e.queue, item{results: runs})
	}
}

// missedPing is the run of a heartbeat check whose deadline passed: a failure the entity
// produces itself, then the next deadline one period (or cron time) on. Its id is the
// deadline's, so the same miss is stored once.
func (e *entity) missedPing(ctx workflow.Context, c *CheckState, now time.Time) {
	deadline := c.NextDue
	if e.st.InMaintenance {
		// A job stopped for maintenance is not failing: no run; the deadlines go on, and the
		// window's end gives the job a whole period again (setMaintenance).
		sched, err := heartbeatSchedule(*c)
		if err != nil {
			c.NextDue = now.Add(time.Minute)
			return
		}
		c.StartedAt = nil
		for !c.NextDue.After(now) {
			c.NextDue = sched.DeadlineAfterMiss(c.NextDue)
		}
		return
	}
	var msg string
	detail := map[string]any{"missed": true, "deadline": deadline.UTC().Format(time.RFC3339Nano)}
	sched, err := heartbeatSchedule(*c)
	switch {
	case err != nil:
		msg = "invalid heartbeat configuration: " + err.Error()
		c.NextDue = now.Add(time.Duration(max(c.IntervalSeconds, 60)) * time.Second)
	case c.StartedAt != nil:
		msg = fmt.Sprintf("the job started at %s and did not report success within the grace time (%s)",
			c.StartedAt.UTC().Format(time.RFC3339), sched.Grace())
		detail["startedAt"] = c.StartedAt.UTC().Format(time.RFC3339Nano)
		c.NextDue = sched.DeadlineAfterPing(*c.StartedAt)
		c.StartedAt = nil
	default:
		expected := deadline.Add(-sched.Grace())
		msg = fmt.Sprintf("no ping since the one expected by %s (grace %s)", expected.UTC().Format(time.RFC3339), sched.Grace())
		detail["expectedBy"] = expected.UTC().Format(time.RFC3339Nano)
		c.NextDue = sched.DeadlineAfterMiss(deadline)
	}
	if err == nil {
		detail["graceSeconds"] = int(sched.Grace().Seconds())
		// After a long outage of the entity, one failure stands for the deadlines it slept
		// through: the next one is in the future.
		for !c.NextDue.After(now) {
			c.NextDue = sched.DeadlineAfterMiss(c.NextDue)
		}
	}
	body, _ := json.Marshal(detail)
	r := CheckResult{
		ID:              fmt.Sprintf("%s:missed:%s:%d", e.systemID, c.ConfigurationID, deadline.UnixMilli()),
		ConfigurationID: c.ConfigurationID, Status: health.Unhealthy, Message: msg, Result: body, ExecutedAt: now,
	}
	e.queue = append(e.queue, item{results: []CheckResult{r}})
}

// setMaintenance records whether a maintenance window covers the system (each load: the
// maintenance edges signal the entity). When a window ends, every heartbeat check gets one whole
// period (or cron time) and grace from the end before a missing ping fails it: the job may have
// been stopped for the window.
func (e *entity) setMaintenance(in bool, now time.Time) {
	if !e.heartbeats {
		return
	}
	ended := e.st.InMaintenance && !in
	e.st.InMaintenance = in
	if !ended {
		return
	}
	for i := range e.st.Checks {
		c := &e.st.Checks[i]
		if !e.isHeartbeat(*c) {
			continue
		}
		sched, err := heartbeatSchedule(*c)
		if err != nil {
			continue
		}
		if d := sched.DeadlineAfterPing(now); d.After(c.NextDue) {
			c.NextDue = d
		}
	}
}

// The SystemHealth entity's own cadence and probes: the path for checks with a location, for
// remote probes and while no probe session can run (session.go has the sessions).

package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

// firstDue is when a check first runs: one interval after its last run, or — for a check that
// never ran — at a point inside its first interval chosen by a hash of the system id and the
// interval. Different systems spread over the interval, so that many systems do not all fire
// at once, while the checks of one system with the same interval fall due together and are
// probed and persisted as one batch.
func firstDue(systemID string, intervalSeconds int, lastRun *time.Time, now time.Time) time.Time {
	interval := time.Duration(intervalSeconds) * time.Second
	if lastRun != nil {
		due := lastRun.Add(interval)
		if due.Before(now) {
			return now
		}
		return due
	}
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s\x00%d", systemID, intervalSeconds)
	offset := time.Duration(h.Sum64()%uint64(interval.Milliseconds()+1)) * time.Millisecond
	return now.Add(offset)
}

// untilNextDue returns the wait until the earliest check that can start; false when none can.
func (e *entity) untilNextDue(ctx workflow.Context) (time.Duration, bool) {
	if e.probesInFlight >= e.maxConcurrentProbes() || e.backlogFull() {
		return 0, false
	}
	var earliest time.Time
	now := workflow.Now(ctx)
	for _, c := range e.st.Checks {
		if c.Paused || c.InFlight > 0 || e.ownedBySession(c.ConfigurationID) || e.sessionWillTake(c, now) {
			continue
		}
		if earliest.IsZero() || c.NextDue.Before(earliest) {
			earliest = c.NextDue
		}
	}
	if earliest.IsZero() {
		return 0, false
	}
	wait := earliest.Sub(workflow.Now(ctx))
	if wait < time.Millisecond {
		wait = time.Millisecond
	}
	return wait, true
}

// startDueProbes probes every check that is due, not paused and not already being probed,
// within the concurrency bound: the due checks of one location go out as one batch, and the
// batch's results are processed as one step when they return.
func (e *entity) startDueProbes(ctx workflow.Context) {
	if e.backlogFull() {
		return
	}
	now := workflow.Now(ctx)
	var order []string
	batches := map[string][]ProbeItem{} // by location; order keeps it deterministic
	for i := range e.st.Checks {
		c := &e.st.Checks[i]
		if c.Paused || c.InFlight > 0 || c.NextDue.After(now) || e.ownedBySession(c.ConfigurationID) || e.sessionWillTake(*c, now) {
			continue
		}
		if e.isHeartbeat(*c) {
			e.missedPing(ctx, c, now)
			continue
		}
		locations := c.Locations
		if len(locations) == 0 {
			locations = []string{""}
		}
		if e.probesInFlight+len(locations) > e.maxConcurrentProbes() && e.probesInFlight > 0 {
			break
		}
		due := c.NextDue
		c.NextDue = now.Add(time.Duration(c.IntervalSeconds) * time.Second)
		if e.quorumApplies(*c) {
			e.startQuorumProbe(ctx, c, due)
			continue
		}
		for _, loc := range locations {
			e.st.ProbeSeq++
			if _, ok := batches[loc]; !ok {
				order = append(order, loc)
			}
			batches[loc] = append(batches[loc], ProbeItem{ResultID: e.probeResultID(), DueAt: due, Assignment: c.Assignment})
			c.InFlight++
			e.probesInFlight++
		}
	}
	for _, loc := range order {
		items := batches[loc]
		workflow.Go(ctx, func(ctx workflow.Context) {
			res := e.probe(ctx, loc, items)
			for _, it := range items {
				e.probesInFlight--
				if j := e.findCheck(it.Assignment.ConfigurationID); j >= 0 && e.st.Checks[j].InFlight > 0 {
					e.st.Checks[j].InFlight--
				}
			}
			e.queue = append(e.queue, item{results: res})
		})
	}
}

// probe runs a probe batch — as a local activity for the default location unless RemoteProbes,
// else as an activity on the location's probe task queue — and turns an infrastructure failure
// into unhealthy results (the reference's catastrophic path): every item yields one result.
func (e *entity) probe(ctx workflow.Context, location string, items []ProbeItem) []CheckResult {
	var timeout time.Duration
	for _, it := range items {
		timeout = max(timeout, probeTimeout(it.Assignment.Config))
	}
	req := ProbeRequest{SystemID: e.systemID, SystemName: e.st.SystemName, Location: location, Probes: items}
	retry := &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3}
	var fut workflow.Future
	if location == "" && !e.opts.RemoteProbes {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: timeout + 10*time.Second, RetryPolicy: retry,
		})
		fut = workflow.ExecuteLocalActivity(lctx, ActivityProbe, req)
	} else {
		queue := e.probeTaskQueue()
		if location != "" {
			queue += "-" + location
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:              queue,
			StartToCloseTimeout:    timeout + 10*time.Second,
			ScheduleToCloseTimeout: 3*(timeout+10*time.Second) + time.Minute,
			RetryPolicy:            retry,
			Summary:                fmt.Sprintf("%d check(s)", len(items)),
		})
		fut = workflow.ExecuteActivity(actx, ActivityProbe, req)
	}
	var res []CheckResult
	err := fut.Get(ctx, &res)
	if err == nil && len(res) != len(items) {
		err = fmt.Errorf("probe returned %d results for %d checks", len(res), len(items))
	}
	out := make([]CheckResult, len(items))
	for i, it := range items {
		if err != nil {
			msg := "probe failed: " + rootMessage(err)
			body, _ := json.Marshal(map[string]string{"error": msg})
			out[i] = CheckResult{Status: health.Unhealthy, Message: msg, Result: body, ExecutedAt: workflow.Now(ctx)}
			if location != "" {
				loc := location
				out[i].SourceID, out[i].SourceLabel = &loc, &loc
			}
		} else {
			out[i] = res[i]
		}
		out[i].ID, out[i].ConfigurationID = it.ResultID, it.Assignment.ConfigurationID
	}
	return out
}

func rootMessage(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// ProbeTimeout is the timeout of a check's probe, read from its config by the rule the executor
// enforces it with (health.ProbeTimeout).
func ProbeTimeout(config json.RawMessage) time.Duration { return health.ProbeTimeout(config) }

func probeTimeout(config json.RawMessage) time.Duration { return health.ProbeTimeout(config) }

// maxConcurrentProbes is EntityOptions.MaxConcurrentProbes or its default (resolved here, not
// carried through continue-as-new).
func (e *entity) maxConcurrentProbes() int {
	if e.opts.MaxConcurrentProbes > 0 {
		return e.opts.MaxConcurrentProbes
	}
	return defaultMaxConcurrentProbes
}

// probeTaskQueue is EntityOptions.ProbeTaskQueue or ProbeTaskQueue.
func (e *entity) probeTaskQueue() string {
	if e.opts.ProbeTaskQueue != "" {
		return e.opts.ProbeTaskQueue
	}
	return ProbeTaskQueue
}

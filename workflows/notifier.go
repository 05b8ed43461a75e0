package workflows

import (
	"errors"
	"sort"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

// Notifier defaults.
const (
	defaultGiveUpAfter      = 24 * time.Hour
	defaultMaxRetryInterval = 10 * time.Minute
	defaultNotifierIdle     = 10 * time.Minute
	// deliverAttemptTimeout bounds one attempt (channels time out their requests after 10 s);
	// an attempt lost with a crashed worker is retried after it.
	deliverAttemptTimeout = 20 * time.Second
)

// notifier is the SystemNotifier workflow's state. It runs on the workflow's single-threaded
// dispatcher: inputs are handled one at a time, in arrival order; deliveries run in one lane per
// channel, each lane sending its deliveries one after another (so a receiver sees a system's
// escalation before its recovery, even across retries).
type notifier struct {
	systemID string
	opts     NotifierOptions
	st       NotifierState
	lanes    map[string]*lane
	running  int
	// wake is signalled by a lane that finished.
	wake   workflow.Channel
	logger log.Logger
}

type lane struct {
	queue   []PlannedDelivery
	running bool
}

// SystemNotifier decides and delivers the notifications of one system (workflow id
// notify/<systemId>). It is started by signal-with-start: transitions and failed runs from the
// outbox dispatcher, window starts and ends from maintenance workflows. It keeps the reminder
// timers of a system that stays down, and ends after IdleTimeout with nothing to do.
func SystemNotifier(ctx workflow.Context, in NotifierInput) error {
	n := &notifier{systemID: in.SystemID, opts: in.Options, lanes: map[string]*lane{}, logger: workflow.GetLogger(ctx)}
	if n.opts.GiveUpAfter <= 0 {
		n.opts.GiveUpAfter = defaultGiveUpAfter
	}
	if n.opts.MaxRetryInterval <= 0 {
		n.opts.MaxRetryInterval = defaultMaxRetryInterval
	}
	if n.opts.IdleTimeout <= 0 {
		n.opts.IdleTimeout = defaultNotifierIdle
	}
	if in.State != nil {
		n.st = *in.State
	}
	n.wake = workflow.NewBufferedChannel(ctx, 1)
	transitions := workflow.GetSignalChannel(ctx, SignalNotifyTransition)
	checkFailed := workflow.GetSignalChannel(ctx, SignalNotifyCheckFailed)
	maintenance := workflow.GetSignalChannel(ctx, SignalNotifyMaintenance)
	flapping := workflow.GetSignalChannel(ctx, SignalNotifyFlapping)
	receive := func(sel workflow.Selector) {
		sel.AddReceive(transitions, func(c workflow.ReceiveChannel, _ bool) {
			var t NotifyTransition
			c.Receive(ctx, &t)
			n.st.Queue = append(n.st.Queue, NotifyInput{Transition: &t})
		})
		sel.AddReceive(checkFailed, func(c workflow.ReceiveChannel, _ bool) {
			var f NotifyCheckFailed
			c.Receive(ctx, &f)
			n.st.Queue = append(n.st.Queue, NotifyInput{CheckFailed: &f})
		})
		sel.AddReceive(maintenance, func(c workflow.ReceiveChannel, _ bool) {
			var m NotifyMaintenance
			c.Receive(ctx, &m)
			n.st.Queue = append(n.st.Queue, NotifyInput{Maintenance: &m})
		})
		// Flapping (issue 13): histories recorded before it never carry this signal, so they
		// replay unchanged (the new paths run only once a flapping signal arrived).
		sel.AddReceive(flapping, func(c workflow.ReceiveChannel, _ bool) {
			var f NotifyFlapping
			c.Receive(ctx, &f)
			n.st.Queue = append(n.st.Queue, NotifyInput{Flapping: &f})
		})
	}
	// drain moves every signal already received into the queue.
	drain := func() bool {
		before := len(n.st.Queue)
		for {
			sel := workflow.NewSelector(ctx)
			receive(sel)
			if !sel.HasPending() {
				break
			}
			sel.Select(ctx)
		}
		return len(n.st.Queue) > before
	}

	for {
		drain()
		for len(n.st.Queue) > 0 {
			next := n.st.Queue[0]
			n.st.Queue = n.st.Queue[1:]
			n.handle(ctx, next)
		}
		n.remind(ctx)
		if len(n.st.Queue) > 0 {
			continue
		}
		if n.running == 0 && workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			drain()
			st := n.st
			return workflow.NewContinueAsNewError(ctx, NotifierWorkflow, NotifierInput{SystemID: n.systemID, Options: in.Options, State: &st})
		}
		// A flapping system's notifier stays (its stop is notified with what it remembers).
		idle := n.running == 0 && len(n.st.Reminders) == 0 && !n.st.Flapping
		wait := n.opts.IdleTimeout
		if !idle {
			wait = 0
			if at, ok := n.nextReminder(); ok {
				wait = max(at.Sub(workflow.Now(ctx)), time.Millisecond)
			}
		}
		timedOut := false
		tctx, cancel := workflow.WithCancel(ctx)
		sel := workflow.NewSelector(ctx)
		receive(sel)
		// A lane that finishes wakes the loop: the notifier may now be idle or continue as new.
		sel.AddReceive(n.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
		if wait > 0 {
			sel.AddFuture(workflow.NewTimer(tctx, wait), func(workflow.Future) { timedOut = true })
		}
		sel.Select(ctx)
		cancel()
		if timedOut && idle && !drain() {
			return nil
		}
	}
}

// handle processes one input.
func (n *notifier) handle(ctx workflow.Context, in NotifyInput) {
	switch {
	case in.Transition != nil:
		n.handleTransition(ctx, *in.Transition)
	case in.CheckFailed != nil:
		var plan PlanResponse
		n.local(ctx, ActivityPlanCheckFailed, PlanCheckFailedRequest{SystemID: n.systemID, CheckFailed: *in.CheckFailed}, &plan)
		n.enqueue(ctx, plan.Deliveries)
	case in.Maintenance != nil:
		n.handleMaintenance(ctx, *in.Maintenance)
	case in.Flapping != nil:
		n.handleFlapping(ctx, *in.Flapping)
	}
}

// handleFlapping replaces a flapping system's transition notifications by one notification
// when it starts flapping and one, with its status then, when it stops.
func (n *notifier) handleFlapping(ctx workflow.Context, f NotifyFlapping) {
	if f.Seq <= n.st.FlapSeq || f.Started == n.st.Flapping {
		return // handed over twice, or no change
	}
	n.st.FlapSeq, n.st.Flapping = f.Seq, f.Started
	if f.Started {
		n.st.Reminders = nil
	}
	var plan PlanResponse
	n.local(ctx, ActivityPlanFlapping, PlanFlappingRequest{SystemID: n.systemID, Flapping: f}, &plan)
	n.enqueue(ctx, plan.Deliveries)
	if f.Started {
		return
	}
	n.st.Status = f.Status
	if f.Status == health.Healthy {
		n.st.DownSince, n.st.DownSeq, n.st.Reminders = nil, 0, nil
		return
	}
	if plan.InMaintenance {
		return
	}
	// Settled in a bad status: remind as after a transition.
	now := workflow.Now(ctx)
	if n.st.DownSince == nil {
		n.st.DownSince = &now
	}
	n.setReminders(now, plan.Reminders)
}

func (n *notifier) handleTransition(ctx workflow.Context, t NotifyTransition) {
	if t.Seq <= n.st.LastSeq {
		return // handed over twice (the outbox dispatcher delivers at least once)
	}
	n.st.LastSeq = t.Seq
	n.st.Status = t.To
	if t.To == health.Healthy {
		n.st.DownSince, n.st.DownSeq, n.st.Reminders = nil, 0, nil
	} else if t.From == health.Healthy || n.st.DownSince == nil {
		at := t.At
		n.st.DownSince, n.st.DownSeq, n.st.Reminders = &at, t.Seq, nil
	}
	if n.st.Flapping {
		// Flapping: the start and stop notifications stand for the transitions in between.
		n.st.Reminders = nil
		return
	}
	var plan PlanResponse
	n.local(ctx, ActivityPlanTransition, PlanTransitionRequest{SystemID: n.systemID, Transition: t}, &plan)
	n.enqueue(ctx, plan.Deliveries)
	n.st.InMaintenance = plan.InMaintenance
	if plan.InMaintenance || t.To == health.Healthy {
		n.st.Reminders = nil
		return
	}
	n.setReminders(workflow.Now(ctx), plan.Reminders)
}

func (n *notifier) handleMaintenance(ctx workflow.Context, m NotifyMaintenance) {
	if m.Started {
		// Quiet from now on: no reminders while the window lasts.
		n.st.InMaintenance, n.st.Reminders = true, nil
		return
	}
	var plan PlanResponse
	n.local(ctx, ActivityPlanMaintenanceEnd, PlanMaintenanceEndRequest{SystemID: n.systemID, WindowID: m.WindowID, At: workflow.Now(ctx)}, &plan)
	n.enqueue(ctx, plan.Deliveries)
	n.st.InMaintenance = plan.InMaintenance
	if plan.InMaintenance || plan.Status == "" {
		return
	}
	n.st.Status = plan.Status
	if plan.Status == health.Healthy {
		n.st.DownSince, n.st.DownSeq, n.st.Reminders = nil, 0, nil
		return
	}
	now := workflow.Now(ctx)
	if n.st.DownSince == nil {
		n.st.DownSince = &now
	}
	n.setReminders(now, plan.Reminders)
}

// setReminders starts the cadence of channels that remind and are not reminding yet; channels
// already reminding keep their schedule with the current interval.
func (n *notifier) setReminders(now time.Time, chans []ReminderChannel) {
	for _, c := range chans {
		if c.EverySeconds <= 0 {
			continue
		}
		every := time.Duration(c.EverySeconds) * time.Second
		found := false
		for i := range n.st.Reminders {
			if n.st.Reminders[i].ChannelID == c.ChannelID {
				n.st.Reminders[i].EverySeconds = c.EverySeconds
				found = true
			}
		}
		if !found {
			n.st.Reminders = append(n.st.Reminders, Reminder{ChannelID: c.ChannelID, EverySeconds: c.EverySeconds, NextAt: now.Add(every)})
		}
	}
	sort.Slice(n.st.Reminders, func(i, j int) bool { return n.st.Reminders[i].ChannelID < n.st.Reminders[j].ChannelID })
}

func (n *notifier) nextReminder() (time.Time, bool) {
	var at time.Time
	for i, r := range n.st.Reminders {
		if i == 0 || r.NextAt.Before(at) {
			at = r.NextAt
		}
	}
	return at, len(n.st.Reminders) > 0
}

// remind plans the reminders that are due.
func (n *notifier) remind(ctx workflow.Context) {
	if len(n.st.Reminders) == 0 {
		return
	}
	if n.st.InMaintenance || n.st.Flapping || n.st.Status == health.Healthy || n.st.DownSince == nil {
		n.st.Reminders = nil
		return
	}
	now := workflow.Now(ctx)
	var due []DueReminder
	for i := range n.st.Reminders {
		if r := &n.st.Reminders[i]; !r.NextAt.After(now) {
			r.Count++
			due = append(due, DueReminder{ChannelID: r.ChannelID, Count: r.Count})
		}
	}
	if len(due) == 0 {
		return
	}
	var plan PlanResponse
	n.local(ctx, ActivityPlanReminders, PlanRemindersRequest{SystemID: n.systemID, Status: n.st.Status,
		DownSince: *n.st.DownSince, DownSeq: n.st.DownSeq, At: now, Due: due}, &plan)
	n.enqueue(ctx, plan.Deliveries)
	if plan.InMaintenance {
		// A window started and its signal is on the way: quiet until it ends.
		n.st.InMaintenance, n.st.Reminders = true, nil
		return
	}
	every := map[string]int{}
	for _, c := range plan.Reminders {
		every[c.ChannelID] = c.EverySeconds
	}
	kept := n.st.Reminders[:0]
	for _, r := range n.st.Reminders {
		if r.NextAt.After(now) {
			kept = append(kept, r)
			continue
		}
		e, ok := every[r.ChannelID]
		if !ok || e <= 0 {
			continue // the channel stopped reminding (deleted, disabled, unsubscribed)
		}
		r.EverySeconds = e
		// Keep the cadence; after a long pause (a worker outage) start again from now.
		r.NextAt = r.NextAt.Add(time.Duration(e) * time.Second)
		if !r.NextAt.After(now) {
			r.NextAt = now.Add(time.Duration(e) * time.Second)
		}
		kept = append(kept, r)
	}
	n.st.Reminders = kept
}

// enqueue hands deliveries to their channel's lane, starting the lane when it is idle.
func (n *notifier) enqueue(ctx workflow.Context, ds []PlannedDelivery) {
	for _, d := range ds {
		l := n.lanes[d.ChannelID]
		if l == nil {
			l = &lane{}
			n.lanes[d.ChannelID] = l
		}
		l.queue = append(l.queue, d)
		if l.running {
			continue
		}
		l.running = true
		n.running++
		workflow.Go(ctx, func(ctx workflow.Context) {
			for len(l.queue) > 0 {
				n.deliver(ctx, l.queue[0])
				l.queue = l.queue[1:]
			}
			l.running = false
			n.running--
			n.wake.SendAsync(true)
		})
	}
}

// deliver sends one delivery with retries (backoff from 1 s, capped at MaxRetryInterval, for at
// most GiveUpAfter); a delivery given up is recorded as failed.
func (n *notifier) deliver(ctx workflow.Context, d PlannedDelivery) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    deliverAttemptTimeout,
		ScheduleToCloseTimeout: n.opts.GiveUpAfter,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        n.opts.MaxRetryInterval,
			NonRetryableErrorTypes: []string{ErrTypeDeliveryRejected},
		},
	})
	err := workflow.ExecuteActivity(actx, ActivityDeliver, DeliverRequest{DeliveryID: d.ID}).Get(ctx, nil)
	if err == nil {
		return
	}
	// Given up: the receiver refused it, or the retries ran out (the last attempt's error, or a
	// timeout).
	reason := "gave up: " + err.Error()
	var appErr *temporal.ApplicationError
	var timeoutErr *temporal.TimeoutError
	switch {
	case errors.As(err, &appErr) && (appErr.NonRetryable() || appErr.Type() == ErrTypeDeliveryRejected):
		reason = appErr.Message()
	case errors.As(err, &appErr):
		reason = "gave up: " + appErr.Message()
	case errors.As(err, &timeoutErr):
		reason = "gave up after " + n.opts.GiveUpAfter.String()
	}
	n.local(ctx, ActivityFailDelivery, FailDeliveryRequest{DeliveryID: d.ID, Reason: reason}, nil)
}

// local runs a database activity of the notifier until it succeeds: PostgreSQL being away
// delays notifications, it never drops them.
func (n *notifier) local(ctx workflow.Context, name string, req, resp any) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	if err := workflow.ExecuteLocalActivity(lctx, name, req).Get(ctx, resp); err != nil {
		// Only a cancelled workflow gets here (the retry policy has no limit).
		n.logger.Error("notifier activity failed", "activity", name, "systemId", n.systemID, "error", err)
	}
}

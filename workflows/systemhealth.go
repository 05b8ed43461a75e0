package workflows

import (
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Search attributes the entity keeps up to date (design.md §3).
var (
	saSystemID      = temporal.NewSearchAttributeKeyKeyword("CheckflowSystemId")
	saHealth        = temporal.NewSearchAttributeKeyKeyword("CheckflowHealth")
	saFailingChecks = temporal.NewSearchAttributeKeyInt64("CheckflowFailingChecks")
)

const (
	defaultMaxConcurrentProbes = 16
	// seenRing bounds the recently processed result ids carried for deduplication.
	seenRing = 2048
)

// item is one entry of the entity's FIFO queue.
type item struct {
	config bool
	// results are processed as one step (a probe batch: the checks of one system due together).
	results []CheckResult
	// waiter is set for run-check updates: the handler waits for the outcome.
	waiter *outcome
	// session is set when a probe session ended; lost names a session its worker lost.
	session *sessionEnd
	lost    string
}

type outcome struct {
	ready bool
	resp  RunCheckResponse
	err   error
}

// entity is the SystemHealth workflow's state and logic. All of it runs on the workflow's
// single-threaded dispatcher: there is never more than one item being processed.
type entity struct {
	systemID string
	opts     EntityOptions
	st       EntityState
	queue    []item
	seen     map[string]bool
	// inFlight counts probes and dispatches started but not yet returned.
	probesInFlight    int
	dispatchInFlight  int
	dispatchAgain     bool
	lastDispatch      time.Time
	finished          bool
	lastHealth        string
	lastFailing       int64
	searchAttrsLoaded bool
	logger            log.Logger
	// durable is true from version 1 of changePersistUntilStored on: writes and loads are
	// retried until PostgreSQL accepts them, and the entity keeps probing meanwhile.
	durable bool
	// storageDownSince is when the current run of failed writes or loads began (zero: none).
	storageDownSince time.Time
	// timer is the cadence timer of durable entities (see awaitDueOr).
	timer *cadenceTimer
	// sessions is true from version 1 of changeProbeSessions on (unless the options turn them
	// off): local checks are probed by probe sessions. session is the running one.
	sessions       bool
	session        *activeSession
	sessionRetryAt time.Time
	// signalsInLoop is true from version 1 of changeSignalsInLoop on: the loop reads the signal
	// channels itself (messages.go).
	signalsInLoop bool
	// flaps is true from version 1 of changeFlapDetection on (flap.go).
	flaps bool
	// longSessions is true from version 1 of changeSessionRuns on (session.go).
	longSessions bool
	// heartbeats is true from version 1 of changeHeartbeat on (heartbeat.go).
	heartbeats bool
	// quorum is true from version 1 of changeQuorum on (quorum.go).
	quorum bool
	// boundedHistory is true from version 1 of changeBoundedHistory on.
	boundedHistory bool
	// resumableSessions is true from version 1 of changeSessionResume on (session.go).
	resumableSessions            bool
	resultsCh, configsCh, lostCh workflow.ReceiveChannel
	// pingsCh carries batches of heartbeat pings (changeHeartbeat; nil before).
	pingsCh workflow.ReceiveChannel
}

// SystemHealth is the per-system entity workflow (id system-health/<systemId>). It owns its
// checks' cadence, receives their results (probes, check-result signals, run-check updates),
// and processes every input through one FIFO loop: snapshot → apply → persist → diff → emit.
func SystemHealth(ctx workflow.Context, in SystemHealthInput) error {
	e := &entity{systemID: in.SystemID, opts: in.Options, seen: map[string]bool{}, logger: log.With(workflow.GetLogger(ctx), "systemId", in.SystemID)}
	e.durable = workflow.GetVersion(ctx, changePersistUntilStored, workflow.DefaultVersion, 1) >= 1
	if e.durable {
		e.sessions = workflow.GetVersion(ctx, changeProbeSessions, workflow.DefaultVersion, 1) >= 1 && !in.Options.NoProbeSessions
		e.signalsInLoop = workflow.GetVersion(ctx, changeSignalsInLoop, workflow.DefaultVersion, 1) >= 1
		e.flaps = workflow.GetVersion(ctx, changeFlapDetection, workflow.DefaultVersion, 1) >= 1
		if e.sessions {
			e.longSessions = workflow.GetVersion(ctx, changeSessionRuns, workflow.DefaultVersion, 1) >= 1
		}
		e.heartbeats = workflow.GetVersion(ctx, changeHeartbeat, workflow.DefaultVersion, 1) >= 1
		e.quorum = workflow.GetVersion(ctx, changeQuorum, workflow.DefaultVersion, 1) >= 1
		e.boundedHistory = workflow.GetVersion(ctx, changeBoundedHistory, workflow.DefaultVersion, 1) >= 1
		if e.sessions {
			e.resumableSessions = workflow.GetVersion(ctx, changeSessionResume, workflow.DefaultVersion, 1) >= 1
		}
	}
	if e.durable && in.State == nil {
		// A new lifetime of the entity numbers its probes afresh: the epoch keeps their run ids
		// apart from the runs of earlier lifetimes already stored.
		e.st.ProbeEpoch = probeEpoch(workflow.GetInfo(ctx).WorkflowExecution.RunID)
	}
	// Handlers first: an update that arrives while the first load blocks (a run-now that started
	// the entity) waits in the queue instead of being rejected as unknown. Registering produces
	// no command, so histories recorded with the older order replay unchanged.
	if err := e.registerHandlers(ctx); err != nil {
		return err
	}
	if in.State != nil {
		e.st = *in.State
		for _, id := range e.st.Seen {
			e.seen[id] = true
		}
		for i := range e.st.Checks {
			e.st.Checks[i].InFlight = 0 // probes of the previous run are not carried
		}
		for _, r := range e.st.Pending {
			e.queue = append(e.queue, item{results: []CheckResult{r}})
		}
		e.st.Pending = nil
	} else if err := e.loadInitial(ctx); err != nil {
		return err
	}
	e.afterApply(ctx)
	if len(e.st.Checks) == 0 {
		if e.st.View != nil {
			// A view left behind (its checks went away while no entity ran): clear it, without
			// trigger events (a tombstone).
			e.st.Seq++
			if _, err := e.persistItem(ctx, PersistRequest{SystemID: e.systemID, Seq: e.st.Seq, At: workflow.Now(ctx)}); err != nil {
				e.logger.Error("clearing the view failed", "error", err)
			}
		}
		e.logger.Info("system has no enabled checks; entity ends")
		return nil
	}

	for {
		if e.signalsInLoop {
			e.receiveSignals(ctx)
		}
		if len(e.queue) > 0 {
			it := e.queue[0]
			e.queue = e.queue[1:]
			e.process(ctx, it)
			continue
		}
		if e.finished && e.probesInFlight == 0 && e.dispatchInFlight == 0 && e.session == nil && workflow.AllHandlersFinished(ctx) {
			e.receiveSignals(ctx)
			if len(e.queue) == 0 {
				e.logger.Info("system has no enabled checks any more; entity ends")
				return nil
			}
			continue
		}
		if e.continueAsNewDue(ctx) {
			return e.continueAsNew(ctx)
		}
		if !e.finished {
			e.maybeStartSession(ctx)
			e.startDueProbes(ctx)
		}
		wake := func() bool {
			return len(e.queue) > 0 || e.signalsPending() || (e.finished && e.probesInFlight == 0 && e.dispatchInFlight == 0 && e.session == nil)
		}
		if e.durable {
			if err := e.awaitDueOr(ctx, wake); err != nil {
				return err
			}
		} else if wait, ok := e.untilNextDue(ctx); ok && !e.finished {
			if _, err := workflow.AwaitWithTimeout(ctx, wait, wake); err != nil {
				return err
			}
		} else if err := workflow.Await(ctx, wake); err != nil {
			return err
		}
	}
}

func (e *entity) snapshot() EntityState {
	s := e.st
	s.Checks = append([]CheckState(nil), e.st.Checks...)
	s.Seen = append([]string(nil), e.st.Seen...)
	s.Session = ""
	if e.session != nil && !e.session.lost {
		s.Session = e.session.id
	}
	for _, it := range e.queue {
		if !it.config && it.waiter == nil {
			s.Pending = append(s.Pending, it.results...)
		}
	}
	return s
}

// defaultContinueAsNewAfterEvents is the entity's history bound without
// EntityOptions.ContinueAsNewAfterEvents (changeBoundedHistory).
const defaultContinueAsNewAfterEvents = 1000

func (e *entity) continueAsNewDue(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	if info.GetContinueAsNewSuggested() {
		return true
	}
	limit := e.historyBound()
	return limit > 0 && info.GetCurrentHistoryLength() >= limit
}

// historyBound is the history length past which the entity continues as new (0: only when
// Temporal suggests it).
func (e *entity) historyBound() int {
	if e.opts.ContinueAsNewAfterEvents > 0 {
		return e.opts.ContinueAsNewAfterEvents
	}
	if e.boundedHistory {
		return defaultContinueAsNewAfterEvents
	}
	return 0
}

// continueAsNew finishes everything in flight — probes return and are processed, updates are
// answered, dispatches complete, delivered signals are received — and then continues as new
// with the whole state, so that nothing is lost or processed twice across the boundary.
func (e *entity) continueAsNew(ctx workflow.Context) error {
	e.revokeSession(ctx, "continue-as-new")
	for {
		e.receiveSignals(ctx)
		for len(e.queue) > 0 {
			it := e.queue[0]
			e.queue = e.queue[1:]
			e.process(ctx, it)
		}
		if e.probesInFlight == 0 && e.dispatchInFlight == 0 && e.session == nil && workflow.AllHandlersFinished(ctx) {
			e.receiveSignals(ctx)
			if len(e.queue) == 0 {
				break
			}
			continue
		}
		if err := workflow.Await(ctx, func() bool {
			return len(e.queue) > 0 || e.signalsPending() || (e.probesInFlight == 0 && e.dispatchInFlight == 0 && e.session == nil && workflow.AllHandlersFinished(ctx))
		}); err != nil {
			return err
		}
	}
	state := e.snapshot()
	return workflow.NewContinueAsNewError(ctx, SystemHealthWorkflow, SystemHealthInput{SystemID: e.systemID, State: &state, Options: e.opts})
}

package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// Defaults of probe sessions.
const (
	// SessionDispatchEvery is how often a session hands its runs' hooks to the consumers.
	SessionDispatchEvery = 30 * time.Second
	// sessionExpirySlack is added to a session's next due write for its expiry.
	sessionExpirySlack = 30 * time.Second
	// listenRetryMax bounds the wait before the session listener reconnects.
	listenRetryMax = 30 * time.Second
	// listenWait bounds how long a session waits for its worker's listener before it claims.
	listenWait = 5 * time.Second
	// commitWithin bounds how long after its probe a quiet run's commit starts (its write may
	// wait for others to share a group commit, and for the session's write before it).
	commitWithin = 40 * time.Millisecond
	// SessionHandoverGrace: the sessions that ended because their worker was stopping are
	// handed over once the worker's stop reported their ends to their entities (which start new
	// sessions); Watch reports one lost only if it is still the system's session this long after
	// it was handed over and after Watch started.
	SessionHandoverGrace = 30 * time.Second
)

// Sessions runs probe sessions (workflows.ActivityProbeSession): for one system at a time per
// session, it keeps the cadence of the entity's local checks with the worker's clock, probes
// them with the Prober, stores its quiet batches itself (with a SessionFence, through Commits
// or else store.Persist; a write never holds up the next probe) and ends — handing its runs to
// the entity — on a run that may change a status, when the entity revokes it, or after
// MaxRuns/MaxDuration. No heartbeat is recorded (each one is a billable
// action): a session lost with a crashed worker is noticed by its StartToClose timeout.
//
// A worker killed outright (its sessions die with it) is noticed sooner by Watch in the workers
// still alive: a session's owner is the backend pid of its worker's listening connection, and a
// session whose owner's backend is gone is reported to its entity (LostSignal). A worker that
// stops gracefully ends its sessions and hands them over (their ends reach the entities, which
// start new sessions): Watch leaves those alone for SessionHandoverGrace, so a restart costs each
// entity one new session, not a lost-session signal, a reload and a second session.
type Sessions struct {
	Prober *Prober
	Entity *Entity
	Logger *slog.Logger
	// LostSignal tells the entity of systemID that its session is lost (Watch).
	LostSignal func(ctx context.Context, systemID, session string) error
	// Commits stores the sessions' quiet batches, many systems' in one transaction (nil: each
	// batch alone, with Entity.Store.Persist).
	Commits *store.GroupCommitter
	// persistWrite, when set, stores the sessions' writes instead (tests).
	persistWrite func(ctx context.Context, in store.PersistInput, by time.Time) (bool, error)

	// owner is the backend pid of this process's listening connection (0: not listening).
	owner atomic.Uint32
	mu    sync.Mutex
	// listening is closed once the listener first connected.
	listening chan struct{}
	active    map[string]*runningSession // by system id
	// stoppedIDs lists the sessions that ended because the worker is stopping.
	stoppedIDs []string
}

// listeningCh returns the channel closed once the listener is connected.
func (s *Sessions) listeningCh() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listening == nil {
		s.listening = make(chan struct{})
	}
	return s.listening
}

// awaitOwner returns this process's owner pid, waiting up to listenWait for the listener's first
// connection (0: not listening; the session can then only be noticed lost by its timeout).
func (s *Sessions) awaitOwner(ctx context.Context) uint32 {
	if o := s.owner.Load(); o != 0 {
		return o
	}
	t := time.NewTimer(listenWait)
	defer t.Stop()
	select {
	case <-s.listeningCh():
	case <-t.C:
	case <-ctx.Done():
	}
	return s.owner.Load()
}

// runningSession is a session in this process; stop ends it at its next wait.
type runningSession struct {
	id   string
	stop chan struct{}
	once sync.Once
}

func (r *runningSession) end() { r.once.Do(func() { close(r.stop) }) }

func (s *Sessions) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Listen ends this process's sessions that the entity revoked or replaced, as announced on
// store.ProbeSessionChannel, until ctx ends (reconnecting when the connection breaks). ready is
// called each time the listener is connected.
func (s *Sessions) Listen(ctx context.Context, ready func()) {
	wait := time.Second
	for ctx.Err() == nil {
		first := s.listeningCh()
		err := s.Entity.Store.ListenProbeSessions(ctx, func(pid uint32) {
			s.owner.Store(pid)
			s.mu.Lock()
			select {
			case <-first:
			default:
				close(first)
			}
			s.mu.Unlock()
			// Sessions claimed under an earlier connection: this one owns them now.
			if err := s.Entity.Store.SetProbeSessionOwner(ctx, s.activeIDs(), pid); err != nil {
				s.logger().Warn("recording the owner of probe sessions failed", "error", err)
			}
			if ready != nil {
				ready()
			}
		}, s.announced)
		s.owner.Store(0)
		if ctx.Err() != nil {
			return
		}
		s.logger().Warn("probe session listener disconnected; sessions end at their next write meanwhile", "error", err, "retryIn", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, listenRetryMax)
	}
}

func (s *Sessions) activeIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.active))
	for _, r := range s.active {
		ids = append(ids, r.id)
	}
	return ids
}

// Watch reports, every period until ctx ends, the probe sessions whose worker is gone to their
// entities (each once): they start new sessions at once instead of waiting for the lost
// session's timeout.
func (s *Sessions) Watch(ctx context.Context, every time.Duration) {
	started := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lost, err := s.Entity.Store.TakeOrphanedProbeSessions(ctx, 1000, time.Since(started) >= SessionHandoverGrace)
		if err != nil {
			if ctx.Err() == nil {
				s.logger().Warn("looking for probe sessions of stopped workers failed", "error", err)
			}
			continue
		}
		told := 0
		for _, o := range lost {
			if err := s.LostSignal(ctx, o.SystemID, o.Session); err != nil {
				// No entity to tell (it ended): nothing runs the session any more.
				s.logger().Debug("telling an entity its probe session is lost failed", "systemId", o.SystemID, "error", err)
				if _, err := s.Entity.Store.RevokeProbeSession(ctx, o.SystemID, o.Session); err != nil {
					s.logger().Warn("clearing a lost probe session failed", "systemId", o.SystemID, "error", err)
				}
				continue
			}
			told++
		}
		if len(lost) > 0 {
			s.logger().Info("probe sessions of a stopped worker handed back to their entities", "sessions", len(lost), "told", told)
		}
	}
}

func (s *Sessions) announced(systemID, current string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.active[systemID]; r != nil && r.id != current {
		r.end()
	}
}

func (s *Sessions) register(systemID, id string) *runningSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		s.active = map[string]*runningSession{}
	}
	if old := s.active[systemID]; old != nil {
		old.end() // replaced: the claim fenced it already
	}
	r := &runningSession{id: id, stop: make(chan struct{})}
	s.active[systemID] = r
	return r
}

func (s *Sessions) unregister(systemID string, r *runningSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[systemID] == r {
		delete(s.active, systemID)
	}
}

// RevokeProbeSession fences the system's session and announces it (its worker ends it).
func (s *Sessions) RevokeProbeSession(ctx context.Context, req workflows.RevokeProbeSessionRequest) error {
	if _, err := s.Entity.Store.RevokeProbeSession(ctx, req.SystemID, req.Session); err != nil {
		return fmt.Errorf("revoke probe session of %s: %w", req.SystemID, err)
	}
	return nil
}

// ProbeSessionSuspended is the type of the (retryable) error with which a resumable probe
// session ends when its worker stops: Temporal retries it on the next worker, which resumes it
// (see ProbeSession). Any other error of a session is not retryable: the entity reloads.
const ProbeSessionSuspended = "ProbeSessionSuspended"

// errSuspended: the session stored what it had done for its next attempt (suspend).
var errSuspended = errors.New("probe session suspended: its worker is stopping; the next worker resumes it")

// ProbeSession runs one probe session (see Sessions). A resumable session
// (ProbeSessionRequest.Resumable) that its worker's stop ends stores what it has done so far
// (store.SuspendProbeSession) and fails with a retryable ProbeSessionSuspended error instead of
// reporting: Temporal retries it on the next worker — no workflow task, no new session — and
// that attempt resumes where the last one stopped (the next run ids, the checks' windows and due
// times, the runs stored so far, the deadline) and reports everything when it ends.
func (s *Sessions) ProbeSession(ctx context.Context, req workflows.ProbeSessionRequest) (workflows.ProbeSessionResult, error) {
	return sessionOutcome(s.probeSession(ctx, req, activity.GetInfo(ctx).Attempt))
}

// sessionOutcome is what a session's attempt hands to Temporal: a suspended one a retryable,
// benign ProbeSessionSuspended error; any other failure a non-retryable one.
func sessionOutcome(res workflows.ProbeSessionResult, err error) (workflows.ProbeSessionResult, error) {
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, errSuspended):
		// Benign: the SDK logs it at DEBUG (a restart is not an error) and counts no failure.
		return res, temporal.NewApplicationErrorWithOptions(err.Error(), ProbeSessionSuspended,
			temporal.ApplicationErrorOptions{Category: temporal.ApplicationErrorCategoryBenign})
	default:
		return res, temporal.NewApplicationErrorWithOptions(err.Error(), "ProbeSessionFailed", temporal.ApplicationErrorOptions{NonRetryable: true, Cause: err})
	}
}

// sessionResume is what a suspended attempt of a probe session leaves to the one that resumes it.
type sessionResume struct {
	// Runs is how many probes the session made (its next run id is Runs+1).
	Runs int `json:"runs"`
	// Deadline is when the session stops probing; the resumed attempt moves it on by the time
	// the session was suspended (since SuspendedAt).
	Deadline    time.Time `json:"deadline"`
	SuspendedAt time.Time `json:"suspendedAt"`
	// Checks are the windows and due times of the session's checks.
	Checks []resumeCheck          `json:"checks"`
	Stored []workflows.SessionRun `json:"stored,omitempty"`
}

// resumeCheck is one check's window in a sessionResume (its configuration comes with the
// session's request: nothing secret is stored).
type resumeCheck struct {
	ConfigurationID string          `json:"configurationId"`
	Recent          []health.Status `json:"recent"`
	LastRunAt       *time.Time      `json:"lastRunAt,omitempty"`
	NextDue         time.Time       `json:"nextDue"`
}

// probeSession runs the given attempt (1 …) of a session.
func (s *Sessions) probeSession(ctx context.Context, req workflows.ProbeSessionRequest, attempt int32) (workflows.ProbeSessionResult, error) {
	started := time.Now()
	checks := append([]workflows.SessionCheck(nil), req.Checks...)
	res := workflows.ProbeSessionResult{}
	nextDue := func() []workflows.CheckDue {
		out := make([]workflows.CheckDue, len(checks))
		for i, c := range checks {
			out[i] = workflows.CheckDue{ConfigurationID: c.ConfigurationID, NextDue: c.NextDue}
		}
		return out
	}
	if len(checks) == 0 {
		res.Reason = workflows.SessionEndMaxRuns
		return res, nil
	}
	st := s.Entity.Store
	// The checks' configurations do not change during the session: their timeout is read once.
	timeout := workflows.ProbeTimeout(checks[0].Config)
	runs := 0
	var seq int64
	var deadline time.Time
	if req.Resumable && attempt > 1 {
		// A retry: the attempt before was suspended by its worker's stop (any other failure is
		// not retried). It goes on from what that attempt stored.
		r, err := st.ResumeProbeSession(ctx, req.SystemID, req.Session, expiry(checks, timeout, time.Now()), s.awaitOwner(ctx))
		if err != nil {
			return res, fmt.Errorf("resume probe session: %w", err)
		}
		var was sessionResume
		if r.State == nil {
			return res, fmt.Errorf("probe session %s (attempt %d) has nothing to resume from", req.Session, attempt)
		}
		if err := json.Unmarshal(r.State, &was); err != nil {
			return res, fmt.Errorf("probe session %s: decode what to resume from: %w", req.Session, err)
		}
		for _, w := range was.Checks {
			if i := slices.IndexFunc(checks, func(c workflows.SessionCheck) bool { return c.ConfigurationID == w.ConfigurationID }); i >= 0 {
				checks[i].Recent, checks[i].LastRunAt, checks[i].NextDue = w.Recent, w.LastRunAt, w.NextDue
			}
		}
		runs, res.Stored, seq = was.Runs, was.Stored, r.Seq
		deadline = resumedDeadline(was, time.Now(), activity.GetInfo(ctx).Deadline, timeout)
		if !r.Current {
			// Revoked or replaced while it was suspended: it only reports what it did.
			res.Reason, res.NextDue = workflows.SessionEndFenced, nextDue()
			return res, nil
		}
		s.logger().Debug("probe session resumed", "systemId", req.SystemID, "session", req.Session, "attempt", attempt, "runs", runs)
	} else {
		var ok bool
		var err error
		seq, ok, err = st.ClaimProbeSession(ctx, req.SystemID, req.Session, expiry(checks, timeout, time.Now()), s.awaitOwner(ctx))
		if err != nil {
			return res, fmt.Errorf("claim probe session: %w", err)
		}
		if !ok {
			res.Reason, res.NextDue = workflows.SessionEndNoState, nextDue()
			return res, nil
		}
		// The session's time counts from its first due check (a check due in an hour makes no
		// session that ends before it ran).
		first := checks[0].NextDue
		for _, c := range checks[1:] {
			if c.NextDue.Before(first) {
				first = c.NextDue
			}
		}
		if first.Before(started) {
			first = started
		}
		deadline = first.Add(req.MaxDuration)
	}
	run := s.register(req.SystemID, req.Session)
	defer s.unregister(req.SystemID, run)
	// The checks' collectors are decoded once for the session (those without sealed secrets).
	prepared := make(map[string]*preparedCollectors, len(checks))
	for _, c := range checks {
		if pc := prepareCollectors(c.Assignment); pc != nil {
			prepared[c.ConfigurationID] = pc
		}
	}
	stopping := activity.GetWorkerStopChannel(ctx)
	lastDispatch, undispatched := time.Now(), false
	defer func() {
		if undispatched {
			// Hand this session's last hooks over (a failure leaves them for the next dispatch).
			if err := s.Entity.dispatch(context.WithoutCancel(ctx), req.SystemID, nil); err != nil {
				s.logger().Warn("dispatching a probe session's hooks failed", "systemId", req.SystemID, "error", err)
			}
		}
	}()

	// Quiet batches are stored without holding up the cadence: one write is in flight at a time
	// (while it waits for its group commit the session goes on probing), and the batches probed
	// meanwhile are stored together in the next write once it succeeded — in order, each run
	// once. When a write fails, it and the batches after it are handed back as pending.
	var flight *sessionFlight   // the write being stored
	var buffered *sessionBuffer // quiet batches waiting for the flight
	// land waits for the write in flight and records it as stored; false when it was not (the
	// session ends: its runs, and the buffered ones, are pending).
	land := func() bool {
		f := flight
		if f == nil {
			return true
		}
		flight = nil
		<-f.done
		if f.err != nil {
			res.Pending = append(res.Pending, f.results...)
			if buffered != nil {
				res.Pending, buffered = append(res.Pending, buffered.results...), nil
			}
			if errors.Is(f.err, store.ErrSessionFenced) {
				res.Reason = workflows.SessionEndFenced
			} else {
				s.logger().Warn("a probe session could not store its runs; the entity stores them", "systemId", req.SystemID, "error", f.err)
				res.Reason = workflows.SessionEndStoreError
			}
			return false
		}
		if h := s.Entity.Hooks.Persisted; h != nil {
			h(workflows.PersistRequest{SystemID: req.SystemID, At: f.in.At, Runs: f.results}, true, time.Now())
		}
		for _, r := range f.results {
			res.Stored = append(res.Stored, workflows.SessionRun{ID: r.ID, ConfigurationID: r.ConfigurationID, Status: r.Status, ExecutedAt: r.ExecutedAt})
		}
		undispatched = true
		if time.Since(lastDispatch) >= SessionDispatchEvery {
			if err := s.Entity.dispatch(ctx, req.SystemID, nil); err != nil {
				s.logger().Warn("dispatching a probe session's hooks failed", "systemId", req.SystemID, "error", err)
			} else {
				undispatched = false
			}
			lastDispatch = time.Now()
		}
		return true
	}
	// unstored counts the runs probed and not (yet) stored.
	unstored := func() int {
		n := 0
		if flight != nil {
			n += len(flight.results)
		}
		if buffered != nil {
			n += len(buffered.results)
		}
		return n
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
loop:
	for {
		// The earliest due check; no probe starts after the deadline or MaxRuns.
		earliest := checks[0].NextDue
		for _, c := range checks[1:] {
			if c.NextDue.Before(earliest) {
				earliest = c.NextDue
			}
		}
		full := len(res.Stored)+unstored() >= max(req.MaxRuns, 1)
		if flight == nil && buffered != nil {
			// The session's last write is not held back: the entity waits for the session.
			flight, buffered = s.store(ctx, buffered, full || earliest.After(deadline)), nil
		}
		if flight == nil && (full || earliest.After(deadline)) {
			if full {
				res.Reason = workflows.SessionEndMaxRuns
			} else {
				res.Reason = workflows.SessionEndMaxDuration
			}
			break
		}
		var due <-chan time.Time
		if !full && !earliest.After(deadline) {
			timer.Reset(max(time.Until(earliest), 0))
			due = timer.C
		} else {
			// Ending: only the write in flight is waited for, and it is not held back.
			s.flush()
		}
		var landed chan struct{}
		if flight != nil {
			landed = flight.done
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-stopping:
			res.Reason = workflows.SessionEndStopping
			break loop
		case <-run.stop:
			res.Reason = workflows.SessionEndFenced
			break loop
		case <-landed:
			if !land() {
				break loop
			}
			continue
		case <-due:
		}
		// Probe every due check as one batch (like the entity's batches). A check whose last run
		// is not stored yet (its interval is shorter than a write) waits for it: a run is folded
		// after the one before it, and pending runs hold each check once.
		now := time.Now().UTC()
		if unstoredCheckDue(checks, flight, buffered, now) {
			if !land() {
				break loop
			}
			if buffered != nil {
				flight, buffered = s.store(ctx, buffered, true), nil
				if !land() {
					break loop
				}
			}
			now = time.Now().UTC()
		}
		var items []workflows.ProbeItem
		var idx []int
		for i := range checks {
			c := &checks[i]
			if c.NextDue.After(now) {
				continue
			}
			runs++
			items = append(items, workflows.ProbeItem{ResultID: workflows.SessionRunID(req.SystemID, req.Session, runs), DueAt: c.NextDue, Assignment: c.Assignment})
			idx = append(idx, i)
			c.NextDue = now.Add(time.Duration(c.IntervalSeconds) * time.Second)
		}
		results, err := s.Prober.probe(ctx, workflows.ProbeRequest{SystemID: req.SystemID, SystemName: req.SystemName, Probes: items}, prepared)
		if err != nil {
			// The batch could not run at all: the entity makes its failure results.
			return res, fmt.Errorf("probe session batch: %w", err)
		}
		// Fold into copies: the batch is quiet only if every run is.
		urgent := false
		folded := make([]workflows.SessionCheck, len(idx))
		for j, i := range idx {
			folded[j] = checks[i]
			if workflows.SessionFold(req.SystemID, &folded[j], results[j]) {
				urgent = true
			}
		}
		if urgent {
			// What was probed before it is stored first, or handed back with it, in order.
			if flight != nil {
				s.flush()
			}
			if land() {
				if buffered != nil {
					res.Pending, buffered = append(res.Pending, buffered.results...), nil
				}
				res.Reason = workflows.SessionEndUrgent
			}
			res.Pending = append(res.Pending, results...)
			break loop
		}
		// Quiet: the session's windows go on from it (a write that fails ends the session).
		for j, i := range idx {
			checks[i].Recent, checks[i].LastRunAt = folded[j].Recent, folded[j].LastRunAt
		}
		if buffered == nil {
			buffered = &sessionBuffer{in: store.PersistInput{SystemID: req.SystemID, Seq: max(seq, 1), At: now,
				Session: &store.SessionFence{ID: req.Session}}, since: now}
		}
		b := buffered
		b.in.At, b.in.Session.ExpiresAt = now, expiry(checks, timeout, now)
		b.results = append(b.results, results...)
		for j, r := range results {
			b.in.Runs = append(b.in.Runs, store.RunRecord{ID: r.ID, ConfigurationID: r.ConfigurationID, Status: r.Status,
				LatencyMs: r.LatencyMs, Result: r.Result, Timestamp: r.ExecutedAt})
			b.in.Checks = append(b.in.Checks, store.CheckState{ConfigurationID: r.ConfigurationID, Status: folded[j].Status,
				RunsConsidered: min(len(folded[j].Recent), health.MaxWindowRuns)})
			for _, ev := range workflows.SessionHooks(req.SystemID, r) {
				b.in.Events = append(b.in.Events, store.EventRecord{Type: ev.Type, Discriminator: ev.Discriminator,
					Payload: ev.Payload, Key: r.ID + ":" + ev.Type})
			}
		}
	}
	// Ended early (stopping, revoked, urgent, failed): a write in flight is waited for; what it
	// did not store, and what was not sent, is handed back.
	if flight != nil {
		s.flush()
		land()
	}
	if res.Reason == workflows.SessionEndStopping && req.Resumable && buffered != nil {
		// Suspending: its quiet runs are stored first (what is not stored ends it as before).
		flight, buffered = s.store(ctx, buffered, true), nil
		s.flush()
		land()
	}
	if buffered != nil {
		res.Pending = append(res.Pending, buffered.results...)
	}
	res.NextDue = nextDue()
	if res.Reason == workflows.SessionEndStopping && req.Resumable && len(res.Pending) == 0 {
		if s.suspend(ctx, req, checks, runs, deadline, res.Stored) {
			s.stopped(req.Session)
			s.logger().Debug("probe session suspended", "systemId", req.SystemID, "session", req.Session, "runs", runs)
			return workflows.ProbeSessionResult{}, errSuspended
		}
	}
	if res.Reason == workflows.SessionEndStopping {
		s.stopped(req.Session)
	}
	s.logger().Debug("probe session ended", "systemId", req.SystemID, "session", req.Session, "reason", res.Reason,
		"stored", len(res.Stored), "pending", len(res.Pending), "took", time.Since(started).String())
	return res, nil
}

// resumedDeadline is a resumed session's deadline: the suspended attempt's, moved on by the time
// the session was suspended (it probes as long as it would have), and no later than the
// attempt's own deadline (attemptDeadline, zero: none) allows for a last probe and its report.
func resumedDeadline(was sessionResume, now, attemptDeadline time.Time, probeTimeout time.Duration) time.Time {
	d := was.Deadline
	if !was.SuspendedAt.IsZero() && now.After(was.SuspendedAt) {
		d = d.Add(now.Sub(was.SuspendedAt))
	}
	if !attemptDeadline.IsZero() {
		if latest := attemptDeadline.Add(-probeTimeout - sessionExpirySlack); d.After(latest) {
			d = latest
		}
	}
	return d
}

// suspend stores what the session did for the attempt that resumes it; false when it could not
// (the session was fenced, or PostgreSQL refused): the session then ends and reports as before.
func (s *Sessions) suspend(ctx context.Context, req workflows.ProbeSessionRequest, checks []workflows.SessionCheck, runs int, deadline time.Time, stored []workflows.SessionRun) bool {
	was := sessionResume{Runs: runs, Deadline: deadline, SuspendedAt: time.Now(), Stored: stored, Checks: make([]resumeCheck, len(checks))}
	for i, c := range checks {
		was.Checks[i] = resumeCheck{ConfigurationID: c.ConfigurationID, Recent: c.Recent, LastRunAt: c.LastRunAt, NextDue: c.NextDue}
	}
	state, err := json.Marshal(was)
	if err != nil {
		s.logger().Warn("encoding a probe session to resume failed; it ends instead", "systemId", req.SystemID, "error", err)
		return false
	}
	ok, err := s.Entity.Store.SuspendProbeSession(ctx, req.SystemID, req.Session, state)
	if err != nil {
		s.logger().Warn("suspending a probe session failed; it ends instead", "systemId", req.SystemID, "error", err)
	}
	return ok
}

// stopped records that a session ended because its worker is stopping (see HandOver).
func (s *Sessions) stopped(session string) {
	s.mu.Lock()
	s.stoppedIDs = append(s.stoppedIDs, session)
	s.mu.Unlock()
}

// HandOver hands over the sessions that ended because their worker was stopping (see
// SessionHandoverGrace and store.HandOverProbeSessions). Its worker calls it once the SDK
// reported every activity's end — not when its stop ran out of time: those sessions' ends may
// be lost, and the next Watch reports them lost as a crashed worker's.
// It returns how many sessions it handed over.
func (s *Sessions) HandOver(ctx context.Context) int64 {
	s.mu.Lock()
	ids := s.stoppedIDs
	s.stoppedIDs = nil
	s.mu.Unlock()
	n, err := s.Entity.Store.HandOverProbeSessions(ctx, ids, s.owner.Load(), SessionHandoverGrace)
	if err != nil {
		s.logger().Warn("handing over the probe sessions of a stopping worker failed; they are reported lost to their entities instead", "sessions", len(ids), "error", err)
		return 0
	}
	s.logger().Debug("probe sessions handed over", "sessions", n)
	return n
}

// sessionBuffer is a session's quiet batches probed since its last write was sent: its next
// write (runs, check states and hooks in probe order).
type sessionBuffer struct {
	in      store.PersistInput
	results []workflows.CheckResult
	since   time.Time // the first batch's probe time
}

// sessionFlight is a session's write being stored.
type sessionFlight struct {
	in      store.PersistInput
	results []workflows.CheckResult
	done    chan struct{}
	err     error // set before done is closed
}

// store sends the buffered batches as one write; its commit starts at most commitWithin after
// the first of them was probed, or at once when the session waits for it (now).
func (s *Sessions) store(ctx context.Context, b *sessionBuffer, now bool) *sessionFlight {
	f := &sessionFlight{in: b.in, results: b.results, done: make(chan struct{})}
	by := b.since.Add(commitWithin)
	if now {
		by = time.Now()
	}
	go func() {
		defer close(f.done)
		_, f.err = s.persist(ctx, f.in, by)
	}()
	return f
}

// unstoredCheckDue tells whether a check due at now has a run in the write in flight or the
// buffered batches.
func unstoredCheckDue(checks []workflows.SessionCheck, f *sessionFlight, b *sessionBuffer, now time.Time) bool {
	if f == nil && b == nil {
		return false
	}
	for i := range checks {
		if checks[i].NextDue.After(now) {
			continue
		}
		id := checks[i].ConfigurationID
		if f != nil && slices.ContainsFunc(f.results, func(r workflows.CheckResult) bool { return r.ConfigurationID == id }) ||
			b != nil && slices.ContainsFunc(b.results, func(r workflows.CheckResult) bool { return r.ConfigurationID == id }) {
			return true
		}
	}
	return false
}

// flush has the group commit of the write in flight start at once (the session waits for it).
func (s *Sessions) flush() {
	if s.Commits != nil && s.persistWrite == nil {
		s.Commits.Flush()
	}
}

// persist stores a session's quiet batch; its commit starts by `by` at the latest.
func (s *Sessions) persist(ctx context.Context, in store.PersistInput, by time.Time) (bool, error) {
	if s.persistWrite != nil {
		return s.persistWrite(ctx, in, by)
	}
	if s.Commits != nil {
		return s.Commits.PersistBy(ctx, in, by)
	}
	return s.Entity.Store.Persist(ctx, in)
}

// expiry is when the session's next write is due at the latest: the latest due check plus the
// probe timeout (of the session's first check, see probeTimeout) and some slack.
func expiry(checks []workflows.SessionCheck, probeTimeout time.Duration, now time.Time) time.Time {
	latest := now
	for _, c := range checks {
		if c.NextDue.After(latest) {
			latest = c.NextDue
		}
	}
	return latest.Add(probeTimeout + sessionExpirySlack)
}

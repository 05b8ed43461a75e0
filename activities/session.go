package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"

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
)

// Sessions runs probe sessions (workflows.ActivityProbeSession): for one system at a time per
// session, it keeps the cadence of the entity's local checks with the worker's clock, probes
// them with the Prober, stores each quiet batch itself (store.Persist with a SessionFence) and
// ends — handing its runs to the entity — on a run that may change a status, when the entity
// revokes it, or after MaxRuns/MaxDuration. No heartbeat is recorded (each one is a billable
// action): a session lost with a crashed worker is noticed by its StartToClose timeout.
//
// A worker killed outright (its sessions die with it) is noticed sooner by Watch in the workers
// still alive: a session's owner is the backend pid of its worker's listening connection, and a
// session whose owner's backend is gone is reported to its entity (LostSignal).
type Sessions struct {
	Prober *Prober
	Entity *Entity
	Logger *slog.Logger
	// LostSignal tells the entity of systemID that its session is lost (Watch).
	LostSignal func(ctx context.Context, systemID, session string) error

	// owner is the backend pid of this process's listening connection (0: not listening).
	owner atomic.Uint32
	mu    sync.Mutex
	// listening is closed once the listener first connected.
	listening chan struct{}
	active    map[string]*runningSession // by system id
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
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lost, err := s.Entity.Store.TakeOrphanedProbeSessions(ctx, 1000)
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

// ProbeSession runs one probe session (see Sessions).
func (s *Sessions) ProbeSession(ctx context.Context, req workflows.ProbeSessionRequest) (workflows.ProbeSessionResult, error) {
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
	seq, ok, err := st.ClaimProbeSession(ctx, req.SystemID, req.Session, s.expiry(checks, time.Now()), s.awaitOwner(ctx))
	if err != nil {
		return res, fmt.Errorf("claim probe session: %w", err)
	}
	if !ok {
		res.Reason, res.NextDue = workflows.SessionEndNoState, nextDue()
		return res, nil
	}
	run := s.register(req.SystemID, req.Session)
	defer s.unregister(req.SystemID, run)
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
	deadline := first.Add(req.MaxDuration)
	stopping := activity.GetWorkerStopChannel(ctx)
	runs, lastDispatch, undispatched := 0, time.Now(), false
	defer func() {
		if undispatched {
			// Hand this session's last hooks over (a failure leaves them for the next dispatch).
			if err := s.Entity.dispatch(context.WithoutCancel(ctx), req.SystemID, nil); err != nil {
				s.logger().Warn("dispatching a probe session's hooks failed", "systemId", req.SystemID, "error", err)
			}
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// The earliest due check; no probe starts after the deadline.
		earliest := checks[0].NextDue
		for _, c := range checks[1:] {
			if c.NextDue.Before(earliest) {
				earliest = c.NextDue
			}
		}
		if earliest.After(deadline) {
			res.Reason = workflows.SessionEndMaxDuration
			break
		}
		timer.Reset(max(time.Until(earliest), 0))
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-stopping:
			res.Reason = workflows.SessionEndStopping
		case <-run.stop:
			res.Reason = workflows.SessionEndFenced
		case <-timer.C:
		}
		if res.Reason != "" {
			break
		}
		// Probe every due check as one batch (like the entity's batches).
		now := time.Now().UTC()
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
		results, err := s.Prober.Probe(ctx, workflows.ProbeRequest{SystemID: req.SystemID, SystemName: req.SystemName, Probes: items})
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
			res.Pending, res.Reason = results, workflows.SessionEndUrgent
			break
		}
		in := store.PersistInput{SystemID: req.SystemID, Seq: max(seq, 1), At: now,
			Session: &store.SessionFence{ID: req.Session, ExpiresAt: s.expiry(checks, now)}}
		for j, r := range results {
			in.Runs = append(in.Runs, store.RunRecord{ID: r.ID, ConfigurationID: r.ConfigurationID, Status: r.Status,
				LatencyMs: r.LatencyMs, Result: r.Result, Timestamp: r.ExecutedAt})
			in.Checks = append(in.Checks, store.CheckState{ConfigurationID: r.ConfigurationID, Status: folded[j].Status,
				RunsConsidered: min(len(folded[j].Recent), health.MaxWindowRuns)})
			for _, ev := range workflows.SessionHooks(req.SystemID, r) {
				in.Events = append(in.Events, store.EventRecord{Type: ev.Type, Discriminator: ev.Discriminator,
					Payload: ev.Payload, Key: r.ID + ":" + ev.Type})
			}
		}
		if _, err := st.Persist(ctx, in); err != nil {
			res.Pending = results
			if errors.Is(err, store.ErrSessionFenced) {
				res.Reason = workflows.SessionEndFenced
			} else {
				s.logger().Warn("a probe session could not store its runs; the entity stores them", "systemId", req.SystemID, "error", err)
				res.Reason = workflows.SessionEndStoreError
			}
			break
		}
		if h := s.Entity.Hooks.Persisted; h != nil {
			h(workflows.PersistRequest{SystemID: req.SystemID, At: now, Runs: results}, true, time.Now())
		}
		for j, i := range idx {
			checks[i].Recent, checks[i].LastRunAt = folded[j].Recent, folded[j].LastRunAt
			r := results[j]
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
		if len(res.Stored) >= req.MaxRuns {
			res.Reason = workflows.SessionEndMaxRuns
			break
		}
	}
	res.NextDue = nextDue()
	s.logger().Debug("probe session ended", "systemId", req.SystemID, "session", req.Session, "reason", res.Reason,
		"stored", len(res.Stored), "pending", len(res.Pending), "took", time.Since(started).String())
	return res, nil
}

// expiry is when the session's next write is due at the latest: the next due check plus its
// probe's timeout and some slack.
func (s *Sessions) expiry(checks []workflows.SessionCheck, now time.Time) time.Time {
	latest := now
	for _, c := range checks {
		if c.NextDue.After(latest) {
			latest = c.NextDue
		}
	}
	return latest.Add(workflows.ProbeTimeout(checks[0].Config) + sessionExpirySlack)
}

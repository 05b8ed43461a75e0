package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/temporal"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/workflows"
)

// ---- run now ---------------------------------------------------------------------------------
//
// Deadline. A run-now answers within admission + the check's timeout + margin:
// entityclient.DefaultAdmissionTimeout (15 s) for Temporal to accept the run (Temporal down, or
// no worker serving the entity, is a 503 after at most that long), then the check's own hard
// timeout (config.timeout, checks.DefaultExecutionTimeoutMs when absent, at most
// maxRunCheckTimeout) plus DefaultRunMargin (15 s) for the probe, the entity's queue and the
// persist. An HTTP check with timeout 2000 ms answers within 32 s at worst. A run that misses
// the deadline may still complete: repeating the request with the same Idempotency-Key returns
// it.
//
// Duplicates. The run id is "<systemId>:run:<Idempotency-Key>". A request whose run is already
// stored is answered from PostgreSQL with duplicate true, without touching Temporal: the stored
// run, the system's current view and no events (nothing new happened). Two identical requests
// in flight on the same server share one call to the entity: the first answers duplicate
// false with the run's events, the others duplicate true with the same run and view and no
// events. Identical requests racing on different servers both reach Temporal, which dedupes
// the update by id: the check runs once and is stored once, but both may answer duplicate
// false (and the same events).
//
// Concurrency. Temporal admits at most history.maxInFlightUpdates (default 10) updates in
// flight per workflow and rejects the rest with ResourceExhausted, which its client retries
// with exponential backoff (200 ms doubling to several seconds): under many concurrent run-now
// requests on one system, requests were left sleeping in backoff long after a slot had freed.
// This server lets at most maxRunsInFlightPerSystem run-now updates per system be in flight and
// queues the others (within their deadline), so each starts the moment a slot frees.

type runBody struct {
	// Force runs a paused check too.
	Force *bool `json:"force"`
}

// runResponse is the run-check update's answer.
type runResponse struct {
	Run       workflows.CheckResult `json:"run"`
	View      *health.View          `json:"view"`
	Events    []workflows.Event     `json:"events"`
	Duplicate bool                  `json:"duplicate"`
}

// maxIdempotencyKey bounds the Idempotency-Key header (it becomes part of the run id).
const maxIdempotencyKey = 200

// Run-now bounds.
const (
	// DefaultRunMargin is added to the admission timeout and the check's timeout to make a
	// run-now's deadline (the entity's queue, the persist, the answer).
	DefaultRunMargin = 15 * time.Second
	// maxRunCheckTimeout caps the check timeout counted in a run-now's deadline.
	maxRunCheckTimeout = 10 * time.Minute
	// maxRunsInFlightPerSystem bounds this server's run-now updates in flight per system,
	// below Temporal's default limit of 10 in-flight updates per workflow (leaving room for
	// other servers and clients).
	maxRunsInFlightPerSystem = 8
)

func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKey || !utf8.ValidString(k) {
		return false
	}
	for _, r := range k {
		if r < 0x21 || r == 0x7f {
			return false
		}
	}
	return true
}

// checkTimeout is the hard timeout of a stored check configuration (config.timeout in ms, the
// executor's default when absent), capped at maxRunCheckTimeout.
func checkTimeout(config json.RawMessage) time.Duration {
	var c struct {
		Timeout *float64 `json:"timeout"`
	}
	ms := float64(checks.DefaultExecutionTimeoutMs)
	if json.Unmarshal(config, &c) == nil && c.Timeout != nil && *c.Timeout >= 1 {
		ms = *c.Timeout
	}
	return min(time.Duration(ms)*time.Millisecond, maxRunCheckTimeout)
}

// runDeadline is how long a run-now of a check with this stored config may take in all.
func (s *Server) runDeadline(config json.RawMessage) time.Duration {
	return entityclient.DefaultAdmissionTimeout + checkTimeout(config) + s.timeouts.RunMargin
}

// runCheck runs a check now through the system's entity (Update-with-Start); the
// Idempotency-Key header is the update id, so a repeated request returns the same run (see the
// comment at the top of this file for deadlines and duplicates).
func (s *Server) runCheck(c echo.Context) error {
	systemID, checkID, err := assignmentParams(c)
	if err != nil {
		return err
	}
	key := c.Request().Header.Get("Idempotency-Key")
	if key == "" {
		key = uuid.NewString()
	} else if !validIdempotencyKey(key) {
		return invalidField("Idempotency-Key", fmt.Sprintf("must be 1 to %d visible ASCII characters", maxIdempotencyKey))
	}
	var b runBody
	if _, err := decodeJSON(c, &b, true); err != nil {
		return err
	}
	force := b.Force != nil && *b.Force
	// The database reads before the run are bounded like any request.
	dbCtx, cancel := context.WithTimeout(c.Request().Context(), s.timeouts.Request)
	defer cancel()
	if done, err := s.answerStoredRun(dbCtx, c, systemID, checkID, key); done || err != nil {
		return err
	}
	a, err := s.store.GetAssignment(dbCtx, systemID, checkID)
	if errors.Is(err, store.ErrNotFound) {
		return notFoundProblem(fmt.Sprintf("check %s is not assigned to system %s", checkID, systemID))
	}
	if err != nil {
		return err
	}
	if !a.Enabled {
		return conflictProblem(fmt.Sprintf("check %s is disabled for system %s; enable the assignment to run it", checkID, systemID))
	}
	cfg, err := s.store.GetConfiguration(dbCtx, a.ConfigurationID)
	if err != nil {
		return err
	}
	if cfg.Paused && !force {
		return conflictProblem(fmt.Sprintf("check %s is paused; send {\"force\": true} to run it anyway", checkID))
	}
	if s.isHeartbeat(cfg.StrategyID) {
		return conflictProblem(fmt.Sprintf("check %s is a heartbeat check: it is not run, it waits for its job's pings (POST /api/v1/ping/{pingToken})", checkID))
	}
	if s.entities == nil {
		return unavailable(ProblemUnavailable, "no Temporal client is configured", entityRetryAfter)
	}
	c.Response().Header().Set("Idempotency-Key", key)
	deadline := s.runDeadline(cfg.Config)
	ctx, cancelRun := context.WithTimeout(c.Request().Context(), deadline)
	defer cancelRun()
	resp, duplicate, err := s.runThroughEntity(ctx, systemID, key, workflows.RunCheckRequest{ConfigurationID: a.ConfigurationID, Force: force})
	if err != nil {
		return s.runProblem(ctx, systemID, a.ConfigurationID, deadline, err)
	}
	duplicate = duplicate || resp.Duplicate
	if resp.Events == nil || duplicate {
		resp.Events = []workflows.Event{} // a duplicate request caused no event
	}
	// PostgreSQL keeps microseconds: answer the executedAt that GET /runs/{runId} and a
	// repeated request show.
	resp.Run.ExecutedAt = resp.Run.ExecutedAt.Truncate(time.Microsecond)
	return c.JSON(http.StatusOK, runResponse{Run: resp.Run, View: resp.View, Events: resp.Events, Duplicate: duplicate})
}

// answerStoredRun answers a repeated run-now from PostgreSQL when its run is already stored
// (duplicate true: the stored run, the current view, no events); done reports whether it
// answered. A key already used for another check of the system is a 409.
func (s *Server) answerStoredRun(ctx context.Context, c echo.Context, systemID, checkID, key string) (done bool, err error) {
	r, err := s.store.GetRun(ctx, store.RunNowRunID(systemID, key))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	if !strings.EqualFold(r.ConfigurationID, checkID) {
		return true, conflictProblem(fmt.Sprintf("Idempotency-Key %q was already used for check %s of system %s; use a new key for another check", key, r.ConfigurationID, systemID))
	}
	var view *health.View
	v, err := s.store.GetView(ctx, systemID)
	switch {
	case err == nil:
		view = &v.View
	case !errors.Is(err, store.ErrNotFound):
		return true, err
	}
	run := workflows.CheckResult{ID: r.ID, ConfigurationID: r.ConfigurationID, Status: r.Status, LatencyMs: r.LatencyMs,
		Result: r.Result, ExecutedAt: r.Timestamp, SourceID: r.SourceID, SourceLabel: r.SourceLabel}
	var res struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(r.Result, &res) == nil {
		run.Message = res.Message
	}
	c.Response().Header().Set("Idempotency-Key", key)
	return true, c.JSON(http.StatusOK, runResponse{Run: run, View: view, Events: []workflows.Event{}, Duplicate: true})
}

// runThroughEntity runs the check through the entity, sharing one call among identical
// requests in flight on this server (the followers' answer is a duplicate) and queueing
// behind the system's in-flight limit.
func (s *Server) runThroughEntity(ctx context.Context, systemID, key string, req workflows.RunCheckRequest) (workflows.RunCheckResponse, bool, error) {
	runID := store.RunNowRunID(systemID, key)
	for {
		call, leader := s.runGate.join(runID)
		if leader {
			resp, err := s.runLimited(ctx, systemID, key, req)
			s.runGate.finish(runID, call, resp, err)
			return resp, false, err
		}
		select {
		case <-call.done:
			if call.err == nil {
				return call.resp, true, nil
			}
			// The first request failed (its client may have gone away): try ourselves.
		case <-ctx.Done():
			return workflows.RunCheckResponse{}, false, ctx.Err()
		}
	}
}

// runLimited calls the entity once a run-now slot of the system is free.
func (s *Server) runLimited(ctx context.Context, systemID, key string, req workflows.RunCheckRequest) (workflows.RunCheckResponse, error) {
	release, err := s.runGate.acquire(ctx, systemID)
	if err != nil {
		return workflows.RunCheckResponse{}, fmt.Errorf("wait for a run-now slot of system %s: %w", systemID, err)
	}
	defer release()
	return s.entities.RunCheck(ctx, systemID, key, req)
}

// runProblem maps a failed run-now to its answer: the entity's typed rejections are 409s, a
// client that went away gets nothing, anything else (Temporal unreachable, no worker, the
// deadline passed) is a 503 entity-unreachable with Retry-After.
func (s *Server) runProblem(ctx context.Context, systemID, configurationID string, deadline time.Duration, err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && (app.Type() == workflows.ErrTypeCheckNotEnabled || app.Type() == workflows.ErrTypeCheckPaused) {
		return conflictProblem(fmt.Sprintf("the health entity of system %s did not accept the run: %s", systemID, app.Message()))
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	s.log.Warn("run-now failed", "systemId", systemID, "configurationId", configurationID, "deadline", deadline, "err", err)
	switch {
	case errors.Is(err, entityclient.ErrNotAccepted):
		return unavailable(ProblemEntityUnreachable, fmt.Sprintf(
			"the health entity of system %s did not accept the run: Temporal is unreachable or refused it, or no worker served the entity in time; try again",
			systemID), entityRetryAfter)
	case ctx.Err() != nil:
		return unavailable(ProblemEntityUnreachable, fmt.Sprintf(
			"the run did not complete within %v; it may still complete: repeat the request with the same Idempotency-Key to get its result",
			deadline), entityRetryAfter)
	}
	return unavailable(ProblemEntityUnreachable, "the health entity could not run the check; try again", entityRetryAfter)
}

// runGate coordinates this server's run-now requests: identical requests (one run id) in
// flight share one call, and each system has at most maxRunsInFlightPerSystem calls in flight.
type runGate struct {
	mu       sync.Mutex
	calls    map[string]*runCall
	systems  map[string]*systemSlots
	perLimit int
	// onFollow, when set (tests), is called when a request joins a call in flight.
	onFollow func(runID string)
}

// runCall is one call to the entity that identical requests wait for.
type runCall struct {
	done chan struct{}
	resp workflows.RunCheckResponse
	err  error
}

// systemSlots are the run-now slots of one system; the entry lives while someone uses it.
type systemSlots struct {
	sem   chan struct{}
	users int
}

func newRunGate() *runGate {
	return &runGate{calls: map[string]*runCall{}, systems: map[string]*systemSlots{}, perLimit: maxRunsInFlightPerSystem}
}

// join returns the call in flight for runID, or registers a new one that the caller (the
// leader) must finish.
func (g *runGate) join(runID string) (call *runCall, leader bool) {
	g.mu.Lock()
	c, ok := g.calls[runID]
	if !ok {
		c = &runCall{done: make(chan struct{})}
		g.calls[runID] = c
	}
	g.mu.Unlock()
	if ok && g.onFollow != nil {
		g.onFollow(runID)
	}
	return c, !ok
}

// finish publishes the leader's outcome and forgets the call (a later request looks the run up
// in PostgreSQL or starts a new call).
func (g *runGate) finish(runID string, c *runCall, resp workflows.RunCheckResponse, err error) {
	g.mu.Lock()
	delete(g.calls, runID)
	g.mu.Unlock()
	c.resp, c.err = resp, err
	close(c.done)
}

// acquire takes one of the system's run-now slots, waiting until one is free or ctx ends.
func (g *runGate) acquire(ctx context.Context, systemID string) (release func(), err error) {
	g.mu.Lock()
	sl, ok := g.systems[systemID]
	if !ok {
		sl = &systemSlots{sem: make(chan struct{}, g.perLimit)}
		g.systems[systemID] = sl
	}
	sl.users++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		sl.users--
		if sl.users == 0 {
			delete(g.systems, systemID)
		}
		g.mu.Unlock()
	}
	select {
	case sl.sem <- struct{}{}:
		return func() { <-sl.sem; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}
